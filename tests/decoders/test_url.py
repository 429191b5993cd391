"""Request-target splitting and query decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.decoders.url import parse_query, percent_decode, split_target


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        ("/a/b?x=1&y=2", b"/a/b", b"x=1&y=2"),
        ("/a/b", b"/a/b", b""),
        ("/a?x=1#frag", b"/a", b"x=1"),
        ("http://api.example.com/v1/track?imei=1", b"/v1/track", b"imei=1"),
        ("http://api.example.com?x=1", b"/", b"x=1"),
        ("http://api.example.com", b"/", b""),
        ("api.example.com:443", None, b""),
        ("*", b"*", b""),
    ],
)
def test_split_target(target: str, path: bytes | None, query: bytes) -> None:
    assert split_target(target) == (path, query)


def test_percent_decode_keeps_bytes_and_bad_escapes() -> None:
    assert percent_decode(b"%E4%B8%AD%B5") == b"\xe4\xb8\xad\xb5"
    assert percent_decode(b"100%zz%4") == b"100%zz%4"
    assert percent_decode(b"a+b") == b"a+b"
    assert percent_decode(b"a+b", plus_is_space=True) == b"a b"


def test_parse_query_order_duplicates_and_bare_params() -> None:
    pairs = parse_query(b"imei=86%2096&imei=2&flag&&empty=&%24key=v+w&blob")
    assert pairs == [
        ("imei", b"86 96"),
        ("imei", b"2"),
        ("flag", b"flag"),
        ("empty", b""),
        ("$key", b"v w"),
        ("blob", b"blob"),
    ]


def test_non_latin1_target_from_other_sources() -> None:
    assert split_target("/中?q=文") == ("/中".encode(), "q=文".encode())


def test_parse_query_names_with_odd_bytes_stay_visible() -> None:
    assert parse_query(b"%FFname=1") == [("\\xffname", b"1")]


@given(st.binary(max_size=200))
def test_never_raises(data: bytes) -> None:
    parse_query(data)
    percent_decode(data, plus_is_space=True)
    split_target(data.decode("latin-1"))


@given(st.lists(st.tuples(st.text(min_size=1, max_size=10), st.binary(max_size=20)), max_size=5))
def test_roundtrip_with_urlencode(pairs: list[tuple[str, bytes]]) -> None:
    from urllib.parse import quote_plus

    query = "&".join(f"{quote_plus(n)}={quote_plus(v)}" for n, v in pairs).encode()
    assert parse_query(query) == pairs
