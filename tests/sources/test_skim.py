"""The native record walk (sources/_skim.c) against the Python path it shortcuts.

Generated TCP conversations (handshakes, client requests, server downloads whose
ACKs do or do not release the client's data, losses, duplicates, reordering,
FIN/RST, fragments, IP options, time jumps) are read with and without the walk,
whole and as partitions, with sweeps and progress reports due every few frames
so the walk has to stop for them. Items, coverage and frame counts must match.
The walk itself is also called directly on arbitrary bytes.
"""

from __future__ import annotations

import functools
import shutil
import socket
import struct
from pathlib import Path
from typing import ClassVar

import pytest
from capbuild import epb, ether, idb, shb, tcp4, udp4, write_pcap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import leaktrace.sources.capture as capture
from leaktrace.sources import skim
from leaktrace.sources.capture import PROGRESS_EVERY, CaptureSource
from leaktrace.sources.flows import FlowEvent, FlowState, FlowTable

NATIVE = pytest.mark.skipif(skim.NATIVE is None, reason="built without the C module")

SERVERS = ("93.184.216.34", "203.0.113.9")
REQUEST = (
    b"POST /v1/c HTTP/1.1\r\nHost: t.example\r\nContent-Length: 20\r\n\r\nimei=356938035643809"
)


@st.composite
def conversation(
    draw: st.DrawFn, sport: int, after: float = 0.0, server: str | None = None
) -> list[tuple[float, bytes]]:
    """One TCP connection as (time, Ethernet frame), in the order it happened."""
    server = server or draw(st.sampled_from(SERVERS))
    c, s = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    t = after + draw(st.floats(0, 5))
    out: list[tuple[float, bytes]] = []

    def up(flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        out.append((t, ether(tcp4("10.0.0.2", server, sport, 80, flags, seq, ack, payload))))

    def down(flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        out.append((t, ether(tcp4(server, "10.0.0.2", 80, sport, flags, seq, ack, payload))))

    mask = 2**32 - 1
    if draw(st.integers(0, 2)):  # the handshake may not have been captured
        up("S", c, 0)
        down("SA", s, (c + 1) & mask)
        up("A", (c + 1) & mask, (s + 1) & mask)
    c, s = (c + 1) & mask, (s + 1) & mask
    for _ in range(draw(st.integers(0, 2))):  # bare ACKs before the first data
        up("A", c, s)
    cut = draw(st.integers(1, len(REQUEST)))
    up("PA", c, s, REQUEST[:cut])
    if draw(st.booleans()):  # a bare ACK right after data the server has not acknowledged
        up("A", (c + cut) & mask, s)
    acked = c + cut if draw(st.booleans()) else c  # does the server ACK the first part?
    down("A", s, acked & mask)
    if cut < len(REQUEST):
        up("PA", (c + cut) & mask, s, REQUEST[cut:])
    c = (c + len(REQUEST)) & mask
    for _ in range(draw(st.integers(0, 6))):
        t += draw(st.sampled_from([0.0, 0.001, 1.0, 3.0]))
        size = draw(st.integers(0, 300))
        flags = draw(st.sampled_from(["A", "PA", "A", "PA", "R", "F", "S"]))  # S: a late SYN
        down(flags + ("A" if "A" not in flags else ""), s, c, b"x" * size)
        s = (s + size) & mask
        if draw(st.booleans()):
            up("A", c, s)
    if draw(st.booleans()):
        down("FA", s, c)
        up("FA", c, (s + 1) & mask)
        down("A", (s + 1) & mask, (c + 1) & mask)
    return out


@st.composite
def capture_file(draw: st.DrawFn) -> list[tuple[float, bytes]]:
    frames: list[tuple[float, bytes]] = []
    for i in range(draw(st.integers(1, 4))):
        frames += draw(conversation(40000 + i))
    if draw(st.booleans()):  # the ports of the first connection used again, later
        first = [f for f in frames if f[1][34:36] == (40000).to_bytes(2, "big")]
        server = socket.inet_ntoa(first[0][1][30:34])
        frames += draw(conversation(40000, max(ts for ts, _ in frames) + 1, server))
    frames.sort(key=lambda f: f[0])
    for _ in range(draw(st.integers(0, 4))):  # duplicates and reordering
        i, j = draw(st.integers(0, len(frames) - 1)), draw(st.integers(0, len(frames) - 1))
        if draw(st.booleans()):
            frames.insert(j, frames[i])
        else:
            frames[i], frames[j] = frames[j], frames[i]
    for _ in range(draw(st.integers(0, 2))):  # an odd frame: DNS, a fragment, IP options
        i = draw(st.integers(0, len(frames) - 1))
        ts, data = frames[i]
        kind = draw(st.sampled_from(["dns", "frag", "options", "jump"]))
        if kind == "dns":
            frames.insert(i, (ts, ether(udp4(payload=b"\x12\x34\x01\x00" + b"\0" * 8))))
        elif kind == "frag" and len(data) > 34:
            frames[i] = (ts, data[:20] + b"\x20\x00" + data[22:])  # more-fragments set
        elif kind == "options" and len(data) > 34:
            frames[i] = (ts, data[:14] + b"\x46" + data[15:])  # IHL 6 without the bytes
        elif kind == "jump":
            frames[i] = (ts + 200_000, data)  # doubted by the reader until confirmed
    return frames


def _write(path: Path, frames: list[tuple[float, bytes]], layout: str) -> None:
    """As classic pcap or pcapng, either byte order; pcapng with µs or ns ticks and a
    second interface declared (unused) so interface ids are looked up."""
    endian = ">" if layout.endswith(">") else "<"
    if layout.startswith("pcap") and not layout.startswith("pcapng"):
        records = [(int(ts), int(ts % 1 * 1e6), data) for ts, data in frames]
        write_pcap(path, records, endian=endian)
        return
    ns = layout.endswith("-ns")
    out = shb(endian) + idb(101, endian=endian) + idb(1, tsresol=9 if ns else None, endian=endian)
    for ts, data in frames:
        out += epb(1, int(ts * (1e9 if ns else 1e6)), data, endian)
    path.write_bytes(out)


class _RecordingTable(FlowTable):
    """Notes each flow's counters as it closes: the walk writes them in batches."""

    closed: ClassVar[list[tuple[object, ...]]] = []

    def _close(
        self, flow: FlowState, reason: str, ts: float, frame: int, events: list[FlowEvent]
    ) -> None:
        _RecordingTable.closed.append(
            (flow.key, reason, frame, flow.frames, flow.resp_bytes, flow.last_ts, flow._seen)
        )
        super()._close(flow, reason, ts, frame, events)


def _read(path: Path, partition: tuple[int, int] | None) -> tuple[object, ...]:
    _RecordingTable.closed = []
    reports: list[tuple[int, int]] = []
    source = CaptureSource(
        path,
        partition=partition,
        idle_timeout=2.0,
        max_flows=3,
        progress=lambda *a: reports.append(a),
    )
    items = list(source)
    return items, source.coverage, source.frames, len(reports), _RecordingTable.closed


@NATIVE
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=capture_file(),
    partition=st.sampled_from([None, (0, 2), (1, 2)]),
    sweep_every=st.sampled_from([2, 3, 7, 4096]),
    progress_every=st.sampled_from([1, 5, 4096]),
    layout=st.sampled_from(["pcap", "pcap>", "pcapng", "pcapng>", "pcapng-ns"]),
)
def test_walk_changes_nothing(
    frames: list[tuple[float, bytes]],
    partition: tuple[int, int] | None,
    sweep_every: int,
    progress_every: int,
    layout: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "gen.cap"
    _write(path, frames, layout)
    # Sweeps and progress reports every few frames, so the walk must stop for them.
    # (Not monkeypatch: its undo runs once per test, not once per example.)
    walk = skim.NATIVE
    capture.FlowTable = functools.partial(_RecordingTable, sweep_every=sweep_every)  # type: ignore[misc]
    capture.PROGRESS_EVERY = progress_every
    try:
        native = _read(path, partition)
        skim.NATIVE = None
        python = _read(path, partition)
    finally:
        skim.NATIVE = walk
        capture.FlowTable = FlowTable  # type: ignore[misc]
        capture.PROGRESS_EVERY = PROGRESS_EVERY
    assert native == python


@NATIVE
@given(
    buf=st.binary(max_size=400),
    pos=st.integers(-5, 420),
    big_endian=st.booleans(),
    linktype=st.sampled_from([0, 1, 101, 228]),
    partition=st.sampled_from([None, (0, 2), (1, 2), (2, 3)]),
)
def test_walk_on_any_bytes_stays_in_the_buffer(
    buf: bytes, pos: int, big_endian: bool, linktype: int, partition: tuple[int, int] | None
) -> None:
    """Records it takes end inside the buffer; it takes nothing it cannot account."""
    assert skim.NATIVE is not None
    end, index, _, count, owned = skim.NATIVE.pcap(
        buf, pos, 0, -1, 262_144, big_endian, 1e-6, 86_400, linktype, ({}, {}, {}, partition), 0,
        10, 1000,
    )  # fmt: skip
    assert count == 0  # no flows in the tables: nothing accounted
    start = pos if pos >= 0 else len(buf)
    assert start <= end <= max(start, len(buf))
    order = ">" if big_endian else "<"
    at = start
    for _ in range(index):  # every record taken is whole and named foreign
        (incl,) = struct.unpack_from(order + "I", buf, at + 8)
        at += 16 + incl
    assert at == end
    if owned:  # a verdict only on a whole record, read with an empty flow table
        (incl,) = struct.unpack_from(order + "I", buf, end + 8)
        assert end + 16 + incl <= len(buf)
        assert (
            partition is None
            or capture._Owners(*partition).of_frame(linktype, buf[end + 16 : end + 16 + incl])
            == "mine"
        )


@NATIVE
@given(
    linktype=st.sampled_from([1, 101, 228]),
    ether_type=st.sampled_from([b"\x08\x00", b"\x86\xdd"]),
    version_ihl=st.sampled_from([0x45, 0x46, 0x65]),
    proto=st.sampled_from([6, 17, 1]),
    frag=st.sampled_from([b"\x00\x00", b"\x40\x00", b"\x20\x00", b"\x00\x10"]),
    addrs=st.binary(min_size=8, max_size=8),
    ports=st.sampled_from([(53, 40000), (40000, 53), (443, 40001)])
    | st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
    rest=st.binary(max_size=40),
    partition=st.sampled_from([(0, 2), (1, 2), (2, 3)]),
)
def test_the_walks_verdict_on_a_frame_is_the_python_one(
    linktype: int,
    ether_type: bytes,
    version_ihl: int,
    proto: int,
    frag: bytes,
    addrs: bytes,
    ports: tuple[int, int],
    rest: bytes,
    partition: tuple[int, int],
) -> None:
    """A frame the walk drops is another worker's, one it calls owned is this worker's
    (the capture source then skips its own check), any other is left to that check."""
    assert skim.NATIVE is not None
    ip = bytes([version_ihl, 0]) + b"\x00\x28\x00\x00" + frag + bytes([64, proto, 0, 0])
    ip += addrs + struct.pack(">HH", *ports) + rest
    data = (b"\x02" * 12 + ether_type + ip) if linktype == 1 else ip
    record = struct.pack("<IIII", 1, 0, len(data), len(data)) + data
    _, index, _, _, owned = skim.NATIVE.pcap(
        record, 0, 0, -1, 262_144, False, 1e-6, 86_400, linktype, ({}, {}, {}, partition), 0,
        10, 1000,
    )  # fmt: skip
    verdict = capture._Owners(*partition).of_frame(linktype, data)
    assert (index, owned) == {"foreign": (1, 0), "mine": (0, 1), "unknown": (0, 0)}[verdict]


@NATIVE
@given(
    src=st.binary(min_size=4, max_size=4),
    dst=st.binary(min_size=4, max_size=4),
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    proto=st.sampled_from([6, 17]),
    count=st.integers(1, 64),
)
def test_the_walk_partitions_flows_as_the_python_path_does(
    src: bytes, dst: bytes, sport: int, dport: int, proto: int, count: int
) -> None:
    assert skim.NATIVE is not None
    key = bytes([proto]) + src + dst + struct.pack(">HH", sport, dport)
    a, b = socket.inet_ntoa(src), socket.inet_ntoa(dst)
    assert skim.NATIVE.partition(key, count) == capture.flow_partition(
        a, sport, b, dport, proto, count
    )


def test_the_walk_is_built_where_a_compiler_is() -> None:
    """An install with a C compiler must have the module (the build is optional, so a
    failed compile would otherwise only show as a slower run)."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine")
    assert skim.NATIVE is not None
