"""The application protocol inside one client byte stream: CONNECT tunnels."""

from __future__ import annotations

from leaktrace.sources.appstream import AppStream
from leaktrace.types import HttpRequest

CONNECT = b"CONNECT ulogs.umeng.com:443 HTTP/1.1\r\nHost: ulogs.umeng.com:443\r\n\r\n"
TLS = b"\x16\x03\x01\x00\x05hello" * 100


def test_a_plain_streams_tunnel_is_handed_back_whole() -> None:
    stream = AppStream("http", tunnels=True)
    items = stream.feed(CONNECT + TLS[:7]) + stream.feed(TLS[7:])
    assert [i.method for i in items if isinstance(i, HttpRequest)] == ["CONNECT"]
    assert stream.mode == "tunnel" and stream.held_bytes == len(TLS)
    assert stream.take_tunneled() == TLS
    assert stream.held_bytes == 0 and stream.take_tunneled() == b""
    assert stream.bytes_decoded == len(CONNECT)  # the tunnel is its reader's to count


def test_a_tunnel_no_session_can_read_stays_opaque_and_holds_nothing() -> None:
    """Inside decrypted TLS (a proxy spoken to over TLS) the tunnel would be TLS in
    TLS: its bytes are counted as opaque, not kept."""
    stream = AppStream("http")
    stream.feed(CONNECT)
    for _ in range(50):
        stream.feed(TLS)
    assert stream.mode == "opaque" and stream.opaque_reason == "upgraded_protocol"
    assert stream.held_bytes == 0 and stream.bytes_opaque == 50 * len(TLS)
