"""Known-good and known-bad vectors for every validator."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.detectors import validators as v


def complete_luhn(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if v.luhn(prefix + d))


def id_card(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(body17, weights, strict=True))
    return body17 + "10X98765432"[total % 11]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("79927398713", True),  # the textbook Luhn example
        ("79927398710", False),
        ("4111111111111111", True),
        ("0", False),
        ("12a4", False),
        ("", False),
    ],
)
def test_luhn(value: str, ok: bool) -> None:
    assert v.luhn(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("869677023945285", True),  # Baidu sample, passes Luhn
        ("356938035643809", True),
        ("869677023945286", False),  # wrong check digit
        ("000000000000000", False),
        ("86967702394528", False),  # 14 digits
        ("8696770239452850", False),  # 16 digits
        ("86967702394528a", False),
        ("８６９６７７０２３９４５２８５", False),  # full-width digits are not ASCII
    ],
)
def test_imei(value: str, ok: bool) -> None:
    assert v.imei(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("A1000012345678", True),
        ("a10000123456785", True),  # with check digit
        ("a1000012345678f", False),  # check digit must be decimal
        ("91000012345678", False),  # regional code below A0
        ("A1111111111111", False),  # A1 then a repeated digit
        ("270113179403430008", True),  # decimal form of A1000012 / 345678
        ("100000000003430008", False),  # manufacturer code below 0xA0000000
        ("270113179499999999", False),  # serial above 24 bits
        ("A100001234", False),
    ],
)
def test_meid(value: str, ok: bool) -> None:
    assert v.meid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("460001234567890", True),  # China Mobile
        ("460011234567890", True),  # China Unicom
        ("460111234567890", True),  # China Telecom 11
        ("460201234567890", True),  # Tietong
        ("460991234567890", False),  # unknown MNC
        ("460000000000000", False),  # placeholder MSIN
        ("310260123456789", True),  # US, listed MCC
        ("999001234567890", False),
        ("46000123456789", False),
    ],
)
def test_imsi(value: str, ok: bool) -> None:
    assert v.imsi(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (complete_luhn("8986011234567890123"), True),  # 20 digits, CU
        (complete_luhn("898600123456789012"), True),  # 19 digits
        ("8986061234567890123F", True),  # legacy Unicom card with a letter
        ("8986991234567890123F", False),  # letter form needs a known operator
        ("8944061234567890123F", False),  # letter form only under 8986
        ("89860112345678901230", False),  # Luhn fails
        ("98860112345678901237", False),
        ("898601123456789", False),
    ],
)
def test_iccid(value: str, ok: bool) -> None:
    assert v.iccid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("13800138000", True),
        ("+8613800138000", True),
        ("008613800138000", True),
        ("8613800138000", True),
        ("+86 138-0013-8000", True),
        ("14512345678", True),
        ("14012345678", False),  # 140-144 are 13-digit IoT numbers
        ("15412345678", False),  # 154 is not allocated
        ("12345678901", False),
        ("1700000000", False),  # 10-digit timestamp
        ("1700000000000", False),  # 13-digit timestamp
        ("+442079460958", True),  # UK landline, valid per libphonenumber
        ("+8601012345678", False),  # Beijing landline: not a mobile
        ("442079460958", False),  # foreign numbers need the "+"
        ("+1234", False),
    ],
)
def test_phone(value: str, ok: bool) -> None:
    assert v.phone(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("alice@example.com", True),
        ("bob.smith+tag@mail.example.cn", True),
        ("icon@2x.png", False),
        ("a..b@example.com", False),
        (".a@example.com", False),
        ("a@-example.com", False),
        ("a@localhost", False),
    ],
)
def test_email(value: str, ok: bool) -> None:
    assert v.email(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a4:5e:60:c2:11:9f", True),
        ("A4-5E-60-C2-11-9F", True),
        ("a45e60c2119f", True),
        ("a4:5e:60-c2:11:9f", False),  # mixed separators
        ("02:00:00:00:00:00", False),
        ("00:00:00:00:00:00", False),
        ("ff:ff:ff:ff:ff:ff", False),
        ("11:11:11:11:11:11", False),
        ("a4:5e:60:c2:11", False),
    ],
)
def test_mac(value: str, ok: bool) -> None:
    assert v.mac(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("9f89c84a559f573b", True),
        ("9F89C84A559F573B", True),
        ("9774d56d682e549c", False),  # the bogus constant of old Android builds
        ("0000000000000000", False),
        ("9f89c84a559f573", False),
        ("9f89c84a559f573g", False),
    ],
)
def test_android_id(value: str, ok: bool) -> None:
    assert v.android_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("38400000-8cf0-11bd-b23e-10b96e40000d", True),
        ("6D92078A-8246-4BA4-AE5B-76104861E7DC", True),
        ("00000000-0000-0000-0000-000000000000", False),
        ("38400000-8cf0-11bd-b23e-10b96e40000", False),
    ],
)
def test_uuid(value: str, ok: bool) -> None:
    assert v.uuid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("b3d4c8f2-1a2b-4c5d-8e9f-0a1b2c3d4e5f", True),
        ("7d4e2c9a1b3f5e6d", True),
        ("a1b2" * 16, True),  # 64 hex
        ("00000000-0000-0000-0000-000000000000", False),
        ("7d4e2c9a1b3f5e6", False),  # 15 hex
        ("a1b2" * 17, False),  # 68 hex
        ("12-34", False),
    ],
)
def test_oaid(value: str, ok: bool) -> None:
    assert v.oaid(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("R58M12ABCDE", True),
        ("0123456789ABCDEF", True),
        ("unknown", False),
        ("123456", False),  # digits only: a counter, not a serial
        ("abcdefgh", False),
        ("abc1", False),
        ("A" * 21, False),
    ],
)
def test_serial(value: str, ok: bool) -> None:
    assert v.serial(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (id_card("11010519900307123"), True),
        (id_card("44030419851231002"), True),  # check character X
        (id_card("31011520000229456"), True),  # 29 Feb of a leap year
        (id_card("31011519000229456"), False),  # 1900 was not a leap year
        (id_card("11010519901307123"), False),  # month 13
        (id_card("91010519900307123"), False),  # region digit 9
        ("110105199003071238", False),  # wrong check character
        ("11010519900307123", False),
    ],
)
def test_id_card(value: str, ok: bool) -> None:
    assert v.id_card(value) is ok


def test_id_card_check_character_x() -> None:
    value = id_card("44030419851231002")
    assert value.endswith("X")
    assert v.id_card(value.lower())


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("6222021234567890128", True),
        ("6217001234567893", True),
        ("6222021234567890127", False),
        ("0000000000000000", False),
        ("621700123456789", False),  # 15 digits
    ],
)
def test_bank_card(value: str, ok: bool) -> None:
    assert v.bank_card(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("39.908722,116.397499", True),
        ("-33.8688, 151.2093", True),
        ("0,0", False),
        ("91.0,10.0", False),
        ("10.0,181.0", False),
        ("abc", False),
    ],
)
def test_coordinates(value: str, ok: bool) -> None:
    assert v.coordinates(value) is ok


def test_registry_names_match_functions() -> None:
    for name, spec in v.VALIDATORS.items():
        assert spec.check.__name__ == name
        assert spec.evidence.endswith("_ok")


@given(st.text(max_size=40))
def test_validators_never_raise(text: str) -> None:
    for spec in v.VALIDATORS.values():
        assert spec.check(text) in (True, False)


@given(st.from_regex(r"[0-9]{14}", fullmatch=True))
def test_completed_imeis_validate(prefix: str) -> None:
    value = complete_luhn(prefix)
    assert v.imei(value) is (len(set(value)) > 1)
