"""A capture file as a stream of Messages: the offline entry into the pipeline.

frames → packets → flows → per-flow sessions → Messages, in one pass over the
file. Coverage and damage are kept here because they describe the file as a
whole.
"""

from __future__ import annotations

import operator
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from leaktrace.protocols.dns import parse_dns
from leaktrace.protocols.sniff import sniff_stream
from leaktrace.sources import skim
from leaktrace.sources.dnsmap import DnsMap
from leaktrace.sources.flows import (
    FlowClosed,
    FlowData,
    FlowEvent,
    FlowState,
    FlowTable,
    is_server_port,
)
from leaktrace.sources.fragments import FragmentReassembler
from leaktrace.sources.packets import Packet, decode_frame
from leaktrace.sources.pcap import CaptureError, CaptureReader
from leaktrace.sources.sessions import FlowSession
from leaktrace.tls.keylog import KeyLog
from leaktrace.types import Coverage, Diagnostic, Message

__all__ = ["CaptureError", "CaptureSource", "flow_partition"]

ProgressCallback = Callable[[int, int], None]  # (bytes read, file size)
PROGRESS_EVERY = 4096  # frames between progress callbacks
DNS_PORT = 53
_UDP = 17
#: Bytes all open flows together may keep for messages not yet complete (out-of-order
#: segments, request heads and bodies, handshakes) before the largest are closed.
MAX_HELD_BYTES = 64 << 20


def flow_partition(src: str, sport: int, dst: str, dport: int, proto: int, count: int) -> int:
    """Which of ``count`` partitions owns a flow: the same for both directions and every process.

    CRC-32 rather than ``hash()``, whose string hashing is salted per process, so
    workers started any way agree on who owns what.
    """
    a, b = f"{src}/{sport}", f"{dst}/{dport}"
    if b < a:
        a, b = b, a
    return zlib.crc32(f"{a}/{b}/{proto}".encode()) % count


_MINE, _FOREIGN, _UNKNOWN = "mine", "foreign", "unknown"
_size_of = operator.itemgetter(0)
_OWNER_CACHE_MAX = 1 << 17
_LINKTYPE_ETHERNET = 1
_RAW_IPV4_LINKTYPES = frozenset({101, 228})


def _response_segment(
    table: FlowTable, flow: FlowState, data: bytes, ts: float, index: int
) -> Iterator[FlowEvent] | None:
    """Account an Ethernet/IPv4/TCP frame of a known server-to-client direction from
    its header bytes; None when it needs the full decode (a fragment, a header
    that does not add up, a flag the table must see)."""
    if data[20] & 0x3F or data[21]:
        return None  # a fragment
    n = len(data)
    total = (data[16] << 8) | data[17]
    end = 14 + total if total else n
    if end > n:
        end = n
    doff = (data[46] >> 4) << 2
    start = 34 + doff
    if doff < 20 or start > end:
        return None
    ack = int.from_bytes(data[42:46], "big")
    return table.feed_response(flow, end - start, ack, data[47], ts, index)


