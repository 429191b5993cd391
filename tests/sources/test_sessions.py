"""Per-flow sessions: flow bytes in, Messages out, and each flow's share of coverage."""

from __future__ import annotations

import contextlib
import ssl
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.sources.dnsmap import DnsMap
from leaktrace.sources.flows import FlowData, FlowState
from leaktrace.sources.sessions import FlowSession, strip_port
from leaktrace.types import FlowKey, Message, MessageKind


def flow(resp_h: str = "10.0.0.9", resp_p: int = 80, proto: int = 6) -> FlowState:
    key = FlowKey("192.168.1.5", 40000, resp_h, resp_p, proto)
    return FlowState(key=key, first_ts=1.0, last_ts=1.0)


def feed(session: FlowSession, *chunks: bytes, is_orig: bool = True) -> list[object]:
    out: list[object] = []
    for i, chunk in enumerate(chunks):
        out += session.on_data(FlowData(session.flow, is_orig, chunk, 1.0 + i, 10 + i))
    return out


def messages(items: list[object]) -> list[Message]:
    return [m for m in items if isinstance(m, Message)]


def dns_packet(txid: int, name: str, answer: bytes | None = None) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    flags, ancount = (0x8180, 1) if answer else (0x0100, 0)
    body = struct.pack("!HHHHHH", txid, flags, 1, ancount, 0, 0) + qname + b"\0\1\0\1"
    if answer:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + answer
    return body


def client_hello(server_name: str) -> bytes:
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_pipelined_http_requests_become_messages_with_depth() -> None:
    session = FlowSession(flow(), "pcap:t.pcap", DnsMap())
    wire = (
        b"GET /a?imei=1 HTTP/1.1\r\nHost: Ulogs.Umeng.com:8080\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: ulogs.umeng.com\r\nContent-Length: 3\r\n\r\nabc"
    )
    got = messages(feed(session, wire[:20], wire[20:]))
    assert [m.http.method for m in got if m.http] == ["GET", "POST"]
    assert [m.trans_depth for m in got] == [1, 2]
    assert {m.host for m in got} == {"ulogs.umeng.com"}
    assert all(m.host_basis == "header" and m.transport == "http" for m in got)
    assert got[0].origin == "pcap:t.pcap#11"
    list(session.on_close(5.0))
    outcome = session.outcome()
    assert outcome.decoded and outcome.bytes_decoded == len(wire) == outcome.bytes_outbound


def test_dns_answer_names_a_later_raw_flow() -> None:
    names = DnsMap()
    dns = FlowSession(flow("10.0.0.53", 53, 17), "pcap:t", names)
    query = messages(feed(dns, dns_packet(7, "im.jpush.cn")))
    assert query[0].kind is MessageKind.DNS and query[0].host == "im.jpush.cn"
    feed(dns, dns_packet(7, "im.jpush.cn", bytes([10, 1, 2, 3])), is_orig=False)

    raw = FlowSession(flow("10.1.2.3", 19000), "pcap:t", names)
    assert messages(feed(raw, b"\x00\x10\x01", b'{"imsi":"4600"}')) == []
    closed = messages(list(raw.on_close(9.0)))
    assert len(closed) == 1
    assert closed[0].payload == b'\x00\x10\x01{"imsi":"4600"}'
    assert (closed[0].host, closed[0].host_basis, closed[0].transport) == (
        "im.jpush.cn",
        "dns",
        "tcp",
    )
    assert raw.outcome().opaque_reason == "unknown_protocol"


def test_tls_hello_gives_sni_and_the_rest_stays_opaque() -> None:
    hello = client_hello("app-measurement.com")
    session = FlowSession(flow(resp_p=443), "pcap:t", DnsMap())
    got = messages(feed(session, hello[:7], hello[7:], b"\x17\x03\x03\x00\x05hello"))
    assert len(got) == 1
    assert got[0].kind is MessageKind.TLS_HELLO and got[0].tls is not None
    assert (got[0].host, got[0].host_basis) == ("app-measurement.com", "sni")
    assert "h2" in got[0].tls.alpn
    list(session.on_close(3.0))
    outcome = session.outcome()
    assert outcome.opaque_reason == "tls_without_keys"
    assert outcome.bytes_opaque == 10 and outcome.bytes_decoded == len(hello)


