"""Text from traffic and files: every output can write it, decoders get its bytes back."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from leaktrace.text import escape_surrogates, text_bytes, wire_bytes

# Text with lone surrogates mixed in (st.characters() leaves them out by default).
_ANY_TEXT = st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])))


def test_escapes_only_lone_surrogates() -> None:
    assert escape_surrogates("plain") == "plain"
    assert escape_surrogates("手机号 é") == "手机号 é"
    assert escape_surrogates("a\ud800b\udcff") == "a\\ud800b\\udcff"


@given(_ANY_TEXT)
def test_escaped_text_is_utf8_and_reads_back_inside_a_json_string(text: str) -> None:
    escaped = escape_surrogates(text)
    escaped.encode("utf-8")
    quoted = json.dumps(text, ensure_ascii=False)
    assert json.loads(escape_surrogates(quoted)) == text


@given(st.binary())
def test_bytes_kept_as_surrogates_come_back(data: bytes) -> None:
    assert text_bytes(data.decode("utf-8", "surrogateescape")) == data


def test_other_lone_surrogates_are_encoded_as_they_stand() -> None:
    assert text_bytes("a\ud800") == b"a\xed\xa0\x80"


@given(st.binary())
def test_latin1_text_gives_back_its_wire_bytes(data: bytes) -> None:
    assert wire_bytes(data.decode("latin-1")) == data


def test_other_text_gives_its_utf8_bytes() -> None:
    assert wire_bytes("手机") == "手机".encode()
    assert wire_bytes("k\udcff") == b"k\xff"
