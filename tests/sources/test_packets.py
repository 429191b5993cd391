from __future__ import annotations

import struct

import pytest
from capbuild import ether, null_header, sll, sll2, tcp4, tcp6, udp4
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import ARP, Ether

from leaktrace.sources.fragments import FragmentReassembler
from leaktrace.sources.packets import Packet, decode_frame


def _decode(linktype: int, data: bytes, frags: FragmentReassembler | None = None) -> Packet | None:
    return decode_frame(linktype, data, 0.0, frags or FragmentReassembler())


def _assert_http_packet(
    pkt: Packet | None, src: str = "10.0.0.2", dst: str = "93.184.216.34"
) -> None:
    assert pkt is not None
    assert (pkt.src, pkt.dst, pkt.proto, pkt.sport, pkt.dport) == (src, dst, 6, 40000, 80)
    assert bytes(pkt.payload) == b"GET / HTTP/1.1\r\n\r\n"


HTTP = tcp4(payload=b"GET / HTTP/1.1\r\n\r\n", seq=123456, ack=654321, flags="PA")


def test_tcp_fields() -> None:
    pkt = _decode(101, HTTP)
    _assert_http_packet(pkt)
    assert pkt is not None
    assert (pkt.seq, pkt.ack, pkt.flags) == (123456, 654321, 0x18)


def test_tcp_with_options_honours_data_offset() -> None:
    ip = bytes(
        IP(src="10.0.0.2", dst="93.184.216.34")
        / TCP(
            sport=40000,
            dport=80,
            flags="S",
            options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)],
        )
        / b"GET / HTTP/1.1\r\n\r\n"
    )
    pkt = _decode(101, ip)
    _assert_http_packet(pkt)
    assert pkt is not None and pkt.flags == 0x02


def test_udp() -> None:
    pkt = _decode(101, udp4(payload=b"dns?"))
    assert pkt is not None
    assert (pkt.proto, pkt.sport, pkt.dport, bytes(pkt.payload), pkt.flags) == (
        17,
        5353,
        53,
        b"dns?",
        0,
    )


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (1, ether(HTTP)),
        (113, sll(HTTP)),
        (276, sll2(HTTP)),
        (101, HTTP),
        (12, HTTP),
        (14, HTTP),
        (228, HTTP),
        (0, null_header(HTTP, 2, "<")),
        (0, null_header(HTTP, 2, ">")),
        (108, null_header(HTTP, 2, ">")),
    ],
)
def test_every_link_type_ipv4(linktype: int, frame: bytes) -> None:
    _assert_http_packet(_decode(linktype, frame))


V6 = tcp6(payload=b"GET / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (1, ether(V6)),
        (113, sll(V6)),
        (276, sll2(V6)),
        (101, V6),
        (229, V6),
        *[(0, null_header(V6, af, order)) for af in (10, 24, 28, 30) for order in "<>"],
        (108, null_header(V6, 24, ">")),
    ],
)
def test_every_link_type_ipv6(linktype: int, frame: bytes) -> None:
    pkt = _decode(linktype, frame)
    assert pkt is not None
    assert (pkt.src, pkt.dst, pkt.dport) == ("2001:db8::2", "2001:db8::1", 443)
    assert bytes(pkt.payload) == b"GET / HTTP/1.1\r\n\r\n"


def test_raw_v4_link_type_rejects_v6_and_vice_versa() -> None:
    assert _decode(228, V6) is None
    assert _decode(229, HTTP) is None


@pytest.mark.parametrize(
    "vlans",
    [((0x8100, 10),), ((0x88A8, 100), (0x8100, 10)), ((0x9100, 1), (0x8100, 2), (0x8100, 3))],
)
def test_vlan_tags(vlans: tuple[tuple[int, int], ...]) -> None:
    _assert_http_packet(_decode(1, ether(HTTP, vlans)))


def test_vlan_on_linux_cooked() -> None:
    frame = (
        struct.pack("!HHH8sH", 4, 1, 6, b"\0" * 8, 0x8100) + struct.pack("!HH", 5, 0x0800) + HTTP
    )
    _assert_http_packet(_decode(113, frame))


def test_pppoe_session() -> None:
    head = (
        b"\x02" * 12 + struct.pack("!H", 0x8864) + struct.pack("!BBHH", 0x11, 0, 1, len(HTTP) + 2)
    )
    _assert_http_packet(_decode(1, head + struct.pack("!H", 0x0021) + HTTP))


def test_ethernet_padding_is_trimmed() -> None:
    small = tcp4(payload=b"x")
    pkt = _decode(1, ether(small) + b"\0" * 20)
    assert pkt is not None and bytes(pkt.payload) == b"x"
    udp = udp4(payload=b"y")
    pkt = _decode(1, ether(udp) + b"\xff" * 10)
    assert pkt is not None and bytes(pkt.payload) == b"y"


def test_ipv4_options_honour_ihl() -> None:
    ip = bytes(
        IP(src="10.0.0.2", dst="93.184.216.34", options=b"\x01\x01\x01\x00")
        / TCP(sport=40000, dport=80)
        / b"GET / HTTP/1.1\r\n\r\n"
    )
    assert ip[0] & 0x0F == 6
    _assert_http_packet(_decode(101, ip))