def test_websocket_upgrade_frames_become_messages() -> None:
    session = FlowSession(flow(), "pcap:t", DnsMap())
    upgrade = b"GET /ws HTTP/1.1\r\nHost: push.example.com\r\nUpgrade: websocket\r\n\r\n"
    key = b"\x01\x02\x03\x04"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(b"hello"))
    got = messages(feed(session, upgrade, b"\x81\x85" + key + masked[:2], masked[2:]))
    assert len(got) == 2
    assert got[1].parts == (("ws:text", b"hello"),)
    assert (got[1].host, got[1].host_basis) == ("push.example.com", "header")
    list(session.on_close(3.0))
    assert session.outcome().decoded


def test_unknown_upgrade_leaves_later_bytes_opaque() -> None:
    session = FlowSession(flow(), "pcap:t", DnsMap())
    upgrade = b"GET /x HTTP/1.1\r\nHost: push.example.com\r\nUpgrade: tunnel/1\r\n\r\n"
    got = messages(feed(session, upgrade, b"\x81\x85frame", b"\x81\x85more!"))
    assert len(got) == 1
    assert session.outcome().opaque_reason == "upgraded_protocol"
    assert session.outcome().bytes_opaque == 14


def test_tls_inside_a_connect_tunnel_is_read_as_a_connection_of_its_own() -> None:
    """A capture between a device and its HTTP proxy: after the CONNECT (and the
    proxy's answer, which nothing reads), the client's TLS is named by its SNI."""
    session = FlowSession(flow(resp_p=8080), "pcap:t", DnsMap())
    connect = b"CONNECT ulogs.umeng.com:443 HTTP/1.1\r\nHost: ulogs.umeng.com:443\r\n\r\n"
    hello = client_hello("ulogs.umeng.com")
    got = messages(feed(session, connect))
    assert feed(session, b"HTTP/1.1 200 Connection established\r\n\r\n", is_orig=False) == []
    got += messages(feed(session, hello[:5], hello[5:], b"\x17\x03\x03\x00\x05hello"))
    assert [(m.kind, m.host, m.host_basis) for m in got] == [
        (MessageKind.HTTP, "ulogs.umeng.com", "header"),
        (MessageKind.TLS_HELLO, "ulogs.umeng.com", "sni"),
    ]
    assert got[0].http is not None and got[0].http.method == "CONNECT"
    list(session.on_close(3.0))
    outcome = session.outcome()
    assert outcome.opaque_reason == "tls_without_keys"  # not "upgraded_protocol"
    assert outcome.bytes_decoded == len(connect) + len(hello) and outcome.bytes_opaque == 10


def test_a_tunnel_that_starts_in_the_connects_own_segment() -> None:
    session = FlowSession(flow(resp_p=3128), "pcap:t", DnsMap())
    connect = b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"
    hello = client_hello("api.example.com")
    got = messages(feed(session, connect + hello[:3], hello[3:]))
    assert [(m.kind, m.host) for m in got] == [
        (MessageKind.HTTP, "api.example.com"),
        (MessageKind.TLS_HELLO, "api.example.com"),
    ]


def test_plain_http_inside_a_connect_tunnel_is_read_without_a_refusal() -> None:
    session = FlowSession(flow(resp_p=3128), "pcap:t", DnsMap())
    connect = b"CONNECT ads.example.cn:80 HTTP/1.1\r\nHost: ads.example.cn:80\r\n\r\n"
    inner = b"GET /t?imei=869677023945285 HTTP/1.1\r\nHost: ads.example.cn\r\n\r\n"
    got = feed(session, connect, inner)
    got += list(session.on_close(3.0))
    assert [(m.http.method, m.host, m.trans_depth) for m in messages(got) if m.http] == [
        ("CONNECT", "ads.example.cn", 1),
        ("GET", "ads.example.cn", 2),
    ]
    assert [item for item in got if not isinstance(item, Message)] == []
    assert session.outcome().decoded


def _http_times(items: list[object]) -> list[tuple[str, float, str]]:
    return [(m.http.target, m.ts, m.origin) for m in messages(items) if m.http is not None]


def test_an_http1_request_is_timed_by_its_first_byte() -> None:
    """As the proxy times it (mitmproxy's timestamp_start); its origin stays the
    frame that completed it, where Wireshark shows the request."""
    session = FlowSession(flow(), "pcap:t", DnsMap())
    head = b"POST /up HTTP/1.1\r\nHost: a.cn\r\nContent-Length: 20\r\n\r\n"
    got = feed(session, head[:9], head[9:], b"imei=869677023945285", b"GET /n")
    got += feed(session, b"ext HTTP/1.1\r\nHost: a.cn\r\n\r\n")
    assert _http_times(got) == [("/up", 1.0, "pcap:t#12"), ("/next", 4.0, "pcap:t#10")]


