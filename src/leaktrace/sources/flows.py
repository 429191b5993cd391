"""The flow table: packets in, per-flow in-order data events out.

Each TCP or UDP connection becomes one ``FlowState``, oriented so that
``orig`` is the device (client) side, because leaktrace cares about what the
device sends. Client-to-server TCP bytes are always reassembled;
server-to-client bytes only when the consumer asks (``want_resp``), since
downloads are most of a capture's volume and rarely matter here.

Memory is bounded by an idle timeout and a flow count, both in capture time
and both announced: a flow closed for either reason still delivers its
buffered data, then a ``FlowClosed`` saying why.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from leaktrace.flowid import community_id
from leaktrace.sources.packets import Packet
from leaktrace.sources.tcp import StreamReassembler
from leaktrace.types import Diagnostic, FlowKey

__all__ = [
    "SERVER_PORTS",
    "FlowClosed",
    "FlowData",
    "FlowEvent",
    "FlowState",
    "FlowTable",
]

_TCP = 6
_UDP = 17
_FIN = 0x01
_SYN = 0x02
_RST = 0x04
_ACK = 0x10

# Ports that mark the server side when the handshake was not captured
# (besides every port below 1024).
SERVER_PORTS = frozenset({53, 80, 443, 853, 8080, 8443, 1883, 8883, 5223, 5224, 19000})

_Tuple = tuple[str, int, str, int, int]

# Returned when a packet causes no events; an exhausted iterator can be shared.
_NO_EVENTS: Iterator[FlowEvent] = iter(())


@dataclass(slots=True, eq=False)
class FlowState:
    """One connection's bookkeeping; ``context`` belongs to the consumer.

    Byte counts are transport payload bytes seen on the wire per direction,
    retransmissions included.
    """

    key: FlowKey
    first_ts: float
    last_ts: float
    want_resp: bool = False
    context: object | None = None
    orig_bytes: int = 0
    resp_bytes: int = 0
    frames: int = 0
    _orig: StreamReassembler | None = field(default=None, repr=False)
    # Until the client sends data, only what settles its stream start is kept
    # (see _client_stream): most flows of a SYN flood never need a reassembler.
    _pre: tuple[tuple[int, bool], ...] = field(default=(), repr=False)
    _resp: StreamReassembler | None = field(default=None, repr=False)
    _fin_orig: bool = field(default=False, repr=False)
    _fin_resp: bool = field(default=False, repr=False)
    _tuples: tuple[_Tuple, _Tuple] | None = field(default=None, repr=False)
    _bulk_key: bytes | None = field(default=None, repr=False)  # key in FlowTable.bulk
    _ack_key: bytes | None = field(default=None, repr=False)  # key in FlowTable.client_acks
    _last_frame: int = field(default=0, repr=False)
    _seen: int = field(default=0, repr=False)  # table packet count at the last packet
    _mark: int = field(default=0, repr=False)  # table packet count when last queued for LRU
    _cid: str | None = field(default=None, repr=False)

    @property
    def community_id(self) -> str:
        """The flow's Community ID, made when first asked for: a flow that never
        carries data (a SYN flood's) never needs one."""
        cid = self._cid
        if cid is None:
            key = self.key
            cid = community_id(key.orig_h, key.orig_p, key.resp_h, key.resp_p, key.proto)
            self._cid = cid
        return cid

    @property
    def held_bytes(self) -> int:
        """Bytes the table keeps for this flow: data out of order, or waiting for its
        stream's start to be settled."""
        held = 0
        if self._orig is not None:
            held += self._orig.buffered
        if self._resp is not None:
            held += self._resp.buffered
        return held


@dataclass(slots=True)
class FlowData:
    """In-order bytes of one direction; ``ts``/``frame`` are of the packet that completed them."""

    flow: FlowState
    is_orig: bool
    data: bytes
    ts: float
    frame: int


@dataclass(slots=True)
class FlowClosed:
    """The flow is gone from the table; all its data has been delivered before this."""

    flow: FlowState
    reason: str  # "fin", "rst", "idle", "evicted", "memory", "end"


FlowEvent = FlowData | FlowClosed | Diagnostic


def _raw_key(src: str, sport: int, dst: str, dport: int) -> bytes | None:
    """TCP over IPv4 as bytes 9..10 and 12..24 of an option-less IP header plus TCP ports."""
    try:
        return b"\x06" + socket.inet_aton(src) + socket.inet_aton(dst) + _PORTS.pack(sport, dport)
    except OSError:
        return None


_PORTS = struct.Struct("!HH")


def is_server_port(port: int) -> bool:
    """A port servers listen on: below 1024, or a known service port above."""
    return port < 1024 or port in SERVER_PORTS


def _sender_is_orig(pkt: Packet) -> bool:
    """Guess whether the sender of the first packet seen is the client."""
    if pkt.proto == _TCP and pkt.flags & _SYN:
        return not pkt.flags & _ACK
    src_server = is_server_port(pkt.sport)
    dst_server = is_server_port(pkt.dport)
    if src_server != dst_server:
        return dst_server
    return True


class FlowTable:
    """Turns decoded packets into ``FlowData``, ``FlowClosed`` and ``Diagnostic`` events.

    Times are capture times, so results do not depend on how fast the file is read.
    """

    def __init__(
        self,
        idle_timeout: float = 300.0,
        max_flows: int = 100_000,
        *,
        max_buffer: int = 1 << 20,
        want_resp: bool = False,
        sweep_every: int = 4096,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_flows = max(1, max_flows)
        self.max_buffer = max_buffer
        self.want_resp = want_resp  # default for new flows
        self.sweep_every = max(1, sweep_every)
        self._index: dict[_Tuple, tuple[FlowState, bool]] = {}
        # Oldest first, for idle and LRU checks. OrderedDict, not dict: a dict whose
        # front is deleted over and over makes next(iter()) walk the holes left behind.
        self._flows: OrderedDict[FlowState, None] = OrderedDict()
        # Recently closed TCP 5-tuples: stray ACKs and retransmissions after
        # FIN/RST must not open phantom flows; a new SYN may. With the close time
        # and the raw key in ``closed_raw``, if any.
        self._closed: OrderedDict[_Tuple, tuple[float, bytes | None]] = OrderedDict()
        self._count = 0
        self._next_sweep_count = self.sweep_every
        self._next_sweep_ts = float("-inf")
        # Server-to-client IPv4 TCP directions by their raw header bytes (protocol,
        # source and destination address, ports, as in the IP and TCP headers), so a
        # reader can find the flow of a download segment without decoding the frame
        # and hand it to ``feed_response``.
        self.bulk: dict[bytes, FlowState] = {}
        # The client-to-server directions, by the same raw bytes, of flows where a
        # client segment without data or SYN/FIN/RST (an ACK of the handshake or of
        # the download) changes only counters: the client stream's start is settled,
        # or nothing but its anchor has been seen. A reader may account such a
        # segment without decoding, as ``feed`` would (see sources/_skim.c).
        self.client_acks: dict[bytes, FlowState] = {}
        # The IPv4 TCP directions among the recently closed 5-tuples, by the same raw
        # bytes: a segment there without data that is not a new SYN is dropped
        # after counting, so a reader may drop it without decoding.
        self.closed_raw: dict[bytes, None] = {}
        self.flows_opened = 0
        self.evicted = 0  # closed because max_flows was reached
        self.shed_flows = 0  # closed by ``shed`` (the reader's memory bound)
        self.timed_out = 0  # closed after idle_timeout

    def __len__(self) -> int:
        return len(self._flows)

    # -- input ---------------------------------------------------------------------

    def feed(self, pkt: Packet, ts: float, frame: int) -> Iterator[FlowEvent]:
        """Account one packet; return the events it causes, in order."""
        self._count = count = self._count + 1
        proto = pkt.proto
        entry = self._index.get((pkt.src, pkt.sport, pkt.dst, pkt.dport, proto))
        events: list[FlowEvent] = []
        if count >= self._next_sweep_count:
            self._next_sweep_count = count + self.sweep_every
            if ts >= self._next_sweep_ts:
                self._next_sweep_ts = ts + self.idle_timeout / 8
                self._sweep(ts, events)
                entry = self._index.get((pkt.src, pkt.sport, pkt.dst, pkt.dport, proto))
        if entry is not None and proto == _TCP:
            flow, is_orig = entry
            if not is_orig and not flow.want_resp and not pkt.flags & (_FIN | _RST):
                # Fast path for the bulk of a capture: server-to-client segments
                # nobody asked to reassemble. Only their ACK can matter (a SYN
                # starts the server's stream, which nobody reads).
                self._response(flow, len(pkt.payload), pkt.ack, pkt.flags, ts, frame, events)
                return iter(events) if events else _NO_EVENTS
        if proto != _TCP and proto != _UDP:
            return iter(events)
        if entry is None:
            tup = (pkt.src, pkt.sport, pkt.dst, pkt.dport, proto)
            if proto == _TCP and tup in self._closed and pkt.flags & (_SYN | _ACK) != _SYN:
                # Only a new SYN may reopen a closed 5-tuple.
                if pkt.payload:
                    events.append(
                        Diagnostic(
                            name="tcp_data_after_close",
                            detail=f"{len(pkt.payload)} bytes after the connection closed",
                            ts=ts,
                            flow=community_id(pkt.src, pkt.sport, pkt.dst, pkt.dport, proto),
                        )
                    )
                return iter(events)
            flow, is_orig = self._open(pkt, tup, ts, events)
        else:
            flow, is_orig = entry
        if ts > flow.last_ts:
            flow.last_ts = ts
        flow.frames += 1
        flow._seen = count
        flow._last_frame = frame
        payload = pkt.payload
        if proto == _UDP:
            if is_orig:
                flow.orig_bytes += len(payload)
            else:
                flow.resp_bytes += len(payload)
            if payload:
                data = payload if type(payload) is bytes else bytes(payload)
                events.append(FlowData(flow, is_orig, data, ts, frame))
            return iter(events)
        self._tcp(flow, is_orig, pkt, ts, frame, events)
        return iter(events)

    def feed_response(
        self, flow: FlowState, size: int, ack: int, flags: int, ts: float, frame: int
    ) -> Iterator[FlowEvent] | None:
        """``feed`` for a server-to-client segment of ``size`` payload bytes found
        through ``bulk``, for a caller that skipped decoding its frame; the same
        bookkeeping as feed's own fast path. None when the full ``feed`` must run
        (a sweep is due, the consumer wants the server's bytes, FIN/RST)."""
        count = self._count + 1
        if count >= self._next_sweep_count or flow.want_resp or flags & (_FIN | _RST):
            return None
        self._count = count
        events: list[FlowEvent] = []
        self._response(flow, size, ack, flags, ts, frame, events)
        return iter(events) if events else _NO_EVENTS

    def _response(
        self,
        flow: FlowState,
        size: int,
        ack: int,
        flags: int,
        ts: float,
        frame: int,
        events: list[FlowEvent],
    ) -> None:
        """Account a server-to-client segment nobody reassembles: only its ACK can matter."""
        flow.resp_bytes += size
        flow.frames += 1
        flow._seen = self._count
        flow._last_frame = frame
        if ts > flow.last_ts:
            flow.last_ts = ts
        orig = flow._orig
        if orig is not None and orig.buffered and flags & _ACK:
            orig.acked(ack)
            self._drain(flow, orig, True, ts, frame, events)

    def _tcp(
        self,
        flow: FlowState,
        is_orig: bool,
        pkt: Packet,
        ts: float,
        frame: int,
        events: list[FlowEvent],
    ) -> None:
        flags = pkt.flags
        payload = pkt.payload
        if is_orig and flags & (_SYN | _ACK) == _SYN and (flow._fin_orig or flow._fin_resp):
            # The 5-tuple is being reused for a new connection.
            self._close(flow, "fin", ts, frame, events)
            tup = (pkt.src, pkt.sport, pkt.dst, pkt.dport, _TCP)
            flow, is_orig = self._open(pkt, tup, ts, events)
            flow.frames = 1
            flow._seen = self._count
            flow._last_frame = frame
        want_resp = flow.want_resp
        if is_orig:
            flow.orig_bytes += len(payload)
            mine = flow._orig
            if mine is None:
                mine = self._client_stream(flow, pkt.seq, flags, payload)
            elif mine.started:
                self._acks_settled(flow, True)
            peer = flow._resp if want_resp else None
        else:
            flow.resp_bytes += len(payload)
            peer = flow._orig
            mine = flow._resp
            if want_resp:
                if mine is None:
                    mine = flow._resp = StreamReassembler(self.max_buffer)
            else:
                mine = None
        # The peer's data acknowledged here was sent before this packet: release it first.
        if flags & _ACK and peer is not None and peer.buffered:
            peer.acked(pkt.ack)
            self._drain(flow, peer, not is_orig, ts, frame, events)
        if mine is not None:
            mine.add(pkt.seq, payload, bool(flags & _SYN), bool(flags & _FIN))
            if mine.ready:
                parts = mine.read_parts()
                if len(parts) == 1 and isinstance(parts[0], bytes):
                    events.append(FlowData(flow, is_orig, parts[0], ts, frame))
                else:
                    self._emit(flow, parts, is_orig, ts, frame, events)
        if flags & _RST:
            self._close(flow, "rst", ts, frame, events)
            return
        if flags & _FIN:
            if is_orig:
                flow._fin_orig = True
            else:
                flow._fin_resp = True
            if flow._fin_orig and flow._fin_resp:
                self._close(flow, "fin", ts, frame, events)

    def _client_stream(
        self, flow: FlowState, seq: int, flags: int, payload: bytes | memoryview
    ) -> StreamReassembler | None:
        """The client's reassembler, made when it first has data or a FIN to take.

        Before that, segments without data can change a reassembler in two ways
        only: the first segment anchors the sequence numbers, and the first SYN
        starts the stream (later ones are ignored). Those are remembered and
        replayed, so the result is the same as feeding every segment.
        """
        if payload or flags & _FIN:
            stream = flow._orig = StreamReassembler(self.max_buffer)
            for pre_seq, syn in flow._pre:
                stream.add(pre_seq, b"", syn)
            flow._pre = ()
            # Held data (no SYN seen yet) may be released by a bare ACK of the client.
            self._acks_settled(flow, stream.started)
            return stream
        pre = flow._pre
        syn = bool(flags & _SYN)
        if not pre or (syn and not any(s for _, s in pre)):
            flow._pre = (*pre, (seq, syn))
        # The stream's anchor is kept: a later bare ACK would change nothing.
        self._acks_settled(flow, True)
        return None

    def _acks_settled(self, flow: FlowState, settled: bool) -> None:
        """Say whether a client segment without data or SYN/FIN/RST would change only
        the flow's counters (see ``client_acks``)."""
        key = flow._ack_key
        if key is None:
            return
        if settled:
            self.client_acks[key] = flow
        else:
            self.client_acks.pop(key, None)

    def _drain(
        self,
        flow: FlowState,
        stream: StreamReassembler,
        is_orig: bool,
        ts: float,
        frame: int,
        events: list[FlowEvent],
        flush: bool = False,
    ) -> None:
        parts = stream.flush_parts() if flush else stream.read_parts()
        self._emit(flow, parts, is_orig, ts, frame, events)

    @staticmethod
    def _emit(
        flow: FlowState,
        parts: list[bytes | int],
        is_orig: bool,
        ts: float,
        frame: int,
        events: list[FlowEvent],
    ) -> None:
        for part in parts:
            if isinstance(part, bytes):
                events.append(FlowData(flow, is_orig, part, ts, frame))
            else:
                detail = f"{part} bytes missing"
                if not is_orig:
                    detail += " (server to client)"
                events.append(
                    Diagnostic(name="tcp_gap", detail=detail, ts=ts, flow=flow.community_id)
                )

    # -- flow lifecycle -------------------------------------------------------------

    def _open(
        self, pkt: Packet, tup: _Tuple, ts: float, events: list[FlowEvent]
    ) -> tuple[FlowState, bool]:
        if self._closed:
            self._forget_closed(tup)
        is_orig = _sender_is_orig(pkt)
        if is_orig:
            key = FlowKey(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto)
        else:
            key = FlowKey(pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.proto)
        while len(self._flows) >= self.max_flows:
            self._evict_one(events)
        flow = FlowState(key, ts, ts, self.want_resp)
        reverse = (pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.proto)
        flow._tuples = (tup, reverse)
        if pkt.proto == _TCP and "." in key.orig_h and "." in key.resp_h:
            bulk_key = _raw_key(key.resp_h, key.resp_p, key.orig_h, key.orig_p)
            if bulk_key is not None:
                flow._bulk_key = bulk_key
                self.bulk[bulk_key] = flow
                flow._ack_key = _raw_key(key.orig_h, key.orig_p, key.resp_h, key.resp_p)
        flow._mark = self._count
        self._index[tup] = (flow, is_orig)
        self._index[reverse] = (flow, not is_orig)
        self._flows[flow] = None
        self.flows_opened += 1
        return flow, is_orig

    def _close(
        self, flow: FlowState, reason: str, ts: float, frame: int, events: list[FlowEvent]
    ) -> None:
        if flow._orig is not None:
            self._drain(flow, flow._orig, True, ts, frame, events, flush=True)
        if flow._resp is not None and flow.want_resp:
            self._drain(flow, flow._resp, False, ts, frame, events, flush=True)
        events.append(FlowClosed(flow, reason))
        del self._flows[flow]
        if flow._bulk_key is not None:
            self.bulk.pop(flow._bulk_key, None)
        if flow._ack_key is not None:
            self.client_acks.pop(flow._ack_key, None)
        if flow._tuples is not None:
            for tup in flow._tuples:
                self._index.pop(tup, None)
            if reason in ("fin", "rst") and flow.key.proto == _TCP:
                self._remember_closed(flow, flow._tuples, ts)

    def _remember_closed(self, flow: FlowState, tuples: tuple[_Tuple, _Tuple], ts: float) -> None:
        closed = self._closed
        while len(closed) >= 2 * self.max_flows:
            self._drop_closed(closed.popitem(last=False)[1][1])
        key = flow.key
        for tup in tuples:
            from_orig = tup[0] == key.orig_h and tup[1] == key.orig_p
            raw = flow._ack_key if from_orig else flow._bulk_key
            closed[tup] = (ts, raw)
            if raw is not None:
                self.closed_raw[raw] = None

    def _drop_closed(self, raw: bytes | None) -> None:
        if raw is not None:
            self.closed_raw.pop(raw, None)

    def _forget_closed(self, tup: _Tuple) -> None:
        for t in (tup, (tup[2], tup[3], tup[0], tup[1], tup[4])):
            entry = self._closed.pop(t, None)
            if entry is not None:
                self._drop_closed(entry[1])

    def _evict_one(self, events: list[FlowEvent]) -> None:
        """Close the least recently used flow (second-chance order, no per-packet cost)."""
        flows = self._flows
        while True:
            flow = next(iter(flows))
            if flow._seen > flow._mark:
                flows.move_to_end(flow)
                flow._mark = self._count
                continue
            self.evicted += 1
            self._close(flow, "evicted", flow.last_ts, flow._last_frame, events)
            return

    def _sweep(self, now: float, events: list[FlowEvent]) -> None:
        """Close flows idle for longer than ``idle_timeout`` of capture time."""
        limit = now - self.idle_timeout
        idle = [flow for flow in self._flows if flow.last_ts < limit]
        for flow in idle:
            self.timed_out += 1
            self._close(flow, "idle", flow.last_ts, flow._last_frame, events)
        closed = self._closed
        while closed:
            tup = next(iter(closed))
            closed_ts, raw = closed[tup]
            if closed_ts >= limit:
                break
            del closed[tup]
            self._drop_closed(raw)

    def flows_with_data(self) -> list[FlowState]:
        """The open flows that have carried data or hold some, oldest first: only these
        can hold bytes (most flows of a SYN flood are not among them)."""
        return [
            f
            for f in self._flows
            if f.context is not None or f._orig is not None or f._resp is not None
        ]

    def shed(self, flows: list[FlowState]) -> Iterator[FlowEvent]:
        """Close ``flows`` now, delivering what they hold (reason ``memory``): a reader
        over its memory bound frees the data of unfinished messages this way."""
        events: list[FlowEvent] = []
        for flow in flows:
            if flow not in self._flows:
                continue
            events.clear()
            self.shed_flows += 1
            self._close(flow, "memory", flow.last_ts, flow._last_frame, events)
            yield from events

    def close_all(self) -> Iterator[FlowEvent]:
        """End of capture: deliver everything still buffered and close every flow."""
        events: list[FlowEvent] = []
        for flow in list(self._flows):
            events.clear()
            self._close(flow, "end", flow.last_ts, flow._last_frame, events)
            yield from events
        self._closed.clear()
        self.closed_raw.clear()
