"""HTTP/2 request parsing, fed by the h2 library's real client encoder."""

from __future__ import annotations

import h2.config
import h2.connection
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols.http2 import PREFACE, Http2RequestParser, to_request


def _client() -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    return conn


def _request(
    conn: h2.connection.H2Connection, sid: int, path: str, body: bytes, extra: list[tuple[str, str]]
) -> None:
    headers = [
        (":method", "POST" if body else "GET"),
        (":path", path),
        (":scheme", "https"),
        (":authority", "api.example.com:443"),
        *extra,
    ]
    conn.send_headers(sid, headers, end_stream=not body)
    if body:
        conn.send_data(sid, body, end_stream=True)


def _parse(wire: bytes, step: int = 0) -> list[tuple[str, str, tuple[tuple[str, str], ...], bytes]]:
    parser = Http2RequestParser()
    out = []
    chunks = [wire] if not step else [wire[i : i + step] for i in range(0, len(wire), step)]
    for chunk in chunks:
        out += parser.feed(chunk)
    out += parser.close()
    assert not parser.broken, parser.diagnostics
    return [(r.method, r.target, r.headers, r.body) for r in out]


def test_streams_become_requests_with_pseudo_headers_mapped() -> None:
    conn = _client()
    _request(conn, 1, "/v1/a?imei=356938035643809", b"", [("x-imsi", "460001234567890")])
    _request(
        conn, 3, "/v1/b", b'{"imei":"356938035643809"}', [("content-type", "application/json")]
    )
    got = _parse(conn.data_to_send())
    assert got == [
        (
            "GET",
            "/v1/a?imei=356938035643809",
            (("host", "api.example.com:443"), ("x-imsi", "460001234567890")),
            b"",
        ),
        (
            "POST",
            "/v1/b",
            (("host", "api.example.com:443"), ("content-type", "application/json")),
            b'{"imei":"356938035643809"}',
        ),
    ]


def test_hpack_dynamic_table_across_requests_and_byte_splits() -> None:
    conn = _client()
    for sid in (1, 3, 5):
        _request(conn, sid, f"/r/{sid}", b"", [("cookie", "uid=abc123"), ("x-device", "d-1")])
    wire = conn.data_to_send()
    whole = _parse(wire)
    assert [t for _, t, _, _ in whole] == ["/r/1", "/r/3", "/r/5"]
    assert all(("cookie", "uid=abc123") in h for _, _, h, _ in whole)
    assert _parse(wire, step=7) == whole


def test_unfinished_stream_is_flushed_truncated() -> None:
    conn = _client()
    conn.send_headers(
        1, [(":method", "POST"), (":path", "/u"), (":scheme", "http"), (":authority", "h")]
    )
    conn.send_data(1, b"part")
    parser = Http2RequestParser()
    assert parser.feed(conn.data_to_send()) == []
    [req] = parser.close()
    assert (req.body, req.body_truncated, req.version) == (b"part", True, "HTTP/2")


def test_bad_preface_and_bad_hpack_are_diagnostics() -> None:
    parser = Http2RequestParser()
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    assert parser.broken and parser.diagnostics[0].name == "http2_bad_preface"
    parser = Http2RequestParser()
    bad_headers = b"\x00\x00\x02\x01\x05\x00\x00\x00\x01\xff\xff"  # HEADERS, END_STREAM|END_HEADERS
    parser.feed(PREFACE + bad_headers)
    assert parser.broken and parser.diagnostics[-1].name == "http2_hpack_error"


def test_to_request_keeps_an_explicit_host() -> None:
    req = to_request([(":method", "GET"), (":authority", "a"), ("host", "b")], b"", False)
    assert req.headers == (("host", "b"),) and req.target == "/"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_after_the_preface_never_raise(data: bytes) -> None:
    parser = Http2RequestParser()
    parser.feed(PREFACE + data)
    parser.close()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
            st.binary(max_size=200),
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 64),
)
def test_round_trip_any_requests(items: list[tuple[str, bytes]], step: int) -> None:
    conn = _client()
    for index, (path, body) in enumerate(items):
        _request(conn, 2 * index + 1, "/" + path, body, [])
    got = _parse(conn.data_to_send(), step)
    assert [(t, b) for _, t, _, b in got] == [("/" + p, b) for p, b in items]


def test_capture_h2c_prior_knowledge() -> None:
    from tls.captures import IMEI, IMSI, analyze, planted

    _, messages, findings = analyze("http2_h2c.pcap")
    assert [m.http.version for m in messages if m.http] == ["HTTP/2"]
    assert planted(findings) == {
        ("imsi", "header:x-imsi", "android.bugly.qq.com", IMSI),
        ("imei", "body>json:$.imei", "android.bugly.qq.com", IMEI),
    }
    assert {f.transport for f in findings} == {"http"}


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(1, 200))
def test_held_bytes_stay_within_what_was_fed_and_end_at_zero(body: bytes, step: int) -> None:
    conn = _client()
    _request(conn, 1, "/up", body, [])
    wire = conn.data_to_send()
    parser = Http2RequestParser()
    got = []
    for end in range(step, len(wire) + step, step):
        got += parser.feed(wire[end - step : end])
        assert 0 <= parser.held_bytes <= min(end, len(wire))
    assert len(got) == 1 and parser.held_bytes == 0
    again = Http2RequestParser()
    again.feed(wire[:-1])  # the DATA frame short of one byte: it is held, whole so far
    assert len(body) <= again.held_bytes < len(wire)