def test_pipelined_requests_each_start_where_their_bytes_do() -> None:
    session = FlowSession(flow(), "pcap:t", DnsMap())
    one = b"GET /1 HTTP/1.1\r\nHost: a.cn\r\n\r\n"
    two = b"GET /2 HTTP/1.1\r\nHost: a.cn\r\n\r\n"
    three = b"GET /3 HTTP/1.1\r\nHost: a.cn\r\n\r\n"
    got = feed(session, one + two[:4], two[4:] + three, b"")
    assert [(t, ts) for t, ts, _ in _http_times(got)] == [("/1", 1.0), ("/2", 1.0), ("/3", 2.0)]


def test_a_request_cut_short_by_the_close_keeps_its_first_byte_time() -> None:
    session = FlowSession(flow(), "pcap:t", DnsMap())
    head = b"POST /big HTTP/1.1\r\nHost: a.cn\r\nContent-Length: 99999\r\n\r\n"
    got = feed(session, b"GET /a HTTP/1.1\r\n\r\n", head, b"x" * 100, b"y" * 100)
    got += list(session.on_close(60.0))
    assert [(t, ts) for t, ts, _ in _http_times(got)] == [("/a", 1.0), ("/big", 2.0)]


def _h2c() -> tuple[bytes, bytes, bytes]:
    """A prior-knowledge h2c preface, one request's HEADERS, and its DATA."""
    from hpack import Encoder
    from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
    block = Encoder().encode(
        [(":method", "POST"), (":path", "/h2"), (":scheme", "http"), (":authority", "a.cn")]
    )
    headers = HeadersFrame(1, block, flags=["END_HEADERS"]).serialize()
    data = DataFrame(1, b"imei=869677023945285", flags=["END_STREAM"]).serialize()
    return preface, headers, data


@pytest.mark.parametrize("cut", [1, 3, 8, 16, 23])
def test_an_http2_preface_cut_by_a_small_first_segment_is_still_http2(cut: int) -> None:
    preface, headers, data = _h2c()
    session = FlowSession(flow(), "pcap:t", DnsMap())
    got = feed(session, preface[:cut], preface[cut:] + headers, data)
    assert [m.http.target for m in messages(got) if m.http is not None] == ["/h2"]
    assert session.kind == "http"


def test_http2_requests_keep_the_time_they_completed() -> None:
    """Streams interleave: bytes held are not one request's start."""
    preface, headers, data = _h2c()
    session = FlowSession(flow(), "pcap:t", DnsMap())
    got = feed(session, preface[:8], preface[8:] + headers, data)
    assert [(t, ts) for t, ts, _ in _http_times(got)] == [("/h2", 3.0)]
    session = FlowSession(flow(), "pcap:t", DnsMap())
    got = feed(session, preface[:8], preface[8:] + headers + data)
    assert [(t, ts) for t, ts, _ in _http_times(got)] == [("/h2", 2.0)]


def test_server_bytes_of_a_tcp_flow_are_ignored() -> None:
    session = FlowSession(flow(), "pcap:t", DnsMap())
    assert feed(session, b"HTTP/1.1 200 OK\r\n\r\n", is_orig=False) == []
    assert session.outcome().bytes_outbound == 0


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([6, 17]), st.integers(1, 65535))
def test_any_bytes_on_any_flow_never_raise(data: bytes, proto: int, port: int) -> None:
    session = FlowSession(flow(resp_p=port, proto=proto), "pcap:t", DnsMap())
    feed(session, data, data[::-1])
    feed(session, data, is_orig=False)
    list(session.on_close(2.0))
    assert session.outcome().bytes_outbound == 2 * len(data)


def test_strip_port() -> None:
    assert strip_port("Example.COM:8080") == "example.com"
    assert strip_port("[2001:db8::1]:443") == "2001:db8::1"
    assert strip_port("user@host.example.") == "host.example"
    assert strip_port("2001:db8::1") == "2001:db8::1"


def test_held_bytes_follow_an_unfinished_request_and_free_at_its_end() -> None:
    session = FlowSession(flow(), "t", DnsMap())
    head = b"POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 10\r\n\r\n"
    assert messages(feed(session, head + b"01234")) == []
    assert session.held_bytes == len(head) + 5
    assert len(messages(feed(session, b"56789"))) == 1
    assert session.held_bytes == 0
    raw = FlowSession(flow(resp_p=9999), "t", DnsMap())
    feed(raw, b"\x00\x01binary junk that is no protocol at all" * 4)
    assert raw.kind == "raw" and 0 < raw.held_bytes <= 4 * 40
