"""Small captures with one planted IMEI per HTTP flow, built byte by byte for damage tests.

Each flow is a whole TCP connection (handshake, one request, FIN exchange) so
a test can tell exactly which findings survive a given kind of damage: the
ones whose records were left intact.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
START = 1_700_000_000


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def imei(n: int) -> str:
    body = f"86{n:012d}"
    return body + luhn_digit(body)


def ipv4(src: bytes, dst: bytes, proto: int, body: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0x4000, 64, proto, 0, src, dst)
    return head + body


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


@dataclass
class Frames:
    """Ethernet frames with their times; ``flows[i]`` are the frame indexes of flow i."""

    items: list[tuple[float, bytes]] = field(default_factory=list)
    flows: list[range] = field(default_factory=list)
    clock: float = float(START)

    def add(self, ip: bytes) -> None:
        self.clock += 0.001
        self.items.append((self.clock, ETH + ip))


def http_flow(frames: Frames, n: int, request: bytes | None = None) -> None:
    """One connection carrying ``GET /c?imei=<imei(n)>`` to ``t<n>.example``."""
    first = len(frames.items)
    client = bytes([10, 0, (n >> 8) & 0xFF, n & 0xFF])
    server = bytes([93, 184, 216, 34])
    sport = 20000 + n % 40000
    if request is None:
        request = f"GET /c?imei={imei(n)} HTTP/1.1\r\nHost: t{n}.example\r\n\r\n".encode()
    c, s = 1000, 5000
    frames.add(ipv4(client, server, 6, tcp(sport, 80, c, 0, 0x02)))
    frames.add(ipv4(server, client, 6, tcp(80, sport, s, c + 1, 0x12)))
    frames.add(ipv4(client, server, 6, tcp(sport, 80, c + 1, s + 1, 0x10)))
    for at in range(0, len(request), 1460):
        piece = request[at : at + 1460]
        frames.add(ipv4(client, server, 6, tcp(sport, 80, c + 1 + at, s + 1, 0x18, piece)))
    end = c + 1 + len(request)
    frames.add(ipv4(server, client, 6, tcp(80, sport, s + 1, end, 0x10)))
    frames.add(ipv4(client, server, 6, tcp(sport, 80, end, s + 1, 0x11)))
    frames.add(ipv4(server, client, 6, tcp(80, sport, s + 1, end + 1, 0x11)))
    frames.add(ipv4(client, server, 6, tcp(sport, 80, end + 1, s + 2, 0x10)))
    frames.flows.append(range(first, len(frames.items)))


def http_flows(count: int) -> Frames:
    frames = Frames()
    for n in range(1, count + 1):
        http_flow(frames, n)
    return frames


def pcap(frames: Frames, snaplen: int = 262144) -> tuple[bytes, list[int]]:
    """A little-endian microsecond pcap; also the file offset of every record."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
    offsets = []
    for ts, data in frames.items:
        offsets.append(len(out))
        sec = int(ts)
        usec = round((ts - sec) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(data), len(data)) + data
    return bytes(out), offsets


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def pcapng(frames: Frames, extra: dict[int, list[bytes]] | None = None) -> tuple[bytes, list[int]]:
    """A pcapng with one Ethernet interface; ``extra[i]`` are blocks put before frame i."""
    out = bytearray(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
    out += _block(1, struct.pack("<HHI", 1, 0, 0))
    offsets = []
    for i, (ts, data) in enumerate(frames.items):
        for blk in (extra or {}).get(i, []):
            out += blk
        offsets.append(len(out))
        ticks = round(ts * 1e6)
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
        out += _block(6, head + data)
    return bytes(out), offsets


def custom_block(btype: int, payload: bytes) -> bytes:
    return _block(btype, payload)


def open_uploads(count: int, rounds: int, *, hole: bool = False) -> Frames:
    """``count`` connections that each send a POST naming ``imei(n)`` and then body
    segments, one flow after another in every round, and never finish: every body
    so far stays held while the next flows send theirs. With ``hole`` the first
    body segment of every flow is left out, so the rest waits out of order."""
    frames = Frames()
    server = bytes([93, 184, 216, 34])
    chunk = b"x" * 1400
    seqs = []
    for n in range(count):
        client = bytes([10, 3, (n >> 8) & 0xFF, n & 0xFF])
        sport = 30000 + n
        frames.add(ipv4(client, server, 6, tcp(sport, 80, 1000, 0, 0x02)))
        frames.add(ipv4(server, client, 6, tcp(80, sport, 5000, 1001, 0x12)))
        frames.add(ipv4(client, server, 6, tcp(sport, 80, 1001, 5001, 0x10)))
        head = (
            f"POST /up?imei={imei(n)} HTTP/1.1\r\nHost: up{n}.example\r\n"
            f"Content-Length: {64 << 20}\r\n\r\n"
        ).encode()
        frames.add(ipv4(client, server, 6, tcp(sport, 80, 1001, 5001, 0x18, head)))
        seqs.append(1001 + len(head))
    for r in range(rounds):
        for n in range(count):
            client = bytes([10, 3, (n >> 8) & 0xFF, n & 0xFF])
            if not (hole and r == 0):
                seg = tcp(30000 + n, 80, seqs[n], 5001, 0x18, chunk)
                frames.add(ipv4(client, server, 6, seg))
            seqs[n] += len(chunk)
    return frames
