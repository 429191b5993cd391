"""Walker emission rules: what is kept whole, what is opened, and what each step costs."""

from __future__ import annotations

import base64
import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.decoders import walk
from leaktrace.decoders.budget import Budget, DecodeLimits
from leaktrace.decoders.mediatype import parse_media_type
from leaktrace.decoders.walk import Walker
from leaktrace.types import Field


def walker(**limits: int) -> Walker:
    return Walker(Budget(DecodeLimits(**limits)))


def test_leaf_that_is_a_container_is_emitted_and_opened() -> None:
    w = walker()
    w.leaf(("query:d",), b'{"a":"1"}', "d")
    assert w.budget.fields == [
        Field("query:d", b'{"a":"1"}', "d"),
        Field("query:d>json:$.a", b"1", "a"),
    ]


def test_content_that_is_a_container_is_only_opened() -> None:
    w = walker()
    w.content(("body",), b'{"a":"1"}', None, 0, None, [])
    assert w.budget.fields == [Field("body>json:$.a", b"1", "a")]


def test_container_at_the_depth_bound_is_kept_whole() -> None:
    w = walker(max_depth=1)
    w.content(("body",), b"x=" + base64.b64encode(b'{"a":"1"}'), None, 0, None, [])
    assert w.budget.fields == [Field("body>form:x", base64.b64encode(b'{"a":"1"}'), "x")]
    assert [d.detail for d in w.budget.diagnostics] == ["max_depth: body>form:x"]


def test_decoded_intermediate_is_emitted_unless_compressed_or_container() -> None:
    w = walker()
    w.leaf(("v",), base64.b64encode(b"plain text here"), None)
    assert [f.where for f in w.budget.fields] == ["v", "v>base64"]
    w = walker()
    w.leaf(("v",), base64.b64encode(gzip.compress(b"plain text here")), None)
    assert [f.where for f in w.budget.fields] == ["v", "v>base64>gzip"]


def test_key_is_inherited_until_a_closer_one_appears() -> None:
    w = walker()
    w.leaf(("form:data",), base64.b64encode(json.dumps(["x", {"imei": "1"}]).encode()), "data")
    keys = {f.where: f.key for f in w.budget.fields}
    assert keys["form:data>base64>json:$[0]"] == "data"
    assert keys["form:data>base64>json:$[1].imei"] == "imei"


def test_declared_multipart_without_boundary_in_body_is_reported() -> None:
    w = walker()
    media = parse_media_type("multipart/form-data; boundary=zz")
    w.content(("body",), b"a=1", None, 0, media, [])
    assert [d.detail for d in w.budget.diagnostics] == ["multipart: boundary not found: body"]
    assert Field("body>form:a", b"1", "a") in w.budget.fields


def test_part_with_its_own_content_encoding() -> None:
    w = walker()
    body = (
        b"--b\r\nContent-Disposition: form-data; name=p\r\nContent-Encoding: gzip\r\n"
        b"Content-Type: application/json\r\n\r\n" + gzip.compress(b'{"k":"v"}') + b"\r\n--b--\r\n"
    )
    w.content(("body",), body, None, 0, parse_media_type("multipart/form-data; boundary=b"), [])
    assert w.budget.fields == [Field("body>multipart:p>gzip>json:$.k", b"v", "k")]


def test_nothing_happens_once_fields_are_full() -> None:
    w = walker(max_fields=1)
    w.leaf(("a",), b"1", None)
    w.leaf(("b",), b"x=1&y=2", None)
    w.content(("body",), b'{"a":1}', None, 0, None, [])
    assert w.budget.fields == [Field("a", b"1")]
    assert [d.detail for d in w.budget.diagnostics] == ["max_fields: b"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.sampled_from([b"abc", b"a=b", b"%41%42", b"{}"])))
def test_plain_values_remembered_give_the_same_fields(values: list[bytes]) -> None:
    """The set of values known to decode to nothing more changes nothing but speed."""

    def fields() -> list[Field]:
        w = walker()
        for i, value in enumerate(values):
            w.leaf((f"q:{i}",), value, f"k{i}")
        return w.budget.fields

    walk._PLAIN.clear()
    cold = fields()
    assert fields() == cold  # second pass: answered from the set
    walk._PLAIN.clear()
