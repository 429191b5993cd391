"""IPv4 and IPv6 fragment reassembly.

Fragmented datagrams are rare in app traffic but real (large DNS answers,
some VPNs), and a request split across fragments must not be missed. A
capture can also hold a flood of fragments that never complete, so state is
bounded by count, bytes and capture time, and every datagram given up on is
counted for the caller to report.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["FragmentReassembler"]

_FragKey = tuple[bytes, bytes, int, int]


class _Pending:
    """Fragments received so far for one datagram."""

    __slots__ = ("first_ts", "frags", "nbytes", "total")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.total = -1  # payload length, known once the last fragment arrives
        self.nbytes = 0
        self.frags: list[tuple[int, bytes]] = []


class FragmentReassembler:
    """Rebuilds IP payloads from fragments keyed by (src, dst, id, proto).

    Overlapping fragments keep the bytes seen first, the rule most stacks use
    and the one that makes a retransmitted fragment harmless.
    """

    def __init__(
        self,
        max_pending: int = 4096,
        max_size: int = 65535,
        timeout: float = 30.0,
        max_bytes: int = 64 << 20,
        max_fragments: int = 1024,
    ) -> None:
        self.max_pending = max_pending
        self.max_size = max_size
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        # Oldest first. OrderedDict, not dict: its front is taken over and over, and
        # a dict's next(iter()) walks the holes its deletions left.
        self._pending: OrderedDict[_FragKey, _Pending] = OrderedDict()
        self._bytes = 0
        self.completed = 0
        # Every datagram given up on, whatever the reason, so one number can be
        # reported; the counters below break it down.
        self.evicted = 0
        self.crowded_out = 0  # dropped to stay under max_pending / max_bytes
        self.timed_out = 0  # incomplete after ``timeout`` seconds of capture time
        self.invalid = 0  # oversize, too many pieces, or inconsistent ends

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def add(
        self,
        src: bytes,
        dst: bytes,
        ident: int,
        proto: int,
        offset: int,
        more: bool,
        data: bytes | memoryview,
        ts: float,
    ) -> bytes | None:
        """Take one fragment; return the whole payload once every byte has arrived."""
        pending = self._pending
        if pending:
            self._expire(ts)
        key = (src, dst, ident, proto)
        size = len(data)
        end = offset + size
        entry = pending.get(key)
        if end > self.max_size:
            self._give_up_invalid(key, entry)
            return None
        if entry is None:
            if not more and offset == 0:
                return bytes(data)  # not actually fragmented
            if len(pending) >= self.max_pending:
                self._evict_oldest()
            entry = _Pending(ts)
            pending[key] = entry
        if not more:
            if (entry.total >= 0 and entry.total != end) or any(
                s + len(d) > end for s, d in entry.frags
            ):
                self._give_up_invalid(key, entry)
                return None
            entry.total = end
        elif entry.total >= 0 and end > entry.total:
            self._give_up_invalid(key, entry)
            return None
        if len(entry.frags) >= self.max_fragments:
            self._give_up_invalid(key, entry)
            return None
        entry.frags.append((offset, bytes(data)))
        entry.nbytes += size
        self._bytes += size
        while self._bytes > self.max_bytes and pending:
            self._evict_oldest()
        if entry.total < 0 or key not in pending:
            return None
        return self._complete(key, entry)

    def _complete(self, key: _FragKey, entry: _Pending) -> bytes | None:
        total = entry.total
        covered = 0
        for start, data in sorted(entry.frags, key=lambda f: f[0]):
            if start > covered:
                return None
            covered = max(covered, start + len(data))
            if covered >= total:
                break
        if covered < total:
            return None
        out = bytearray(total)
        # Later arrivals first, so the bytes seen first overwrite them.
        for start, data in reversed(entry.frags):
            out[start : start + len(data)] = data
        self._drop(key, entry)
        self.completed += 1
        return bytes(out)

    def _drop(self, key: _FragKey, entry: _Pending) -> None:
        del self._pending[key]
        self._bytes -= entry.nbytes

    def _give_up_invalid(self, key: _FragKey, entry: _Pending | None) -> None:
        self.invalid += 1
        self.evicted += 1
        if entry is not None:
            self._drop(key, entry)

    def _evict_oldest(self) -> None:
        key = next(iter(self._pending))
        self._drop(key, self._pending[key])
        self.crowded_out += 1
        self.evicted += 1

    def _expire(self, now: float) -> None:
        """Drop datagrams older than the timeout; insertion order approximates age."""
        pending = self._pending
        limit = now - self.timeout
        while pending:
            key = next(iter(pending))
            entry = pending[key]
            if entry.first_ts >= limit:
                break
            self._drop(key, entry)
            self.timed_out += 1
            self.evicted += 1
