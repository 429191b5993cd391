"""JSON leaves and their paths."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.decoders.jsonpath import (
    JsonLeaf,
    iter_leaves,
    key_step,
    parse_container,
    parse_json,
)


def leaves(text: bytes) -> list[tuple[str, bytes, str | None]]:
    doc = parse_json(text)
    return [(leaf.path, leaf.value, leaf.key) for leaf in iter_leaves(doc)]


def test_paths_keys_and_wire_text_of_numbers() -> None:
    text = (
        b'{"properties":{"$imei":869677023945285,"lat":39.90,"ok":true,"n":null},'
        b'"list":[1,{"a b":"x"}]}'
    )
    assert leaves(text) == [
        ("$.properties.$imei", b"869677023945285", "$imei"),
        ("$.properties.lat", b"39.90", "lat"),
        ("$.properties.ok", b"true", "ok"),
        ("$.list[0]", b"1", "list"),
        ('$.list[1]["a b"]', b"x", "a b"),
    ]


def test_duplicate_keys_are_all_kept() -> None:
    assert leaves(b'{"imei":"1","imei":"2"}') == [
        ("$.imei", b"1", "imei"),
        ("$.imei", b"2", "imei"),
    ]


def test_top_level_array_and_scalar() -> None:
    assert leaves(b'["a",["b"]]') == [("$[0]", b"a", None), ("$[1][0]", b"b", None)]
    assert leaves(b'"just a string"') == [("$", b"just a string", None)]
    assert parse_container(b'"just a string"') is None
    assert parse_container(b"[]") == []


def test_key_step_quoting() -> None:
    assert key_step("imei") == ".imei"
    assert key_step("$os") == ".$os"
    assert key_step("device-id") == '["device-id"]'
    assert key_step('a"b') == '["a\\"b"]'
    assert key_step("中") == '["中"]'
    assert key_step("") == '[""]'


def test_non_utf8_bytes_survive_in_string_leaves() -> None:
    assert leaves(b'{"name":"\xd6\xd0\xce\xc4"}') == [("$.name", b"\xd6\xd0\xce\xc4", "name")]
    assert leaves(b'\xef\xbb\xbf{"a":"\\u00e9"}') == [("$.a", "é".encode(), "a")]


def test_huge_numbers_and_constants_keep_their_text() -> None:
    assert leaves(b'{"big":' + b"9" * 5000 + b',"x":NaN}') == [
        ("$.big", b"9" * 5000, "big"),
        ("$.x", b"NaN", "x"),
    ]


def test_deep_nesting_is_rejected_not_crashing() -> None:
    assert parse_json(b"[" * 100_000 + b"]" * 100_000) is None
    deep = b'{"a":' * 500 + b'"x"' + b"}" * 500
    (leaf,) = iter_leaves(parse_json(deep))
    assert leaf.value == b"x"
    assert leaf.path == "$" + ".a" * 500


def test_invalid_json() -> None:
    assert parse_json(b'{"a":') is None
    assert parse_json(b"") is None
    assert parse_container(b"not json") is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def reference(
    doc: Any, path: str = "$", key: str | None = None
) -> list[tuple[str, bytes, str | None]]:
    """Straightforward recursive flattening to compare against."""
    if isinstance(doc, dict):
        return [x for k, v in doc.items() for x in reference(v, path + key_step(k), k)]
    if isinstance(doc, list):
        return [x for i, v in enumerate(doc) for x in reference(v, f"{path}[{i}]", key)]
    if doc is None:
        return []
    if isinstance(doc, bool):
        return [(path, b"true" if doc else b"false", key)]
    if isinstance(doc, int):
        return [(path, str(doc).encode(), key)]
    return [(path, doc.encode("utf-8", "surrogatepass"), key)]


@settings(max_examples=200, deadline=None)
@given(_json)
def test_leaves_match_reference_flattening(doc: Any) -> None:
    assert leaves(json.dumps(doc).encode()) == reference(doc)
    assert leaves(
        json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ) == reference(doc)


@given(st.binary(max_size=200))
def test_never_raises(data: bytes) -> None:
    doc = parse_json(data)
    for leaf in iter_leaves(doc):
        assert isinstance(leaf, JsonLeaf)


@given(st.lists(st.text(max_size=12), max_size=50))
def test_key_step_is_the_same_remembered_or_not(keys: list[str]) -> None:
    """The remembered steps (bounded: the memo starts over when full) match a fresh quote."""
    for key in keys * 2:
        if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", key):
            assert key_step(key) == "." + key
        else:
            assert key_step(key) == "[" + json.dumps(key, ensure_ascii=False) + "]"


# Text with lone surrogates mixed in (st.characters() leaves them out by default).
_ANY_KEY = st.text(
    alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=8
)


@given(st.lists(_ANY_KEY, max_size=20))
def test_every_key_step_is_utf8_text_that_names_its_key(keys: list[str]) -> None:
    """Lone surrogates (a key of invalid UTF-8 bytes, or a "\\ud800" escape) are written
    as JSON escapes: UTF-8 files and Parquet take the path, and it reads back as the key."""
    for key in keys * 2:
        step = key_step(key)
        step.encode("utf-8")
        assert step == "." + key or json.loads(step[1:-1]) == key


def test_invalid_utf8_key_is_escaped_in_its_path() -> None:
    assert leaves(b'{"\xff\xfeimei": "860000000000025"}') == [
        ('$["\\udcff\\udcfeimei"]', b"860000000000025", "\udcff\udcfeimei")
    ]
    assert leaves(b'{"a\\ud800": 1}')[0][0] == '$["a\\ud800"]'