class _Owners:
    """Which flows one partition owns, worked out once per flow rather than per packet.

    ``of_frame`` reads the addresses and ports of a plain IPv4 TCP/UDP frame
    straight from its bytes, so a worker drops the other workers' packets
    without decoding them; any other frame is decoded and judged by ``owns``.
    DNS belongs to every partition: its answers name the others' flows.
    """

    __slots__ = ("_by_tuple", "by_bytes", "count", "index")

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        self.by_bytes: dict[bytes, bool] = {}
        self._by_tuple: dict[tuple[str, int, str, int, int], bool] = {}

    def of_frame(self, linktype: int, data: bytes | memoryview) -> str:
        if type(data) is not bytes:
            return _UNKNOWN
        if linktype == _LINKTYPE_ETHERNET:
            if len(data) < 38 or data[12] != 0x08 or data[13] != 0x00:
                return _UNKNOWN
            off = 14
        elif linktype in _RAW_IPV4_LINKTYPES:
            if len(data) < 24:
                return _UNKNOWN
            off = 0
        else:
            return _UNKNOWN
        proto = data[off + 9]
        # No options (the ports sit right after 20 bytes), TCP or UDP, not a fragment.
        if (
            data[off] != 0x45
            or (proto != 6 and proto != 17)
            or data[off + 6] & 0x3F
            or data[off + 7]
        ):
            return _UNKNOWN
        raw = data[off + 9 : off + 10] + data[off + 12 : off + 24]
        mine = self.by_bytes.get(raw)
        if mine is None:
            sport = (data[off + 20] << 8) | data[off + 21]
            dport = (data[off + 22] << 8) | data[off + 23]
            src = socket.inet_ntoa(data[off + 12 : off + 16])
            dst = socket.inet_ntoa(data[off + 16 : off + 20])
            mine = self.owns(src, sport, dst, dport, proto)
            if len(self.by_bytes) >= _OWNER_CACHE_MAX:
                self.by_bytes.clear()
            self.by_bytes[raw] = mine
            # Ownership does not depend on the direction: the reply is known too.
            a, b = off + 12, off + 20
            reverse = (
                raw[:1] + data[a + 4 : b] + data[a : a + 4] + data[b + 2 : b + 4] + data[b : b + 2]
            )
            self.by_bytes[reverse] = mine
        return _MINE if mine else _FOREIGN

    def owns(self, src: str, sport: int, dst: str, dport: int, proto: int) -> bool:
        """Whether this partition sees the packet (its flow, or DNS)."""
        return (
            sport == DNS_PORT or dport == DNS_PORT or self.owns_flow(src, sport, dst, dport, proto)
        )

    def owns_flow(self, src: str, sport: int, dst: str, dport: int, proto: int) -> bool:
        """Whether this partition reports the flow (DNS flows are reported by their owner)."""
        cache = self._by_tuple
        key = (src, sport, dst, dport, proto)
        mine = cache.get(key)
        if mine is None:
            mine = flow_partition(src, sport, dst, dport, proto, self.count) == self.index
            if len(cache) >= _OWNER_CACHE_MAX:
                cache.clear()
            cache[key] = mine
        return mine


