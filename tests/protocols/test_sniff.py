"""Flow classification from the first client bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.protocols.sniff import sniff_stream

TCP, UDP = 6, 17


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET /a HTTP/1.1\r\n", "http"),
        (b"POST ", "http"),
        (b"OPTIONS * HTTP/1.1\r\n", "http"),
        (b"CONNECT a:443 HTTP/1.1\r\n", "http"),
        (b"POST", "need_more"),  # "POSTAL" would not be HTTP
        (b"PO", "need_more"),
        (b"P", "need_more"),
        (b"get / HTTP/1.1\r\n", "unknown"),
        (b"HELLO server\r\n", "unknown"),
        (b"GETX / HTTP/1.1", "unknown"),
        (b"\x16\x03\x01\x02\x00\x01", "tls"),
        (b"\x16\x03\x04", "tls"),
        (b"\x16\x03\x05", "unknown"),
        (b"\x16\x02\x00", "unknown"),
        (b"\x16\x03", "need_more"),
        (b"\x16", "need_more"),
        (b"", "need_more"),
        (b"\x00\x00\x00\x10getui-push", "unknown"),
    ],
)
def test_tcp_any_port(data: bytes, expected: str) -> None:
    assert sniff_stream(data, TCP, 50123, 5224) == expected


def test_dns_over_tcp_by_port_and_length_prefix() -> None:
    assert sniff_stream(b"\x00\x1d\x12\x34\x01\x00", TCP, 50000, 53) == "dns"
    assert sniff_stream(b"\x00", TCP, 50000, 53) == "need_more"
    assert sniff_stream(b"\x00\x05abc", TCP, 50000, 53) == "unknown"
    assert sniff_stream(b"\x00\x1d\x12\x34", TCP, 50000, 5300) == "unknown"


def test_dns_over_udp_and_mdns() -> None:
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
    assert sniff_stream(query, UDP, 40000, 53) == "dns"
    assert sniff_stream(query, UDP, 5353, 5353) == "dns"
    assert sniff_stream(b"\x12\x34", UDP, 40000, 53) == "unknown"


def test_quic_long_header() -> None:
    initial = b"\xc3\x00\x00\x00\x01\x08" + b"\x11" * 8 + b"\x00" * 1100
    assert sniff_stream(initial, UDP, 40000, 443) == "quic"
    assert sniff_stream(initial, UDP, 40000, 8443) == "quic"
    v2 = b"\xd3\x6b\x33\x43\xcf\x08" + b"\x00" * 50
    assert sniff_stream(v2, UDP, 40000, 443) == "quic"
    version_negotiation = b"\xc0\x00\x00\x00\x00\x08" + b"\x00" * 50
    assert sniff_stream(version_negotiation, UDP, 40000, 443) == "unknown"
    short_header = b"\x43" + b"\x00" * 50
    assert sniff_stream(short_header, UDP, 40000, 443) == "unknown"
    too_long_cid = b"\xc3\x00\x00\x00\x01\x40" + b"\x00" * 80
    assert sniff_stream(too_long_cid, UDP, 40000, 443) == "unknown"


def test_other_protocols_are_unknown() -> None:
    assert sniff_stream(b"GET / HTTP/1.1", 1, 0, 0) == "unknown"
    assert sniff_stream(b"\x01\x02", UDP, 1, 2) == "unknown"


@given(
    st.binary(max_size=64),
    st.sampled_from([TCP, UDP, 1]),
    st.integers(0, 65535),
    st.integers(0, 65535),
)
def test_arbitrary_input_gives_a_known_answer(
    data: bytes, proto: int, sport: int, dport: int
) -> None:
    assert sniff_stream(data, proto, sport, dport) in {
        "http",
        "tls",
        "dns",
        "quic",
        "unknown",
        "need_more",
    }


@given(st.binary(min_size=1, max_size=40), st.binary(max_size=40))
def test_need_more_is_only_said_when_more_bytes_could_change_the_answer(
    head: bytes, tail: bytes
) -> None:
    """Once an answer is given on TCP, more bytes never change it."""
    for port in (80, 53):
        first = sniff_stream(head, TCP, 50000, port)
        if first != "need_more":
            assert sniff_stream(head + tail, TCP, 50000, port) == first
