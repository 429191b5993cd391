"""multipart/form-data splitting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leaktrace.decoders.mediatype import MediaType
from leaktrace.decoders.multipart import parse_multipart

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"


def body(*parts: bytes, close: bool = True, eol: bytes = b"\r\n") -> bytes:
    delim = b"--" + BOUNDARY.encode()
    out = b"preamble" + eol
    for part in parts:
        out += delim + eol + part + eol
    if close:
        out += delim + b"--" + eol
    return out


def test_parts_with_names_types_and_files() -> None:
    data = body(
        b'Content-Disposition: form-data; name="meta"\r\n'
        b'Content-Type: application/json\r\n\r\n{"imei":"1"}',
        b'Content-Disposition: form-data; name="file"; filename="crash.log"\r\n'
        b"Content-Type: application/octet-stream\r\nContent-Encoding: gzip\r\n\r\n"
        b"\x1f\x8b\r\nbinary\r\n",
        b"Content-Disposition: form-data; name=plain\r\n\r\nvalue",
    )
    meta, file, plain = parse_multipart(data, BOUNDARY) or []
    assert meta.name == "meta"
    assert meta.media == MediaType("application/json")
    assert meta.body == b'{"imei":"1"}'
    assert file.filename == "crash.log"
    assert file.codings == ("gzip",)
    assert file.body == b"\x1f\x8b\r\nbinary\r\n"
    assert plain.name == "plain"
    assert plain.body == b"value"


def test_lf_only_and_missing_close_delimiter() -> None:
    data = body(
        b"Content-Disposition: form-data; name=a\n\n1",
        b"Content-Disposition: form-data; name=b\n\n2",
        close=False,
        eol=b"\n",
    )
    parts = parse_multipart(data, BOUNDARY)
    assert [(p.name, p.body) for p in parts or []] == [("a", b"1"), ("b", b"2\n")]


def test_truncated_part_keeps_what_arrived() -> None:
    data = body(b'Content-Disposition: form-data; name="a"\r\n\r\nfull') + b""
    cut = data[: data.index(b"full") + 2]
    assert [(p.name, p.body) for p in parse_multipart(cut, BOUNDARY) or []] == [("a", b"fu")]


def test_no_delimiter() -> None:
    assert parse_multipart(b"just a body", BOUNDARY) is None
    assert parse_multipart(b"", BOUNDARY) is None


@given(st.binary(max_size=300), st.text(min_size=1, max_size=10))
def test_never_raises(data: bytes, boundary: str) -> None:
    parse_multipart(data, boundary)
    parse_multipart(b"--" + boundary.encode() + b"\r\n" + data, boundary)
