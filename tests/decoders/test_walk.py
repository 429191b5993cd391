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


# -- lists: their elements joined, for the patterns of lists ---------------------------


def joined(w: Walker) -> list[Field]:
    return [f for f in w.budget.fields if f.joined]


def test_a_json_array_of_strings_is_also_one_joined_field() -> None:
    w = walker()
    w.content(
        ("body",), b'{"apps": ["com.a.b", "com.c.d", "com.a.b"], "n": [1, 2]}', None, 0, None, []
    )
    assert [f.where for f in w.budget.fields if not f.joined] == [
        "body>json:$.apps[0]",
        "body>json:$.apps[1]",
        "body>json:$.apps[2]",
        "body>json:$.n[0]",
        "body>json:$.n[1]",
    ]
    # distinct strings, in order; numbers are not lists of names
    assert joined(w) == [Field("body>json:$.apps[*]", b"com.a.b,com.c.d", "apps", joined=True)]


def test_one_key_across_an_array_of_objects_is_joined() -> None:
    doc = {"d": {"list": [{"pkg": "a.b", "v": "1"}, {"pkg": "c.d", "v": "1"}]}}
    w = walker()
    w.content(("body",), json.dumps(doc).encode(), None, 0, None, [])
    # "v" holds one value repeated: nothing a list pattern could need
    assert joined(w) == [Field("body>json:$.d.list[*].pkg", b"a.b,c.d", "pkg", joined=True)]


def test_nested_arrays_and_lists_of_one_give_no_more_than_they_should() -> None:
    w = walker()
    w.content(("body",), b'{"a": ["x"], "b": [["p", "q"], ["r"]]}', None, 0, None, [])
    assert joined(w) == [Field("body>json:$.b[*][*]", b"p,q,r", "b", joined=True)]


def test_repeated_form_keys_are_joined_under_their_name() -> None:
    w = walker()
    body = b"pkg=a.b&pkg=c.d&apps[]=e.f&apps[]=g.h&apps[2]=i.j&one=1"
    w.content(("body",), body, None, 0, parse_media_type("application/x-www-form-urlencoded"), [])
    assert joined(w) == [
        Field("body>form:pkg", b"a.b,c.d", "pkg", joined=True),
        Field("body>form:apps[*]", b"e.f,g.h,i.j", "apps", joined=True),
    ]


def test_a_joined_list_is_paid_for_from_the_decoded_bytes() -> None:
    w = walker(max_total_bytes=10)
    w.content(("body",), b'["abcdef", "ghijkl"]', None, 0, None, [])
    assert joined(w) == [Field("body>json:$[*]", b"abcdef,ghi", None, joined=True)]
    assert [d.detail for d in w.budget.diagnostics] == ["max_total_bytes: body>json:$[*]"]


_ELEMENT = st.text(alphabet="abc.", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["k", "m", "x y"]), st.lists(_ELEMENT, max_size=6)))
def test_each_array_is_joined_once_from_its_distinct_strings(doc: dict[str, list[str]]) -> None:
    w = walker()
    w.content(("body",), json.dumps(doc).encode(), None, 0, None, [])
    expected = {}
    for key, values in doc.items():
        distinct = list(dict.fromkeys(values))
        if len(distinct) > 1:
            step = "." + key if key.isalpha() else f'["{key}"]'
            expected[f"body>json:${step}[*]"] = ",".join(distinct).encode()
    assert {f.where: f.value for f in joined(w)} == expected
    assert all(f.key in doc for f in joined(w))
    # the elements are still each a field of their own
    assert sum(not f.joined for f in w.budget.fields) == sum(map(len, doc.values()))


def _pb(number: int, text: bytes) -> bytes:
    return bytes([number << 3 | 2, len(text)]) + text


def test_a_repeated_protobuf_field_is_joined() -> None:
    message = _pb(1, b"com.a.b") + _pb(1, b"com.c.d") + _pb(2, _pb(3, b"x.y")) + _pb(4, b"solo")
    w = walker()
    w.content(("body",), message, None, 0, parse_media_type("application/x-protobuf"), [])
    assert joined(w) == [Field("body>protobuf:field.1", b"com.a.b,com.c.d", None, joined=True)]