class CaptureSource:
    """Iterate a pcap/pcapng file as Messages and Diagnostics.

    After iteration, ``coverage`` says how much was read, ``anomalies`` which
    damaged byte ranges were skipped, and ``damage`` where reading stopped
    early (``None`` when the file was read to its end).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        idle_timeout: float = 300.0,
        max_flows: int = 100_000,
        partition: tuple[int, int] | None = None,
        keylog: KeyLog | None = None,
        max_held: int = MAX_HELD_BYTES,
    ) -> None:
        self.path = Path(path)
        # TLS secrets from --keylog; pcapng Decryption Secrets Blocks are added as read.
        self.keylog = keylog if keylog is not None else KeyLog()
        self._reader = CaptureReader(self.path)  # raises CaptureError for unreadable input
        self._progress = progress
        self._idle_timeout = idle_timeout
        self._max_flows = max_flows
        # Every buffer of one flow has its own bound, but those add up over many open
        # flows: this bounds their sum. It is checked each time the frames read have
        # moved this far into the file, so the held bytes overshoot it by at most that
        # (no flow keeps more than was read; the frames the native walk takes are
        # never kept).
        self._max_held = max(1, max_held)
        self._held_check_every = max(1 << 20, min(8 << 20, self._max_held // 8))
        self.shed_bytes = 0  # held by the flows closed early to stay under max_held
        # (index, count): only flows that flow_partition assigns to index are analyzed;
        # the file-wide records (damage, skipped ranges) are reported by index 0 alone.
        if partition is not None and not 0 <= partition[0] < partition[1]:
            raise ValueError(f"partition {partition} is not (index, count) with index < count")
        self._partition = partition
        self._owners = _Owners(*partition) if partition is not None else None
        self.coverage = Coverage()
        self.dns_map = DnsMap()
        self.frames = 0
        self.damage: Diagnostic | None = None
        # Damaged byte ranges read past (capture_skipped, with offsets), and their totals.
        self.anomalies: list[Diagnostic] = []
        self.skipped_ranges = 0
        self.skipped_bytes = 0

    @property
    def size(self) -> int:
        return self._reader.size

    def __iter__(self) -> Iterator[Message | Diagnostic]:
        reader = self._reader
        table = FlowTable(idle_timeout=self._idle_timeout, max_flows=self._max_flows)
        frags = FragmentReassembler()
        origin = f"pcap:{self.path.name}"
        progress = self._progress
        part = self._partition
        primary = part is None or part[0] == 0
        owners = self._owners
        bulk = table.bulk
        frames = 0
        next_progress = PROGRESS_EVERY if progress is not None else 1 << 62
        next_held_check = self._held_check_every
        secrets_seen = 0
        # The native walk takes the frames that need no Python work (sources/skim.py).
        walk = None
        if skim.NATIVE is not None:
            walk = skim.Skimmer(skim.NATIVE, table, part)
            walk.stop_index = next_progress
        for frame in reader.iter_frames(walk):
            frames = frame.index
            if len(reader.decryption_secrets) != secrets_seen:
                for stype, secrets in reader.decryption_secrets[secrets_seen:]:
                    self.keylog.add_secrets_block(stype, bytes(secrets))
                secrets_seen = len(reader.decryption_secrets)
            if frames >= next_progress and progress is not None:
                next_progress = frames + PROGRESS_EVERY
                if walk is not None:
                    walk.stop_index = next_progress
                progress(reader.bytes_read, reader.size)
            if frame.offset >= next_held_check:
                next_held_check = frame.offset + self._held_check_every
                yield from self._shed_held(table, origin)
            data = frame.data
            # A download segment of a known flow: found from its header bytes and
            # accounted without decoding (most frames of a capture are these).
            if frame.linktype == _LINKTYPE_ETHERNET and type(data) is bytes and len(data) >= 54:
                flow = bulk.get(data[23:24] + data[26:38]) if data[14] == 0x45 else None
                if flow is not None and data[12] == 0x08 and data[13] == 0x00:
                    events = _response_segment(table, flow, data, frame.ts, frame.index)
                    if events is not None:
                        for event in events:
                            yield from self._dispatch(event, origin)
                        continue
            if owners is None or (walk is not None and frame.offset == walk.owned_offset):
                owner = _MINE  # no partition, or the native walk found the frame to be ours
            else:
                owner = owners.of_frame(frame.linktype, data)
            if owner is _FOREIGN:
                continue  # another worker's flow, recognised without decoding the frame
            pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
            if pkt is None:
                continue
            if owners is not None and pkt.proto == _UDP and self._foreign_lookup(pkt, owners):
                continue
            if (
                owner is _UNKNOWN
                and owners is not None
                and not owners.owns(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto)
            ):
                continue
            for event in table.feed(pkt, frame.ts, frame.index):
                yield from self._dispatch(event, origin)
        for event in table.close_all():
            yield from self._dispatch(event, origin)
        self.frames = max(frames, walk.frames) if walk is not None else frames
        if frags.evicted and primary:
            yield Diagnostic("ip_fragments_dropped", f"{frags.evicted} incomplete datagrams")
        if table.evicted:
            yield Diagnostic(
                "flow_limit",
                f"{table.evicted} flows closed early to stay under max_flows={table.max_flows}; "
                "their data up to then was analyzed",
            )
        if table.shed_flows:
            yield Diagnostic(
                "memory_limit",
                f"{table.shed_flows} flows holding {self.shed_bytes} bytes of unfinished "
                f"messages closed early to stay under max_held={self._max_held}; "
                "their data up to then was analyzed",
            )
        self.anomalies = reader.anomalies
        self.skipped_ranges = reader.skipped_ranges
        self.skipped_bytes = reader.skipped_bytes
        self.damage = reader.damage
        if primary:
            yield from self.keylog.diagnostics
            yield from self.anomalies
            if self.damage is not None:
                yield self.damage
        if progress is not None:
            progress(reader.bytes_read, reader.size)

    def _shed_held(self, table: FlowTable, origin: str) -> Iterator[Message | Diagnostic]:
        """Close the flows holding the most unfinished data while all together hold more
        than ``max_held``, down to half of it, so the next check is not due at once."""
        held: list[tuple[int, FlowState]] = []
        total = 0
        for flow in table.flows_with_data():
            session = flow.context
            size = flow.held_bytes
            if session is not None:
                assert isinstance(session, FlowSession)
                size += session.held_bytes
            if size:
                held.append((size, flow))
                total += size
        if total <= self._max_held:
            return
        held.sort(key=_size_of, reverse=True)
        chosen = []
        for size, flow in held:
            chosen.append(flow)
            self.shed_bytes += size
            total -= size
            if total <= self._max_held // 2:
                break
        for event in table.shed(chosen):
            yield from self._dispatch(event, origin)

    def _dispatch(
        self, event: FlowData | FlowClosed | Diagnostic, origin: str
    ) -> Iterator[Message | Diagnostic]:
        if self._owners is not None and not isinstance(event, Diagnostic):
            key = event.flow.key
            # Only packets that ``owns`` lets through reach the table, so a flow
            # there is this partition's unless it has port 53 (DNS reaches all).
            if (key.orig_p == DNS_PORT or key.resp_p == DNS_PORT) and not self._owners.owns_flow(
                key.orig_h, key.orig_p, key.resp_h, key.resp_p, key.proto
            ):
                # Another partition's DNS flow: learn the names it answers, report nothing.
                # Over UDP only the answers teach names, so the queries are not read (over
                # TCP the client's first bytes tell the session the stream is DNS).
                if isinstance(event, FlowData) and not (event.is_orig and key.proto == _UDP):
                    for _ in self._session(event.flow, origin).on_data(event):
                        pass
                else:
                    event.flow.context = None  # see below
                return
        if isinstance(event, FlowData):
            yield from self._session(event.flow, origin).on_data(event)
        elif isinstance(event, FlowClosed):
            if event.flow.context is None:
                # No data ever reached it (a SYN never answered, a refused connection):
                # a session made now would yield nothing and add only the flow count.
                self.coverage.flows += 1
                return
            session = self._session(event.flow, origin)
            yield from session.on_close(event.flow.last_ts)
            self._account(session)
            # Flow and session point at each other; unlinking them lets reference
            # counting free a closed flow at once instead of the cycle collector later.
            event.flow.context = None
        else:
            yield event

    def _foreign_lookup(self, pkt: Packet, owners: _Owners) -> bool:
        """Whether ``pkt`` is a datagram of another worker's DNS lookup (a client port
        to port 53), read here without a flow in the table: its query teaches nothing,
        and an answer only the names it gives addresses, which may name this worker's
        flows. Every worker reads every other's lookups, so their cost is overhead.

        A lookup between two server ports (whose client the flow table would tell
        by which packet came first) goes through the table as before."""
        if pkt.sport == DNS_PORT:
            client_port = pkt.dport
        elif pkt.dport == DNS_PORT:
            client_port = pkt.sport
        else:
            return False
        if is_server_port(client_port) or owners.owns_flow(
            pkt.src, pkt.sport, pkt.dst, pkt.dport, _UDP
        ):
            return False
        if pkt.sport == DNS_PORT:  # the server's datagram: read as its session would
            data = bytes(pkt.payload)
            if sniff_stream(data, _UDP, client_port, DNS_PORT) == "dns":
                answer = parse_dns(data)
                if answer is not None and answer.is_response:
                    self.dns_map.learn_from(answer)
        return True

    def _session(self, flow: FlowState, origin: str) -> FlowSession:
        session = flow.context
        if session is None:
            session = FlowSession(flow, origin, self.dns_map, self.keylog)
            flow.context = session
        assert isinstance(session, FlowSession)
        return session

    def _account(self, session: FlowSession) -> None:
        outcome = session.outcome()
        cov = self.coverage
        cov.flows += 1
        cov.bytes_outbound += outcome.bytes_outbound
        cov.bytes_decoded += outcome.bytes_decoded
        cov.bytes_opaque += outcome.bytes_opaque
        if outcome.decoded:
            cov.flows_decoded += 1
        elif outcome.opaque_reason is not None:
            cov.flows_opaque += 1
            reasons = cov.opaque_reasons
            reasons[outcome.opaque_reason] = reasons.get(outcome.opaque_reason, 0) + 1
