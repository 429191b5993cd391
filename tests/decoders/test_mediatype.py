"""Content-Type and Content-Encoding parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.decoders.mediatype import MediaType, parse_codings, parse_media_type


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("application/json", "json"),
        ("application/json; charset=UTF-8", "json"),
        ("application/vnd.api+json", "json"),
        ("text/json", "json"),
        ("Application/X-WWW-Form-Urlencoded;charset=utf-8", "form"),
        ('multipart/form-data; boundary="a b;c"', "multipart"),
        ("multipart/form-data", "other"),  # no boundary, cannot split
        ("application/octet-stream", "other"),
        ("text/plain", "other"),
    ],
)
def test_kind(value: str, kind: str) -> None:
    media = parse_media_type(value)
    assert media is not None
    assert media.kind == kind


def test_params_quoted_and_escaped() -> None:
    media = parse_media_type('multipart/form-data; Boundary="a\\"b;c" ; charset=utf-8')
    assert media == MediaType("multipart/form-data", (("boundary", 'a"b;c'), ("charset", "utf-8")))
    assert media.param("boundary") == 'a"b;c'
    assert parse_media_type("") is None
    assert parse_media_type(None) is None


def test_codings() -> None:
    assert parse_codings(["gzip, identity", "X-GZIP", " br "]) == ["gzip", "gzip", "br"]
    assert parse_codings([""]) == []


@given(st.text(max_size=80))
def test_never_raises(value: str) -> None:
    media = parse_media_type(value)
    if media is not None:
        assert media.kind in ("json", "form", "multipart", "other")
    parse_codings([value])
