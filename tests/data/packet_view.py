"""Decode just enough of the fixtures' packets to check them: link header, IP, TCP.

Kept apart from leaktrace's own parsers on purpose, so that the fixture checks
do not share a bug with the code the fixtures are meant to test.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pcap_records as pr


def ip_bytes(linktype: int, frame: bytes) -> bytes | None:
    """Strip the link header of each link type the fixtures use."""
    if linktype == pr.LINKTYPE_ETHERNET:
        offset = 12
        while frame[offset : offset + 2] in (b"\x81\x00", b"\x88\xa8"):
            offset += 4
        ethertype = frame[offset : offset + 2]
        return frame[offset + 2 :] if ethertype in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == pr.LINKTYPE_NULL:
        return frame[4:]
    if linktype == pr.LINKTYPE_RAW:
        return frame
    if linktype == pr.LINKTYPE_LINUX_SLL:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == pr.LINKTYPE_LINUX_SLL2:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    raise AssertionError(f"unexpected linktype {linktype}")


@dataclass
class Ip:
    src: bytes
    dst: bytes
    proto: int
    ident: int = 0
    frag_offset: int = 0
    more_fragments: bool = False
    fragmented: bool = False
    chain: list[int] = field(default_factory=list)
    payload: bytes = b""


def parse_ip(packet: bytes) -> Ip:
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 15) * 4
        total = int.from_bytes(packet[2:4], "big")
        flags_off = int.from_bytes(packet[6:8], "big")
        return Ip(
            src=packet[12:16],
            dst=packet[16:20],
            proto=packet[9],
            ident=int.from_bytes(packet[4:6], "big"),
            frag_offset=(flags_off & 0x1FFF) * 8,
            more_fragments=bool(flags_off & 0x2000),
            fragmented=bool(flags_off & 0x3FFF),
            payload=packet[ihl:total],
        )
    assert packet[0] >> 4 == 6
    end = 40 + int.from_bytes(packet[4:6], "big")
    ip = Ip(src=packet[8:24], dst=packet[24:40], proto=packet[6])
    offset = 40
    while ip.proto in (0, 43, 60, 44):
        ip.chain.append(ip.proto)
        if ip.proto == 44:
            field_ = int.from_bytes(packet[offset + 2 : offset + 4], "big")
            ip.fragmented = True
            ip.frag_offset = field_ & 0xFFF8
            ip.more_fragments = bool(field_ & 1)
            ip.ident = int.from_bytes(packet[offset + 4 : offset + 8], "big")
            ip.proto = packet[offset]
            offset += 8
            break
        ip.proto, offset = packet[offset], offset + (packet[offset + 1] + 1) * 8
    ip.payload = packet[offset:end]
    return ip


def reassemble(fragments: list[Ip]) -> bytes:
    """Join one datagram's fragments; fail on any gap or missing last fragment."""
    data = b""
    for frag in sorted(fragments, key=lambda f: f.frag_offset):
        assert frag.frag_offset == len(data), "gap between fragments"
        data += frag.payload
    assert not max(fragments, key=lambda f: f.frag_offset).more_fragments
    return data


def tcp_segments(ip: Ip) -> tuple[int, int, int, int, bytes]:
    sport, dport, seq = struct.unpack_from("!HHI", ip.payload)
    header_len = (ip.payload[12] >> 4) * 4
    return sport, dport, seq, ip.payload[13], ip.payload[header_len:]
