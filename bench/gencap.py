"""Write a realistic synthetic capture of any size, with planted identifiers to check against.

Many TCP flows with handshakes, MSS segmentation, the receiver's delayed ACK
every second segment, some out-of-order and retransmitted segments, HTTP/1.1
requests with JSON, form and gzip bodies that carry identifiers, large
responses, DNS lookups, and TLS ClientHellos followed by opaque records.
Built with ``struct`` (scapy is far too slow for hundreds of MB). A manifest
beside the capture counts what was planted.

    python bench/gencap.py OUT.pcap --size-mb 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import struct
from collections import Counter
from pathlib import Path
from typing import BinaryIO

MSS = 1460
UPLOAD_ROUNDS = 100  # body segments each unfinished upload sends (146 KB)
UPLOAD_IMEI_BASE = 50_000_000  # planted IMEIs of the uploads, apart from the flows'
LOOKUP_IMEI_BASE = 70_000_000  # and those of the DNS lookups
# Bumped when the generator's output changes, so captures made before are remade.
VERSION = 2
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
TRACKER_HOSTS = (
    "ulogs.umeng.com",
    "mobads.baidu.com",
    "app-measurement.com",
    "api2.amplitude.com",
    "api.mixpanel.com",
    "toblog.ctobsnssdk.com",
    "api.shop.example.com",
)
TLS_HOSTS = ("firebaseinstallations.googleapis.com", "graph.facebook.com", "api.onesignal.com")


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def imei_for(n: int) -> str:
    body = f"86{n % 10**12:012d}"
    return body + luhn_digit(body)


def phone_for(n: int) -> str:
    return f"138{n % 10**8:08d}"


class Writer:
    """Frames to a pcap file, with a capture clock that moves forward."""

    def __init__(self, stream: BinaryIO, start: float = 1_763_900_000.0) -> None:
        self.stream = stream
        self.clock = start
        self.bytes = len(PCAP_HEADER)
        self.frames = 0
        stream.write(PCAP_HEADER)

    def frame(self, payload: bytes) -> None:
        self.clock += 0.0002
        sec = int(self.clock)
        usec = int((self.clock - sec) * 1e6)
        data = ETH + payload
        self.stream.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
        self.bytes += 16 + len(data)
        self.frames += 1


def ipv4(src: bytes, dst: bytes, proto: int, body: bytes) -> bytes:
    return (
        struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64, proto, 0, src, dst)
        + body
    )


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return (
        struct.pack(
            "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0
        )
        + data
    )


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def dns_query(txid: int, name: str) -> bytes:
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + dns_name(name) + b"\x00\x01\x00\x01"


def dns_answer(txid: int, name: str, addr: bytes) -> bytes:
    question = dns_name(name) + b"\x00\x01\x00\x01"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + addr
    return struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + question + answer


def client_hello(sni: str, rng: random.Random) -> bytes:
    host = sni.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(host) + 5, len(host) + 3, 0, len(host)) + host
    alpn = b"\x02h2\x08http/1.1"
    alpn_ext = struct.pack("!HHH", 16, len(alpn) + 2, len(alpn)) + alpn
    versions = struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    exts = sni_ext + alpn_ext + versions
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + b"\x00\x04\x13\x01\x13\x02\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


class Generator:
    def __init__(self, writer: Writer, seed: int) -> None:
        self.w = writer
        self.rng = random.Random(seed)
        self.planted: Counter[str] = Counter()
        self.flow_no = 0

    def addr(self, host: str) -> bytes:
        return bytes(
            [
                10,
                200,
                TRACKER_HOSTS.index(host) if host in TRACKER_HOSTS else 99,
                1 + len(host) % 200,
            ]
        )

    def segments(
        self, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, data: bytes
    ) -> int:
        chunks = [data[i : i + MSS] for i in range(0, len(data), MSS)]
        order = list(range(len(chunks)))
        if len(order) > 2 and self.rng.random() < 0.1:
            i = self.rng.randrange(len(order) - 1)
            order[i], order[i + 1] = order[i + 1], order[i]
        offsets = [sum(len(c) for c in chunks[:i]) for i in range(len(chunks))]
        got = [False] * len(chunks)
        upto = 0  # chunks the receiver holds in order
        for k, i in enumerate(order, 1):
            segment = ipv4(src, dst, 6, tcp(sport, dport, seq + offsets[i], ack, 0x18, chunks[i]))
            self.w.frame(segment)
            if self.rng.random() < 0.02:
                self.w.frame(segment)  # retransmission
            got[i] = True
            while upto < len(chunks) and got[upto]:
                upto += 1
            if k % 2 == 0 or k == len(order):
                # The receiver's delayed ACK, every second segment and at the end.
                done = offsets[upto - 1] + len(chunks[upto - 1]) if upto else 0
                self.w.frame(ipv4(dst, src, 6, tcp(dport, sport, ack, seq + done, 0x10)))
        return seq + len(data)

    def http_body(self, n: int) -> tuple[bytes, list[tuple[str, str]]]:
        kind = n % 3
        imei, phone = imei_for(n), phone_for(n)
        if kind == 0:
            payload = {
                "header": {"imei": imei, "os": "android"},
                "events": [{"id": n, "name": "page"}] * 8,
            }
            self.planted["imei"] += 1
            return json.dumps(payload).encode(), [("Content-Type", "application/json")]
        if kind == 1:
            self.planted["phone"] += 1
            return f"mobile={phone}&code=1234&ts={n}".encode(), [
                ("Content-Type", "application/x-www-form-urlencoded")
            ]
        payload = {"device": {"imei": imei}, "lat": 39.9087 + n % 100 / 1e4, "lng": 116.3975}
        self.planted["imei"] += 1
        self.planted["location"] += 1
        return gzip.compress(json.dumps(payload).encode(), 1, mtime=0), [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ]

    def flow(self) -> None:
        self.flow_no += 1
        n = self.flow_no
        rng = self.rng
        client = bytes([192, 168, (n >> 8) & 0xFF, n & 0xFF or 1])
        sport = 30000 + n % 30000
        tls = n % 4 == 3
        host = TLS_HOSTS[n % len(TLS_HOSTS)] if tls else TRACKER_HOSTS[n % len(TRACKER_HOSTS)]
        server = self.addr(host)
        if n % 5 == 0:
            txid = n & 0xFFFF
            self.w.frame(
                ipv4(client, b"\x0a\x00\x00\x35", 17, udp(sport, 53, dns_query(txid, host)))
            )
            self.w.frame(
                ipv4(
                    b"\x0a\x00\x00\x35", client, 17, udp(53, sport, dns_answer(txid, host, server))
                )
            )
        dport = 443 if tls else 80
        cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
        w = self.w
        w.frame(ipv4(client, server, 6, tcp(sport, dport, cseq, 0, 0x02)))
        w.frame(ipv4(server, client, 6, tcp(dport, sport, sseq, cseq + 1, 0x12)))
        cseq += 1
        sseq += 1
        w.frame(ipv4(client, server, 6, tcp(sport, dport, cseq, sseq, 0x10)))
        if tls:
            cseq = self.segments(client, server, sport, dport, cseq, sseq, client_hello(host, rng))
            opaque = b"\x17\x03\x03" + struct.pack("!H", 4000) + rng.randbytes(4000)
            sseq = self.segments(server, client, dport, sport, sseq, cseq, opaque * 6)
            cseq = self.segments(client, server, sport, dport, cseq, sseq, opaque[:900])
        else:
            for depth in range(1 + n % 2):
                body, headers = self.http_body(n * 2 + depth)
                head = f"POST /v1/collect?seq={n} HTTP/1.1\r\nHost: {host}\r\n"
                head += "User-Agent: okhttp/4.12.0\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers)
                head += f"Content-Length: {len(body)}\r\n\r\n"
                cseq = self.segments(client, server, sport, dport, cseq, sseq, head.encode() + body)
                response = b"HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n" + b"x" * 30000
                sseq = self.segments(server, client, dport, sport, sseq, cseq, response)
        w.frame(ipv4(client, server, 6, tcp(sport, dport, cseq, sseq, 0x11)))
        w.frame(ipv4(server, client, 6, tcp(dport, sport, sseq, cseq + 1, 0x11)))
        w.frame(ipv4(client, server, 6, tcp(sport, dport, cseq + 1, sseq + 1, 0x10)))

    def open_uploads(self, count: int, rounds: int = UPLOAD_ROUNDS) -> None:
        """``count`` uploads at once that never finish: each POST names a planted IMEI,
        then every flow in turn sends one more body segment, ``rounds`` times. Each
        flow's buffers stay within their bounds; only a bound on their sum keeps
        memory flat (an app syncing a photo library, or a capture made to exhaust it)."""
        dst = b"\x0a\xc8\x64\x01"
        chunk = random.Random(count).randbytes(MSS)  # like compressed media: no digit runs
        flows = []
        for i in range(count):
            src = bytes([172, 32 + (i >> 16) % 16, (i >> 8) & 0xFF, i & 0xFF])
            sport = 1024 + i % 64000
            cseq, sseq = (i * 2654435761) & 0xFFFFFFFF, (i * 40503) & 0xFFFFFFFF
            self.w.frame(ipv4(src, dst, 6, tcp(sport, 80, cseq, 0, 0x02)))
            self.w.frame(ipv4(dst, src, 6, tcp(80, sport, sseq, cseq + 1, 0x12)))
            cseq, sseq = cseq + 1, sseq + 1
            head = (
                f"POST /v1/upload?imei={imei_for(UPLOAD_IMEI_BASE + i)} HTTP/1.1\r\n"
                f"Host: upload.example.com\r\nContent-Length: {1 << 30}\r\n\r\n"
            ).encode()
            self.w.frame(ipv4(src, dst, 6, tcp(sport, 80, cseq, sseq, 0x18, head)))
            flows.append([src, sport, (cseq + len(head)) & 0xFFFFFFFF, sseq])
            self.planted["imei"] += 1
        for _ in range(rounds):
            for flow in flows:
                src, sport, cseq, sseq = flow
                self.w.frame(ipv4(src, dst, 6, tcp(sport, 80, cseq, sseq, 0x18, chunk)))
                flow[2] = (cseq + MSS) & 0xFFFFFFFF

    def lookups(self, count: int) -> None:
        """``count`` DNS lookups of distinct names, each a query from its own source port
        and its answer; every tenth name starts with a planted IMEI (an SDK reporting
        through the resolver). Not from self.rng: the flows after stay the same."""
        client, resolver = b"\xc0\xa8\x01\x02", b"\x0a\x00\x00\x35"
        for i in range(count):
            name = f"n{i}.cdn{i % 300}.example.net"
            if i % 10 == 0:
                name = f"{imei_for(LOOKUP_IMEI_BASE + i)}.t.example.net"
                self.planted["imei"] += 1
            sport = 1024 + (i * 7919) % 64000
            addr = bytes([93, 184, (i >> 8) & 0xFF, i & 0xFF])
            self.w.frame(ipv4(client, resolver, 17, udp(sport, 53, dns_query(i & 0xFFFF, name))))
            answer = dns_answer(i & 0xFFFF, name, addr)
            self.w.frame(ipv4(resolver, client, 17, udp(53, sport, answer)))

    def syn_flood(self, count: int) -> None:
        """``count`` one-packet flows (a SYN each, never answered) from scattered sources."""
        dst = b"\x0a\xc8\x63\x01"
        for i in range(count):
            src = bytes([172, 16 + (i >> 16) % 16, (i >> 8) & 0xFF, i & 0xFF])
            sport = 1024 + (i * 7919) % 64000
            seq = (i * 2654435761) & 0xFFFFFFFF  # not from self.rng: the flows after stay the same
            self.w.frame(ipv4(src, dst, 6, tcp(sport, 443, seq, 0, 0x02)))


def generate(
    out: Path,
    size_mb: float,
    seed: int = 7,
    syn_flood: int = 0,
    uploads: int = 0,
    lookups: int = 0,
) -> dict[str, object]:
    """Write the capture and its manifest; a SYN flood, unfinished uploads or DNS
    lookups, if asked for, sit in the middle, so the flows after them must still be
    found once the flood has filled the flow table or the uploads the memory bound.
    With ``size_mb`` 0 the capture is those alone."""
    target = int(size_mb * 1_000_000)
    with out.open("wb") as stream:
        writer = Writer(stream)
        gen = Generator(writer, seed)
        while writer.bytes < target // 2:
            gen.flow()
        before = writer.bytes
        gen.syn_flood(syn_flood)
        gen.open_uploads(uploads)
        gen.lookups(lookups)
        target += writer.bytes - before
        while writer.bytes < target:
            gen.flow()
    manifest = {
        "version": VERSION,
        "capture": out.name,
        "bytes": writer.bytes,
        "frames": writer.frames,
        "flows": gen.flow_no,
        "syn_flood": syn_flood,
        "uploads": uploads,
        "lookups": lookups,
        "planted": dict(gen.planted),
    }
    out.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--syn-flood", type=int, default=0, metavar="N", help="add N one-packet flows (SYNs)"
    )
    parser.add_argument(
        "--uploads", type=int, default=0, metavar="N", help="add N uploads that never finish"
    )
    parser.add_argument(
        "--lookups", type=int, default=0, metavar="N", help="add N DNS lookups of distinct names"
    )
    args = parser.parse_args()
    manifest = generate(
        args.out, args.size_mb, args.seed, args.syn_flood, args.uploads, args.lookups
    )
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
