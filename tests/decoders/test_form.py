"""Declared form bodies and form-shaped strings."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.decoders.form import parse_form, parse_form_shaped


def test_declared_form_is_lenient() -> None:
    assert parse_form(b"a=1&b=x y&flag\r\n") == [("a", b"1"), ("b", b"x y"), ("flag", b"flag")]
    assert parse_form(b"") is None
    assert parse_form(b"\x00\x01binary=\x02") is None


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        (b"a=1&b=2", [("a", b"1"), ("b", b"2")]),
        (b"imei=869677023945285", [("imei", b"869677023945285")]),
        (b"data=eyJhIjoxfQ==&v=2", [("data", b"eyJhIjoxfQ=="), ("v", b"2")]),
        (b"k=v&", [("k", b"v")]),
        (b"x%5B0%5D=1&y=%E4%B8%AD", [("x[0]", b"1"), ("y", "中".encode())]),
    ],
)
def test_form_shaped_accepts(text: bytes, pairs: list[tuple[str, bytes]]) -> None:
    assert parse_form_shaped(text) == pairs


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(b"abcd"),  # YWJjZA== : padding is not a form
        b"YWJjZGU=",
        b"https://example.com/a?b=c",
        b"a=1&&b=2",
        b"a = 1",
        b"key=",
        b"=value",
        b"plain text",
        b'{"a":"b=c"}',
        b"text/html; charset=utf-8",
        b"\x00\x9c=1&a=2&b=3",  # a binary first piece, then pairs
        b"a=1&b=2&\x00\x9c=3",  # pairs, then a binary piece
    ],
)
def test_form_shaped_rejects(text: bytes) -> None:
    assert parse_form_shaped(text) is None


@given(st.binary(max_size=200))
def test_never_raise(data: bytes) -> None:
    parse_form(data)
    parse_form_shaped(data)


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", min_size=1)
)
def test_base64_with_padding_is_never_a_form(payload: str) -> None:
    encoded = base64.b64encode(payload.encode())
    if encoded.endswith(b"="):
        assert parse_form_shaped(encoded) is None


def test_lone_pair_whose_value_is_padded_base64_is_a_form() -> None:
    # a body with no Content-Type, as many SDKs send it
    assert parse_form_shaped(b"data=H4sIAJCVBGsC/6tWysxNAAAA=") == [
        ("data", b"H4sIAJCVBGsC/6tWysxNAAAA=")
    ]
