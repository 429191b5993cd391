"""Byte-exact builders for capture files and link headers used by the sources tests.

Files are written with struct rather than a capture library so each test
controls byte order, resolution and damage precisely; scapy builds the IP
packets inside them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

PCAP_MAGIC = {"us": 0xA1B2C3D4, "ns": 0xA1B23C4D}


def pcap_bytes(
    frames: Iterable[tuple[int, int, bytes]],
    linktype: int = 1,
    resolution: str = "us",
    endian: str = "<",
    snaplen: int = 65535,
) -> tuple[bytes, list[int]]:
    """A pcap file from (seconds, fraction, data) records; also the offset of each record."""
    magic = PCAP_MAGIC[resolution]
    out = bytearray(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    offsets = []
    for sec, frac, data in frames:
        offsets.append(len(out))
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
    return bytes(out), offsets


def write_pcap(
    path: Path,
    frames: Iterable[tuple[int, int, bytes]],
    linktype: int = 1,
    resolution: str = "us",
    endian: str = "<",
) -> list[int]:
    data, offsets = pcap_bytes(frames, linktype, resolution, endian)
    path.write_bytes(data)
    return offsets


# -- pcapng ---------------------------------------------------------------------


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad(value)


def shb(endian: str = "<", options: bytes = b"") -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options
    return block(0x0A0D0D0A, body, endian)


def idb(linktype: int, snaplen: int = 0, tsresol: int | None = None, endian: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts = option(9, bytes([tsresol]), endian) + option(0, b"", endian)
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts, endian)


def epb(ifid: int, ticks: int, data: bytes, endian: str = "<") -> bytes:
    head = struct.pack(
        endian + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(6, head + data, endian)


def spb(data: bytes, orig_len: int | None = None, endian: str = "<") -> bytes:
    return block(
        3, struct.pack(endian + "I", len(data) if orig_len is None else orig_len) + data, endian
    )


def obsolete_pb(ifid: int, ticks: int, data: bytes, endian: str = "<") -> bytes:
    head = struct.pack(
        endian + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, head + data, endian)


def dsb(secrets_type: int, secrets: bytes, endian: str = "<") -> bytes:
    return block(0x0A, struct.pack(endian + "II", secrets_type, len(secrets)) + secrets, endian)


# -- packets and link headers ------------------------------------------------------


def tcp4(
    src: str = "10.0.0.2",
    dst: str = "93.184.216.34",
    sport: int = 40000,
    dport: int = 80,
    flags: str = "PA",
    seq: int = 1000,
    ack: int = 1,
    payload: bytes = b"",
) -> bytes:
    return bytes(
        IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
        / payload
    )


def udp4(
    src: str = "10.0.0.2",
    dst: str = "8.8.8.8",
    sport: int = 5353,
    dport: int = 53,
    payload: bytes = b"q",
) -> bytes:
    return bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload)


def tcp6(
    src: str = "2001:db8::2",
    dst: str = "2001:db8::1",
    sport: int = 40000,
    dport: int = 443,
    payload: bytes = b"",
) -> bytes:
    return bytes(IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA") / payload)


def ether(ip: bytes, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    """Ethernet II frame around ``ip``; ``vlans`` are (TPID, VLAN id) outermost first."""
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    head = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02"
    for tpid, vid in vlans:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + ip


def sll(ip: bytes) -> bytes:
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 4, 1, 6, b"\x02\0\0\0\0\x01\0\0", ethertype) + ip


def sll2(ip: bytes) -> bytes:
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 4, 6, b"\x02\0\0\0\0\x01\0\0") + ip


def null_header(ip: bytes, af: int, order: str) -> bytes:
    return struct.pack(order + "I", af) + ip
