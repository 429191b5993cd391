"""base64 / hex detection: decode what is meant, leave accidents alone."""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.decoders.binary import is_meaningful, try_base64, try_hex


def test_base64_json() -> None:
    raw = b'{"$imei":"869677023945285"}'
    assert try_base64(base64.b64encode(raw)) == ("base64", raw)


def test_base64url_without_padding() -> None:
    raw = b'{"device":"??>>~~"}' + "中文".encode()
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=")
    assert b"-" in encoded or b"_" in encoded
    assert try_base64(encoded) == ("base64url", raw)


def test_base64_of_gzip_is_meaningful() -> None:
    blob = gzip.compress(b"\x00\x01" * 50)
    assert try_base64(base64.b64encode(blob)) == ("base64", blob)
    assert try_base64(base64.b64encode(zlib.compress(b"x" * 40))) is not None


def test_mime_line_breaks_and_plus_turned_space() -> None:
    raw = b"device id is 869677023945285, carrier 46000 and so on" * 3
    mime = base64.encodebytes(raw)
    assert b"\n" in mime.strip()
    assert try_base64(mime) == ("base64", raw)
    spaced = base64.b64encode(b"\xfb\xef\xbe?>>>!!").replace(b"+", b" ")
    assert b" " in spaced
    assert try_base64(spaced) is None  # decodes, but to junk
    text = b"ok>>>?????"
    spaced_text = base64.b64encode(text).replace(b"+", b" ")
    assert b" " in spaced_text
    assert try_base64(spaced_text) == ("base64", text)


@pytest.mark.parametrize(
    "value",
    [
        hashlib.md5(b"869677023945285").hexdigest().encode(),  # valid alphabet, decodes to junk
        hashlib.sha256(b"x").hexdigest().encode(),
        b"username",
        b"869677023945285",
        b"abc",
        b"YWJj",  # too short
        b"YWJjZA=",  # wrong padding
        b"YWJjZB==",  # non-canonical last character
        b"a+b-c_d/",  # mixed alphabets
        b"hello world",
    ],
)
def test_not_base64(value: bytes) -> None:
    assert try_base64(value) is None


def test_hex() -> None:
    assert try_hex(b"7b22696d6569223a2231227d") == ("hex", b'{"imei":"1"}')
    assert try_hex(b"7B22696D6569223A2231227D") == ("hex", b'{"imei":"1"}')
    assert try_hex(hashlib.md5(b"x").hexdigest().encode()) is None
    assert try_hex(b"1234567890123456") is None
    assert try_hex(b"7b22696d656922") is None  # shorter than 16
    assert try_hex(b"7b22696d6569223a2231227") is None  # odd
    assert try_hex(gzip.compress(b"a").hex().encode()) is not None


def test_is_meaningful() -> None:
    assert is_meaningful("定位信息 lat=39.9".encode())
    assert is_meaningful(b"\x28\xb5\x2f\xfd\x00\x00")
    assert not is_meaningful(b"")
    assert not is_meaningful(bytes(range(256)))
    assert not is_meaningful(b"\xd6\xd0\xce\xc4" * 4)  # GBK: not UTF-8


@given(st.binary(max_size=200))
def test_never_raise(data: bytes) -> None:
    try_base64(data)
    try_hex(data)
    is_meaningful(data)


_PRINTABLE = st.characters(
    min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cc", "Cs")
)


@given(st.text(alphabet=_PRINTABLE, min_size=6, max_size=80))
def test_printable_text_roundtrips(text: str) -> None:
    raw = text.encode()
    assert try_base64(base64.b64encode(raw)) == ("base64", raw)
    assert try_hex(raw.hex().encode()) == (("hex", raw) if len(raw) >= 8 else None)
