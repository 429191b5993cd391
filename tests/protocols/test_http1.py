"""HTTP/1.x request parser: framing, bounds, resync, and split invariance."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols.http1 import RequestParser, _header_fields
from leaktrace.types import HttpRequest


def parse_all(data: bytes, parser: RequestParser | None = None, step: int = 0) -> list[HttpRequest]:
    parser = parser or RequestParser()
    out: list[HttpRequest] = []
    if step:
        for i in range(0, len(data), step):
            out += parser.feed(data[i : i + step])
    else:
        out += parser.feed(data)
    out += parser.close()
    return out


def names(parser: RequestParser) -> list[str]:
    return [d.name for d in parser.diagnostics]


def test_get_without_body() -> None:
    req = (
        b"GET /v1/config?app=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: okhttp/4.9\r\n\r\n"
    )
    parser = RequestParser()
    (got,) = parser.feed(req)
    assert got.method == "GET"
    assert got.target == "/v1/config?app=1"
    assert got.version == "HTTP/1.1"
    assert got.headers == (("Host", "api.example.com"), ("User-Agent", "okhttp/4.9"))
    assert got.body == b""
    assert not got.body_truncated
    assert parser.close() == []
    assert parser.diagnostics == []


def test_header_names_kept_as_sent_and_values_trimmed() -> None:
    (got,) = parse_all(b"GET / HTTP/1.0\r\nx-UMID:   abc \t\r\nHOST:h\r\n\r\n")
    assert got.headers == (("x-UMID", "abc"), ("HOST", "h"))
    assert got.version == "HTTP/1.0"
    assert got.header("host") == "h"


def test_post_content_length_umeng_like_json() -> None:
    body = (
        b'{"header":{"umid":"5f2a","idmd5":"d41d8cd98f00b204e9800998ecf8427e",'
        b'"mc":"AC:37:43:4B:1C:2E"}}'
    )
    req = (
        b"POST /unify_logs HTTP/1.1\r\nHost: ulogs.umeng.com\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    (got,) = RequestParser().feed(req)
    assert got.body == body
    assert got.header("content-type") == "application/json"


def test_pipelined_requests_in_one_feed() -> None:
    req = (
        b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\n\r\n"
        b"POST /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    )
    got = RequestParser().feed(req)
    assert [(r.target, r.body) for r in got] == [("/a", b"abc"), ("/b", b""), ("/c", b"")]


def test_keep_alive_across_feeds_byte_by_byte() -> None:
    req = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    got = parse_all(req, step=1)
    assert [(r.target, r.body) for r in got] == [("/a", b"hello"), ("/b", b"")]


def test_chunked_with_extensions_and_trailers() -> None:
    req = (
        b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"6\r\n world\r\n"
        b"0\r\nX-Checksum: abc\r\n\r\n"
        b"GET /next HTTP/1.1\r\n\r\n"
    )
    parser = RequestParser()
    first, second = parser.feed(req)
    assert first.body == b"hello world"
    assert first.headers[-1] == ("X-Checksum", "abc")
    assert not first.body_truncated
    assert second.target == "/next"
    assert parser.diagnostics == []


def test_chunked_lf_only_and_uppercase_hex() -> None:
    req = b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\nA\n0123456789\n0\n\n"
    (got,) = parse_all(req)
    assert got.body == b"0123456789"


def test_gigabyte_chunk_is_bounded_and_not_buffered() -> None:
    parser = RequestParser(max_body=1024)
    parser.feed(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n")
    block = b"z" * 65536
    for _ in range(64):  # 4 MiB of a 4 GiB chunk
        assert parser.feed(block) == []
        assert len(parser._buf) == 0  # skipped as it arrives
    (got,) = parser.close()
    assert got.body == b"z" * 1024
    assert got.body_truncated
    assert "http_body_limit" in names(parser)


def test_content_length_over_max_body_skips_rest_and_continues() -> None:
    parser = RequestParser(max_body=4)
    body = b"0123456789"
    req = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + body + b"GET /after HTTP/1.1\r\n\r\n"
    first, second = parser.feed(req)
    assert first.body == b"0123"
    assert first.body_truncated
    assert second.target == "/after"
    assert names(parser) == ["http_body_limit"]


def test_expect_100_continue_with_body() -> None:
    req = b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata"
    (got,) = parse_all(req, step=3)
    assert got.body == b"data"


def test_expect_100_continue_body_never_sent() -> None:
    parser = RequestParser()
    req = (
        b"POST /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 50000\r\n\r\n"
        b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    first, second = parser.feed(req)
    assert first.body == b""
    assert second.target == "/other"
    assert "http_expect_unsent_body" in names(parser)


def test_obs_fold_joins_continuation_lines() -> None:
    req = b"GET / HTTP/1.1\r\nX-Long: first\r\n  second\r\n\tthird\r\nHost: h\r\n\r\n"
    (got,) = parse_all(req)
    assert got.headers == (("X-Long", "first second third"), ("Host", "h"))


def test_absolute_form_target_kept() -> None:
    (got,) = parse_all(b"GET http://proxy.example/a?b=1 HTTP/1.1\r\n\r\n")
    assert got.target == "http://proxy.example/a?b=1"


def test_resync_after_garbage() -> None:
    parser = RequestParser()
    req = b"\x00\x01binary junk\r\nmore junk\nGET /ok HTTP/1.1\r\n\r\n"
    (got,) = parser.feed(req)
    assert got.target == "/ok"
    assert names(parser) == ["http_bad_request_line", "http_resync"]


def test_gives_up_on_flow_that_is_not_http() -> None:
    parser = RequestParser(max_header_bytes=1024)
    junk = b"\x16\x03\x01 not http at all\n" * 200
    assert parser.feed(junk) == []
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    assert parser.close() == []
    assert "http_gave_up" in names(parser)


def test_line_without_end_over_limit_gives_up() -> None:
    parser = RequestParser(max_header_bytes=100)
    assert parser.feed(b"x" * 500) == []
    assert names(parser) == ["http_gave_up"]


def test_upgrade_stops_parsing_and_hands_over_leftover() -> None:
    parser = RequestParser()
    frame = b"\x81\x85\x00\x00\x00\x00hello"
    req = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + frame
    (got,) = parser.feed(req)
    assert got.target == "/ws"
    assert parser.upgraded
    assert parser.leftover == frame
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    assert parser.close() == []


def test_connect_tunnel() -> None:
    parser = RequestParser()
    (got,) = parser.feed(
        b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"
    )
    assert got.method == "CONNECT"
    assert not parser.upgraded  # not known until the client sends more
    assert parser.feed(b"\x16\x03\x01") == []
    assert parser.upgraded
    assert parser.leftover == b"\x16\x03\x01"


def test_refused_connect_goes_on_as_http() -> None:
    parser = RequestParser()
    first = b"CONNECT a.cn:443 HTTP/1.1\r\n\r\n"
    second = b"CONNECT a.cn:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
    got = parse_all(first + second + b"\x16\x03\x01", parser, step=5)
    assert [r.header("proxy-authorization") for r in got] == [None, "Basic dTpw"]
    assert parser.upgraded
    assert parser.leftover.endswith(b"\x16\x03\x01")
    assert "http_upgrade_refused" in names(parser)


def test_h2c_upgrade_then_preface() -> None:
    parser = RequestParser()
    req = b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"
    (got,) = parser.feed(req + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert got.header("upgrade") == "h2c"
    assert parser.upgraded
    assert parser.leftover.startswith(b"PRI * HTTP/2.0")


def test_plain_http_inside_connect_tunnel_is_not_a_refusal() -> None:
    """A CONNECT to port 80 carries plain HTTP: its requests are read, nothing is refused."""
    parser = RequestParser()
    connect = b"CONNECT ads.example.cn:80 HTTP/1.1\r\nHost: ads.example.cn:80\r\n\r\n"
    inner = b"GET /track?imei=869677023945285 HTTP/1.1\r\nHost: ads.example.cn\r\n\r\n"
    got = parse_all(connect + inner, parser, step=7)
    assert [(r.method, r.target) for r in got] == [
        ("CONNECT", "ads.example.cn:80"),
        ("GET", "/track?imei=869677023945285"),
    ]
    assert not parser.upgraded
    assert names(parser) == []


def test_http1_after_websocket_upgrade_is_a_refusal() -> None:
    parser = RequestParser()
    upgrade = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    got = parse_all(upgrade + b"GET /poll HTTP/1.1\r\n\r\n", parser)
    assert [r.target for r in got] == ["/ws", "/poll"]
    assert not parser.upgraded
    assert names(parser) == ["http_upgrade_refused"]


def test_http2_prior_knowledge_preface() -> None:
    parser = RequestParser()
    h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"
    assert parser.feed(h2) == []
    assert parser.upgraded
    assert parser.leftover == h2
    assert "http2_prior_knowledge" in names(parser)


def test_close_returns_partial_body_truncated() -> None:
    parser = RequestParser()
    assert parser.feed(b"POST /p HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial") == []
    (got,) = parser.close()
    assert got.body == b"partial"
    assert got.body_truncated
    assert names(parser) == ["http_incomplete_request"]


def test_close_inside_headers_returns_what_was_read() -> None:
    parser = RequestParser()
    parser.feed(b"GET /q?imei=1 HTTP/1.1\r\nHost: h\r\nX-Par")
    (got,) = parser.close()
    assert got.target == "/q?imei=1"
    assert got.headers == (("Host", "h"),)
    assert got.body_truncated


def test_close_inside_chunked_body() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n10\r\nxy")
    (got,) = parser.close()
    assert got.body == b"abcdxy"
    assert got.body_truncated


def test_close_with_partial_request_line_only_reports() -> None:
    parser = RequestParser()
    parser.feed(b"GET /inco")
    assert parser.close() == []
    assert names(parser) == ["http_incomplete_request"]


def test_max_headers_drops_extra_and_reports() -> None:
    parser = RequestParser(max_headers=2)
    (got,) = parser.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n")
    assert got.headers == (("A", "1"), ("B", "2"))
    assert names(parser) == ["http_header_limit"]


def test_header_block_over_limit_returns_partial_and_stops() -> None:
    parser = RequestParser(max_header_bytes=200)
    got = parser.feed(b"GET /h HTTP/1.1\r\nCookie: " + b"a" * 500 + b"\r\n\r\n")
    assert [r.target for r in got] == ["/h"]
    assert got[0].body_truncated
    assert "http_header_limit" in names(parser)


def test_bad_header_line_skipped() -> None:
    parser = RequestParser()
    (got,) = parser.feed(b"GET / HTTP/1.1\r\nno colon here\r\n: empty name\r\nHost: h\r\n\r\n")
    assert got.headers == (("Host", "h"),)
    assert names(parser) == ["http_bad_header", "http_bad_header"]


def test_bad_content_length_aborts_request_and_resyncs() -> None:
    parser = RequestParser()
    req = b"POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\nbody\r\nGET /next HTTP/1.1\r\n\r\n"
    first, second = parser.feed(req)
    assert first.body_truncated
    assert second.target == "/next"
    assert names(parser)[0] == "http_bad_framing"


def test_identical_repeated_content_length_is_fine() -> None:
    (got,) = parse_all(b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok")
    assert got.body == b"ok"


def test_transfer_encoding_wins_over_content_length() -> None:
    parser = RequestParser()
    req = (
        b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    )
    (got,) = parser.feed(req)
    assert got.body == b"ok"
    assert names(parser) == ["http_te_and_cl"]


def test_bad_chunk_size() -> None:
    parser = RequestParser()
    (got,) = parser.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert got.body_truncated
    assert "http_bad_chunk" in names(parser)


# -- properties --------------------------------------------------------------

_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=12,
)
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, HttpRequest]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    path = "/" + draw(st.text(alphabet="abc/xyz%=&?.", max_size=20))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    reserved = {"content-length", "transfer-encoding", "upgrade", "expect"}
    headers = [
        (n, v)
        for n, v in draw(st.lists(st.tuples(_token, _value), max_size=5))
        if n.lower() not in reserved
    ]
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    if framing == "none":
        body = b""
    wire_headers = list(headers)
    if framing == "length":
        wire_headers.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        wire_headers.append(("Transfer-Encoding", "chunked"))
    head = f"{method} {path} {version}".encode() + eol
    head += b"".join(f"{n}: {v}".encode() + eol for n, v in wire_headers) + eol
    payload = body
    if framing == "chunked":
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        payload = b"".join(
            f"{len(p):x}".encode() + (b";ext=1" if i % 2 else b"") + eol + p + eol
            for i, p in enumerate(pieces)
            if p
        )
        payload += b"0" + eol + eol
    expected = HttpRequest(method, path, version, tuple(wire_headers), body)
    return head + payload, expected


@settings(max_examples=150, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4), st.data())
def test_any_split_gives_the_same_requests(
    reqs: list[tuple[bytes, HttpRequest]], data: st.DataObject
) -> None:
    stream = b"".join(wire for wire, _ in reqs)
    expected = [req for _, req in reqs]
    assert parse_all(stream) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    parser = RequestParser()
    got: list[HttpRequest] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += parser.feed(stream[a:b])
    got += parser.close()
    assert got == expected
    assert parser.diagnostics == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    parser = RequestParser(max_body=64, max_header_bytes=256, max_headers=4)
    for chunk in chunks:
        for req in parser.feed(chunk):
            assert len(req.body) <= 64
            assert len(req.headers) <= 4
    parser.close()


_http_ish = st.lists(
    st.sampled_from(
        [
            b"GET / HTTP/1.1\r\n",
            b"POST /a HTTP/1.1\n",
            b"Content-Length: 3\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"\r\n",
            b"\n",
            b"abc",
            b"5\r\n",
            b"0\r\n",
            b"Expect: 100-continue\r\n",
            b" fold\r\n",
            b"Upgrade: x\r\n",
            b"ffffffffff\r\n",
            b"\x00\xff",
        ]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_http_ish, st.integers(1, 7))
def test_http_like_noise_never_raises_and_is_split_invariant(parts: list[bytes], step: int) -> None:
    stream = b"".join(parts)
    whole = RequestParser(max_body=32)
    expected = parse_all(stream, whole)
    pieces = RequestParser(max_body=32)
    assert parse_all(stream, pieces, step=step) == expected


_ODD_HEADER_LINES = [
    b"Name \t: \tv a l \t\r\n",
    b"Empty:\r\n",
    b": no name\r\n",
    b"A:b:c\r\n",
    b"Mid\rCr: x\r\n",
    b"Sp ace: v\r\n",
    b" folded on\r\n",
    b"\tTab: start\r\n",
    b"K:\x0bv\x0b\r\n",
    b"N\xe9: v\xff\r\n",
    b"no colon here\r\n",
]


_head_ish = st.lists(
    st.sampled_from(
        [
            b"GET / HTTP/1.1\r\n",
            b"POST /a HTTP/1.1\r\n",
            b"Host: a.example\r\n",
            b"X-Long: " + b"y" * 40 + b"\r\n",
            b"Content-Length: 2\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b" folded\r\n",
            b"\rOdd: start\r\n",
            b"\r\r\n",
            b"Lf: only\n",
            *_ODD_HEADER_LINES,
            b"\r\n",
            b"ab",
            b"0\r\n",
        ]
    ),
    max_size=30,
)


@pytest.mark.parametrize("odd", _ODD_HEADER_LINES)
def test_an_odd_header_line_reads_the_same_in_a_whole_block(odd: bytes) -> None:
    stream = b"POST /a HTTP/1.1\r\nHost: a\r\n" + odd + b"Content-Length: 2\r\n\r\nok"
    whole, by_byte = RequestParser(), RequestParser()
    requests = parse_all(stream, whole)
    assert requests == parse_all(stream, by_byte, step=1)
    assert whole.diagnostics == by_byte.diagnostics
    assert requests[0].body == b"ok"


@settings(max_examples=300, deadline=None)
@given(_head_ish, st.integers(16, 200))
def test_a_whole_header_block_reads_as_line_by_line(parts: list[bytes], limit: int) -> None:
    """Requests and diagnostics (with their stream offsets) are the same whether a
    header block arrives whole or one byte at a time, at any header size limit."""
    stream = b"".join(parts)
    whole = RequestParser(max_header_bytes=limit, max_headers=5)
    by_byte = RequestParser(max_header_bytes=limit, max_headers=5)
    assert parse_all(stream, whole) == parse_all(stream, by_byte, step=1)
    assert whole.diagnostics == by_byte.diagnostics


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 700))
def test_held_bytes_are_everything_fed_until_the_request_is_out(body: bytes, step: int) -> None:
    wire = b"POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    parser = RequestParser()
    out: list[HttpRequest] = []
    for end in range(step, len(wire) + step, step):
        out += parser.feed(wire[end - step : end])
        assert parser.held_bytes == (0 if out else min(end, len(wire)))
    assert [r.body for r in out] == [body] and parser.held_bytes == 0


class _StepByStep(RequestParser):
    """The parser without its one-pass read of a whole head: the reference for it."""

    def _take_whole_head(self) -> bool:
        return False


_REQUEST_LINES = [
    b"GET / HTTP/1.1\r\n",
    b"POST /a?x=1 HTTP/1.0\r\n",
    b"PRI * HTTP/2.0\r\n",
    b"CONNECT a:443 HTTP/1.1\r\n",
]
_HEAD_LINES = [
    b"Host: a.example\r\n",
    b"Content-Length: 3\r\n",
    b"Content-Length: 40\r\n",
    b"content-length: 003\r\n",
    b"Content-Length: 3, 3\r\n",
    b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Upgrade: h2c\r\n",
    b"X-Long: " + b"y" * 40 + b"\r\n",
    *_ODD_HEADER_LINES,
]
_heads = st.builds(
    lambda line, lines: line + b"".join(lines) + b"\r\n",
    st.sampled_from(_REQUEST_LINES),
    st.lists(st.sampled_from(_HEAD_LINES), max_size=5),
)
_whole_head_parts = st.lists(
    st.one_of(
        _heads,
        st.sampled_from(
            [
                *_REQUEST_LINES,
                *_HEAD_LINES,
                b"\r\n",
                b"\n",
                b"abc",
                b"0123456789" * 2,
                b"3\r\nabc\r\n0\r\n\r\n",
            ]
        ),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(_whole_head_parts, st.integers(16, 300), st.integers(0, 50), st.data())
def test_a_whole_head_reads_as_step_by_step(
    parts: list[bytes], header_limit: int, max_body: int, data: st.DataObject
) -> None:
    """Requests, diagnostics (with their offsets) and held bytes are those of the steps,
    at any header and body limit and however the stream is cut."""
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    limits = {"max_header_bytes": header_limit, "max_body": max_body, "max_headers": 4}
    fast, steps = RequestParser(**limits), _StepByStep(**limits)
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        assert fast.feed(stream[a:b]) == steps.feed(stream[a:b])
        assert fast.held_bytes == steps.held_bytes
        assert (fast.upgraded, fast.leftover) == (steps.upgraded, steps.leftover)
    assert fast.close() == steps.close()
    assert fast.diagnostics == steps.diagnostics


@pytest.mark.parametrize(
    "stream",
    [
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nContent-Length: 3 \x0c\r\n\r\nabc",
        b"POST / HTTP/1.1\r\n\rOdd: start\r\nContent-Length: 1\r\n\r\na",
        b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",
        b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
        b"GET /\nx HTTP/1.1\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: b\r\n\r\n",
        b"PRI * HTTP/2.0\r\nHost: a\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
)
def test_a_whole_head_reads_as_step_by_step_on_edge_cases(stream: bytes) -> None:
    fast, steps = RequestParser(max_body=8), _StepByStep(max_body=8)
    assert parse_all(stream, fast) == parse_all(stream, steps)
    assert fast.diagnostics == steps.diagnostics


def test_a_whole_head_is_read_in_one_pass() -> None:
    """The common request (and one whose body is still to come) takes the one-pass read."""
    taken: list[bool] = []

    class Counting(RequestParser):
        def _take_whole_head(self) -> bool:
            taken.append(super()._take_whole_head())
            return taken[-1]

    parser = Counting()
    head = b"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"
    (first,) = parser.feed(head + b"abcd" + head + b"ab")
    assert first.body == b"abcd" and taken == [True, True]
    (second,) = parser.feed(b"cd")
    assert second == first and taken == [True, True, False]  # the last: nothing left


# What a plain header line is, as one regex: the reference for ``_header_fields``.
_PLAIN_HEADER_LINE = re.compile(
    r"^([^ \t\r\n:](?:[^:\r\n]*[^ \t:\r\n])?)[ \t]*:"  # the name, up to its first colon
    r"[ \t]*((?:[^\r\n]*[^ \t\r\n])?)[ \t]*(?:\r\n|\Z)",  # the value, without the blanks around
    re.MULTILINE,
)


def _reference_fields(text: str, room: int) -> list[tuple[str, str]] | None:
    lines = text.count("\n") + 1
    if lines > room or text.count("\r\n") != lines - 1:
        return None
    fields = _PLAIN_HEADER_LINE.findall(text)
    return fields if len(fields) == lines else None


_header_text = st.lists(
    st.one_of(
        st.sampled_from([line.decode("latin-1") for line in _ODD_HEADER_LINES]),
        st.text(alphabet=" \t:\r\nAb\x0b\xe9", max_size=12),
        st.builds("{}: {}\r\n".format, _token, _value),
    ),
    min_size=1,
    max_size=6,
).map(lambda lines: "".join(lines).removesuffix("\r\n"))


@settings(max_examples=500, deadline=None)
@given(_header_text, st.integers(0, 7))
def test_header_fields_are_what_the_plain_line_regex_reads(text: str, room: int) -> None:
    assert _header_fields(text, room) == _reference_fields(text, room)
