"""In-order byte stream for one direction of a TCP connection.

Captures are imperfect: segments arrive out of order, twice, overlapping, or
not at all, and many captures start mid-connection. Decoders downstream need
the bytes in order and need to know where bytes are missing, so this keeps a
small buffer of out-of-order segments, delivers what is contiguous, and when
a hole cannot be filled (buffer bound hit, the peer acknowledged past it, or
the flow ended) skips it and records its size instead of stalling.

Sequence numbers are mapped onto an unbounded stream offset (``_pos``) so
wraparound at 2**32 needs no special cases after the mapping.
"""

from __future__ import annotations

from bisect import bisect_right, insort

__all__ = ["StreamReassembler"]

_MASK = 0xFFFFFFFF
_HALF = 1 << 31


class StreamReassembler:
    """Reassembles one direction; sans-IO, fed segment by segment.

    Ready data comes out of ``read()`` (or ``read_parts()``, which also marks
    where holes were skipped). Without a SYN the start of the stream is
    unknown, so data is held until the order is evident: a later segment
    follows the held run, the peer acknowledges it, the buffer bound is hit,
    or the stream is flushed.
    """

    __slots__ = (
        "_acked",
        "_anchored",
        "_fin",
        "_out",
        "_pos",
        "_segs",
        "_seq",
        "_started",
        "_starts",
        "buffered",
        "gaps",
        "max_buffer",
    )

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        self.max_buffer = max_buffer
        self.gaps = 0  # total bytes of holes skipped so far
        self._anchored = False  # a sequence number has been seen, so offsets mean something
        self._started = False  # the start of the stream is settled and data flows out
        self._seq = 0  # sequence number of the byte at stream offset ``_pos``
        self._pos = 0  # stream offset of the next byte to deliver
        self._starts: list[int] = []  # sorted offsets of buffered, non-overlapping segments
        self._segs: dict[int, bytes] = {}
        # Bytes held out of order, or until the stream start is settled (read-only outside).
        self.buffered = 0
        self._out: list[bytes | int] = []  # ready for reading; an int is a skipped hole
        self._fin: int | None = None  # stream offset where the sender's FIN sits
        self._acked: int | None = None  # highest stream offset the peer acknowledged

    # -- state the flow table looks at -----------------------------------------

    @property
    def ready(self) -> bool:
        """True when ``read()`` has something (data or a skipped hole) to hand out."""
        return bool(self._out)

    @property
    def started(self) -> bool:
        """True once the start of the stream is settled: from then on a segment
        without data or flags changes nothing here."""
        return self._started

    @property
    def holding(self) -> bool:
        """True while data waits for the start of the stream to be settled."""
        return not self._started and self.buffered > 0

    @property
    def finished(self) -> bool:
        """True once everything up to the sender's FIN has been delivered."""
        return self._fin is not None and self._started and self._pos >= self._fin

    # -- input --------------------------------------------------------------------

    def _offset(self, seq: int) -> int:
        return self._pos + (((seq - self._seq + _HALF) & _MASK) - _HALF)

    def _move_to(self, pos: int) -> None:
        self._seq = (self._seq + (pos - self._pos)) & _MASK
        self._pos = pos

    def add(
        self, seq: int, payload: bytes | memoryview, syn: bool = False, fin: bool = False
    ) -> None:
        """Take one segment (empty ones too: their sequence number helps settle the order)."""
        if syn:
            seq = (seq + 1) & _MASK  # the SYN takes one sequence number; data follows it
            if not self._started:
                if self._anchored:
                    start = self._offset(seq)
                    self._drop_below(start)
                    self._move_to(start)
                else:
                    self._seq = seq
                    self._pos = 0
                    self._anchored = True
                self._started = True
        elif not self._anchored:
            self._seq = seq
            self._pos = 0
            self._anchored = True
        n = len(payload)
        start = self._offset(seq)
        if fin and self._fin is None:
            self._fin = start + n
        if not n:
            if not self._started and self.buffered and start >= self._run_end():
                self._commit()
            return
        if type(payload) is not bytes:
            payload = bytes(payload)
        end = start + n
        if self._fin is not None and end > self._fin:
            if start >= self._fin:
                return
            payload = payload[: self._fin - start]
            end = self._fin
        if self._started:
            pos = self._pos
            if start == pos and not self._starts:
                self._out.append(payload)
                self._pos = end
                self._seq = (self._seq + n) & _MASK
                return
            if end <= pos:
                return  # retransmission of delivered bytes
            if start < pos:
                payload = payload[pos - start :]
                start = pos
            self._insert(start, payload)
            self._deliver()
            if self._starts and (
                self.buffered > self.max_buffer
                or (self._acked is not None and self._starts[0] <= self._acked)
            ):
                self._skip_holes()
        else:
            run_end = self._run_end() if self.buffered else None
            self._insert(start, payload)
            if (run_end is not None and start >= run_end) or self.buffered > self.max_buffer:
                self._commit()

    def acked(self, ack: int) -> None:
        """Note the peer's acknowledgement number for this direction.

        Bytes the peer acknowledged were sent, so a hole below that point is
        a capture loss that no retransmission will fill: skip it now. It also
        settles the start of a stream seen without its SYN.
        """
        if not self._anchored:
            return
        pos = self._offset(ack)
        if self._acked is None or pos > self._acked:
            self._acked = pos
        if not self._starts:
            return
        if not self._started:
            if pos >= self._run_end():
                self._commit()
        elif self._starts[0] <= pos:
            self._skip_holes()

    # -- buffer management ----------------------------------------------------------

    def _run_end(self) -> int:
        """End offset of the contiguous run starting at the lowest buffered segment."""
        segs = self._segs
        end = self._starts[0]
        for start in self._starts:
            if start > end:
                break
            end = start + len(segs[start])
        return end

    def _insert(self, start: int, data: bytes) -> None:
        """Buffer a segment, keeping only the bytes no buffered segment already has."""
        starts = self._starts
        segs = self._segs
        end = start + len(data)
        i = bisect_right(starts, start) - 1
        cur = start
        if i >= 0:
            prev = starts[i]
            prev_end = prev + len(segs[prev])
            if prev_end > cur:
                cur = prev_end
        i += 1
        pieces: list[tuple[int, bytes]] = []
        while cur < end:
            if i < len(starts) and starts[i] < end:
                s = starts[i]
                if s > cur:
                    pieces.append((cur, data[cur - start : s - start]))
                seg_end = s + len(segs[s])
                if seg_end > cur:
                    cur = seg_end
                i += 1
            else:
                pieces.append((cur, data[cur - start :]))
                break
        for s, piece in pieces:
            insort(starts, s)
            segs[s] = piece
            self.buffered += len(piece)

    def _deliver(self) -> None:
        starts = self._starts
        if not starts or starts[0] != self._pos:
            return
        segs = self._segs
        out = self._out
        pos = self._pos
        while starts and starts[0] == pos:
            piece = segs.pop(starts.pop(0))
            out.append(piece)
            pos += len(piece)
            self.buffered -= len(piece)
        self._move_to(pos)

    def _drop_below(self, pos: int) -> None:
        """Forget buffered bytes before ``pos`` (they precede the stream's real start)."""
        starts = self._starts
        segs = self._segs
        while starts and starts[0] < pos:
            s = starts.pop(0)
            piece = segs.pop(s)
            self.buffered -= len(piece)
            if s + len(piece) > pos:
                tail = piece[pos - s :]
                insort(starts, pos)
                segs[pos] = tail
                self.buffered += len(tail)
                break

    def _commit(self) -> None:
        """Settle the stream start at the lowest buffered byte and release the run."""
        self._started = True
        if self._starts:
            self._move_to(self._starts[0])
        self._deliver()
        if self.buffered > self.max_buffer:
            self._skip_holes()

    def _skip_holes(self) -> None:
        """Skip holes while over the buffer bound or below the peer's acknowledgement."""
        starts = self._starts
        while starts and (
            self.buffered > self.max_buffer
            or (self._acked is not None and starts[0] <= self._acked)
        ):
            self._skip_to(starts[0])
            self._deliver()

    def _skip_to(self, pos: int) -> None:
        hole = pos - self._pos
        if hole > 0:
            self.gaps += hole
            self._out.append(hole)
            self._move_to(pos)

    # -- output ----------------------------------------------------------------

    def read(self) -> bytes:
        """Contiguous bytes now available, in order (holes already skipped are left out)."""
        out = self._out
        if not out:
            return b""
        if len(out) == 1:
            first = out[0]
            out.clear()
            return first if type(first) is bytes else b""
        data = b"".join([p for p in out if type(p) is bytes])
        out.clear()
        return data

    def read_parts(self) -> list[bytes | int]:
        """Ready data as runs of bytes, with an int (hole size) wherever a hole was skipped."""
        out = self._out
        if len(out) <= 1:
            parts = out[:]
            out.clear()
            return parts
        parts = []
        run: list[bytes] = []
        for p in out:
            if type(p) is bytes:
                run.append(p)
            else:
                if run:
                    parts.append(b"".join(run))
                    run = []
                parts.append(p)
        if run:
            parts.append(b"".join(run))
        out.clear()
        return parts

    def flush_parts(self) -> list[bytes | int]:
        """Everything buffered, holes skipped and marked; used at flow end."""
        if not self._started:
            if not self._starts:
                return self.read_parts()
            self._commit()
        starts = self._starts
        while starts:
            self._skip_to(starts[0])
            self._deliver()
        # Bytes sent (the FIN, or failing that the peer's ACK, says so) but never captured.
        tail = self._fin if self._fin is not None else self._acked
        if tail is not None and 0 < tail - self._pos < _HALF:
            self._skip_to(tail)
        return self.read_parts()

    def flush(self) -> tuple[bytes, int]:
        """Return all buffered bytes with holes skipped, and how many hole bytes were skipped."""
        parts = self.flush_parts()
        data = b"".join([p for p in parts if type(p) is bytes])
        hole = sum(p for p in parts if type(p) is int)
        return data, hole