def test_zero_total_length_from_segmentation_offload() -> None:
    buf = bytearray(HTTP)
    buf[2:4] = b"\0\0"
    _assert_http_packet(_decode(101, bytes(buf)))


def test_snaplen_cut_payload_keeps_what_is_there() -> None:
    pkt = _decode(101, HTTP[:-5])
    assert pkt is not None and bytes(pkt.payload) == b"GET / HTTP/1."


@pytest.mark.parametrize(
    "frame",
    [
        bytes(Ether() / ARP()),
        bytes(Ether() / IP() / ICMP()),
        bytes(Ether() / IPv6(nh=50) / (b"\0" * 16)),  # ESP
        bytes(Ether() / IPv6(nh=59)),  # no next header
        bytes(Ether() / IP(proto=47) / b"gre"),
        b"",
        b"\x02" * 13,
    ],
)
def test_not_tcp_or_udp_is_none(frame: bytes) -> None:
    assert _decode(1, frame) is None


def test_unknown_link_type_is_none() -> None:
    assert _decode(147, HTTP) is None
    assert _decode(0, null_header(HTTP, 99, "<")) is None


def test_ipv6_extension_headers() -> None:
    ip = bytes(
        IPv6(src="2001:db8::2", dst="2001:db8::1")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting()
        / IPv6ExtHdrDestOpt()
        / UDP(sport=1234, dport=53)
        / b"query"
    )
    pkt = _decode(101, ip)
    assert pkt is not None and pkt.proto == 17 and bytes(pkt.payload) == b"query"


def test_ipv6_authentication_header() -> None:
    inner = bytes(UDP(sport=1, dport=53) / b"ah-protected")
    ah = bytes([17, 4, 0, 0]) + b"\0" * 20  # length 4 => (4 + 2) * 4 = 24 bytes
    head = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        len(ah) + len(inner),
        51,
        64,
        b"\x20" + b"\0" * 15,
        b"\x20" + b"\1" * 15,
    )
    pkt = _decode(101, head + ah + inner)
    assert pkt is not None and bytes(pkt.payload) == b"ah-protected"


def test_ipv6_atomic_fragment_is_not_buffered() -> None:
    ip = bytes(
        IPv6(src="2001:db8::2", dst="2001:db8::1")
        / IPv6ExtHdrFragment(m=0, offset=0, id=7)
        / UDP(dport=53)
        / b"atomic"
    )
    frags = FragmentReassembler()
    pkt = decode_frame(101, ip, 0.0, frags)
    assert pkt is not None and bytes(pkt.payload) == b"atomic"
    assert frags.pending == 0


def test_ipv4_fragments_out_of_order() -> None:
    body = bytes(range(256)) * 12
    whole = IP(src="10.0.0.2", dst="93.184.216.34", id=4242) / UDP(sport=5000, dport=53) / body
    pieces = [bytes(p) for p in fragment(whole, fragsize=512)]  # type: ignore[no-untyped-call]
    assert len(pieces) > 3
    frags = FragmentReassembler()
    order = [2, 0, len(pieces) - 1, *range(3, len(pieces) - 1), 1]
    results = [decode_frame(101, pieces[i], float(k), frags) for k, i in enumerate(order)]
    assert all(r is None for r in results[:-1])
    last = results[-1]
    assert last is not None and bytes(last.payload) == body and last.dport == 53
    assert frags.pending == 0


def test_ipv6_hop_by_hop_then_fragments() -> None:
    body = b"A" * 1200 + b"B" * 1200
    whole = (
        IPv6(src="2001:db8::2", dst="2001:db8::1")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrFragment(id=99)
        / TCP(sport=40000, dport=443, flags="PA", seq=5)
        / body
    )
    pieces = [bytes(p) for p in fragment6(whole, 1000)]  # type: ignore[no-untyped-call]
    assert len(pieces) >= 3
    frags = FragmentReassembler()
    results = [decode_frame(1, ether(p), 0.0, frags) for p in reversed(pieces)]
    assert all(r is None for r in results[:-1])
    pkt = results[-1]
    assert pkt is not None and pkt.proto == 6 and pkt.seq == 5
    assert bytes(pkt.payload) == body


def test_address_text_is_canonical() -> None:
    pkt = _decode(101, tcp6(src="2001:0db8:0000:0000:0000:0000:0000:0002"))
    assert pkt is not None and pkt.src == "2001:db8::2"


def test_memoryview_input() -> None:
    _assert_http_packet(decode_frame(1, memoryview(ether(HTTP)), 0.0, FragmentReassembler()))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 276]), st.binary(max_size=120))
def test_arbitrary_bytes_never_raise(linktype: int, data: bytes) -> None:
    frags = FragmentReassembler()
    pkt = decode_frame(linktype, data, 0.0, frags)
    assert pkt is None or pkt.proto in (6, 17)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(ether(HTTP)) - 1), st.integers(0, 255))
def test_corrupted_or_cut_frames_never_raise(index: int, value: int) -> None:
    frame = bytearray(ether(HTTP))
    frame[index] = value
    for data in (bytes(frame), bytes(frame[:index])):
        pkt = _decode(1, data)
        assert pkt is None or isinstance(pkt.payload, bytes | memoryview)
