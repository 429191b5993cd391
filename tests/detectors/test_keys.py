"""Key-hint matching on field keys and on the text just before a value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.detectors.keys import NEAR_WINDOW, KeyHints, fold_keys

HINTS = KeyHints(["imei", "did", "device_id", "phone"])


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("imei", "imei"),
        ("IMEI", "imei"),
        ("$imei", "imei"),
        ("deviceId", "deviceid"),
        ("device-id", "deviceid"),
        ("user_phone", "phone"),  # long hints also match as a suffix
        ("did", "did"),
        ("candid", None),  # short hints only match whole keys
        ("imei_md5", None),
        ("", None),
        (None, None),
    ],
)
def test_match(key: str | None, hint: str | None) -> None:
    assert HINTS.match(key) == hint


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (b"imei=", "imei"),
        (b'{"did":"', "did"),
        (b'{"did" : "', "did"),
        (b'\\"deviceId\\":\\"', "deviceid"),
        (b"<imei>", "imei"),
        (b'"imei":["', "imei"),
        (b"imei=1&x=", None),
        (b"imei ", None),
    ],
)
def test_match_near(text: bytes, hint: str | None) -> None:
    value = text + b"869677023945285"
    assert HINTS.match_near(value, len(text)) == hint


def test_key_far_before_the_value_is_cut_off() -> None:
    text = b"imei=" + b" " * NEAR_WINDOW
    assert HINTS.match_near(text + b"1", len(text)) is None


def test_empty_hints() -> None:
    empty = KeyHints([])
    assert not empty
    assert empty.match("imei") is None
    assert empty.match_near(b"imei=1", 5) is None


@given(st.binary(max_size=60), st.integers(min_value=0, max_value=70))
def test_match_near_never_raises(value: bytes, start: int) -> None:
    HINTS.match_near(value, start)


_KEYISH = st.sampled_from(
    [b"imei", b"IMEI", b"i", b"m", b"E", b"dev", b"ice", b"_", b"-", b"$", b".", b"Id"]
)
_VALUES = st.lists(
    st.one_of(
        _KEYISH, st.sampled_from([b"=", b":", b'"', b">", b" ", b"1"]), st.binary(max_size=3)
    ),
    max_size=14,
).map(b"".join)


@given(_VALUES, st.sampled_from([0, 1100]))
def test_no_key_can_name_a_hint_that_the_folded_value_does_not_spell(
    value: bytes, padding: int
) -> None:
    """The pre-check a key-only rule relies on never drops a match: when no hint is
    spelt in the folded value, no key before any position names one (also in a
    value long enough for the one-pass check, which searches for the same thing)."""
    value = b"\x00" * padding + value
    if not HINTS.spelt_in(fold_keys(value)):
        starts = range(max(0, padding - NEAR_WINDOW), len(value) + 1)
        assert all(HINTS.match_near(value, start) is None for start in starts)


def test_spelt_in_sees_keys_through_case_and_separators() -> None:
    assert HINTS.spelt_in(fold_keys(b'{"Device-Id":1}'))
    assert HINTS.spelt_in(fold_keys(b"x=1&I.M.E.I=2"))
    assert not HINTS.spelt_in(fold_keys(b"device=1&ident=2"))
    assert not KeyHints(["手机号"]).spelt_in(fold_keys("手机号=1".encode()))  # not a raw key


@pytest.mark.parametrize("padding", [0, 2000])
def test_a_hint_spelt_but_not_as_a_key_is_not_spelt_in(padding: int) -> None:
    """``sn`` turns up by chance in binary bodies; only ``sn`` right before a key's
    ``:``, ``=`` or ``>`` (after quotes or spaces) can be the key of a match."""
    hints = KeyHints(["serial", "sn"])
    pad = b"\x01" * padding
    for plain in (b"sn x", b"snapshot", b"sn1=2", b"sn/=1"):
        assert not hints.spelt_in(fold_keys(pad + plain)), plain
    for keyed in (b"sn=1", b'{"SN" : 1', b"s_n>1", b"build_serial='x", b'sn\\":1'):
        assert hints.spelt_in(fold_keys(pad + keyed)), keyed
