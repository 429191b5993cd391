"""Throughput of the capture source stages: reading alone, then reading + decoding + flow table.

    python bench/bench_reader.py                 # generates a 100 MB synthetic capture
    python bench/bench_reader.py CAPTURE.pcap    # or measures a given pcap/pcapng
    python bench/bench_reader.py --size-mb 300 --want-resp

The synthetic capture mimics app traffic by volume: TCP connections with
handshakes, small client requests, MSS-sized server responses, FINs, and DNS
lookups. Numbers are file bytes per second of wall time on one core.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

from leaktrace.sources.flows import FlowData, FlowTable
from leaktrace.sources.fragments import FragmentReassembler
from leaktrace.sources.packets import decode_frame
from leaktrace.sources.pcap import CaptureReader

_ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_MSS = 1448


def _ip_tcp(
    src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes
) -> bytes:
    total = 40 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(
        "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0
    )
    return _ETH + ip + tcp + payload


def _ip_udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst)
    return _ETH + ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def generate(path: Path, size_mb: int, seed: int = 1) -> None:
    """Write a synthetic pcap of about ``size_mb`` megabytes."""
    rnd = random.Random(seed)
    limit = size_mb * 1_000_000
    client = bytes([10, 0, 0, 2])
    ts = 1_700_000_000.0
    written = 0
    body = bytes(rnd.getrandbits(8) for _ in range(_MSS))
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def put(frame: bytes) -> None:
            nonlocal ts, written
            ts += 0.0002
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)
            written += 16 + len(frame)

        port = 30000
        while written < limit:
            port = 30000 + (port - 29999) % 30000
            server = bytes([93, 184, rnd.randrange(256), rnd.randrange(1, 255)])
            put(_ip_udp(client, bytes([8, 8, 8, 8]), port, 53, b"\x12\x34\x01\x00" + b"\0" * 30))
            put(_ip_udp(bytes([8, 8, 8, 8]), client, 53, port, b"\x12\x34\x81\x80" + b"\0" * 60))
            cseq, sseq = rnd.getrandbits(32), rnd.getrandbits(32)
            put(_ip_tcp(client, server, port, 443, cseq, 0, 0x02, b""))
            put(_ip_tcp(server, client, 443, port, sseq, cseq + 1, 0x12, b""))
            cseq += 1
            sseq += 1
            put(_ip_tcp(client, server, port, 443, cseq, sseq, 0x10, b""))
            for _ in range(rnd.randint(1, 4)):
                request = (
                    b"POST /track HTTP/1.1\r\nHost: x\r\n\r\n"
                    + b"d="
                    + b"7" * rnd.randint(200, 900)
                )
                put(_ip_tcp(client, server, port, 443, cseq, sseq, 0x18, request))
                cseq += len(request)
                for i in range(rnd.randint(2, 60)):
                    put(_ip_tcp(server, client, 443, port, sseq, cseq, 0x10, body))
                    sseq += _MSS
                    if i % 2:
                        put(_ip_tcp(client, server, port, 443, cseq, sseq, 0x10, b""))
            put(_ip_tcp(client, server, port, 443, cseq, sseq, 0x11, b""))
            put(_ip_tcp(server, client, 443, port, sseq, cseq + 1, 0x11, b""))
            put(_ip_tcp(client, server, port, 443, cseq + 1, sseq + 1, 0x10, b""))


def bench_read(path: Path) -> tuple[float, int]:
    reader = CaptureReader(path)
    start = time.perf_counter()
    frames = 0
    for _ in reader:
        frames += 1
    return time.perf_counter() - start, frames


def bench_flows(path: Path, want_resp: bool) -> tuple[float, int, int]:
    reader = CaptureReader(path)
    frags = FragmentReassembler()
    table = FlowTable(want_resp=want_resp)
    delivered = 0
    events = 0
    start = time.perf_counter()
    for frame in reader:
        pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
        if pkt is None:
            continue
        for ev in table.feed(pkt, frame.ts, frame.index):
            events += 1
            if type(ev) is FlowData:
                delivered += len(ev.data)
    for ev in table.close_all():
        events += 1
        if type(ev) is FlowData:
            delivered += len(ev.data)
    return time.perf_counter() - start, events, delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?", type=Path, help="pcap or pcapng to measure")
    parser.add_argument("--size-mb", type=int, default=100, help="size of the generated capture")
    parser.add_argument("--want-resp", action="store_true", help="also reassemble server bytes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best is shown")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.capture
        if path is None:
            path = Path(tmp) / "bench.pcap"
            t0 = time.perf_counter()
            generate(path, args.size_mb)
            print(
                f"generated {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s"
            )
        size_mb = path.stat().st_size / 1e6
        secs, frames = min(bench_read(path) for _ in range(args.repeat))
        rate = size_mb / secs
        print(f"CaptureReader:              {rate:7.1f} MB/s  ({frames} frames, {secs:.2f} s)")
        secs, events, delivered = min(bench_flows(path, args.want_resp) for _ in range(args.repeat))
        print(
            f"+ decode_frame + FlowTable:  {size_mb / secs:7.1f} MB/s  "
            f"({events} events, {delivered / 1e6:.1f} MB delivered, {secs:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
