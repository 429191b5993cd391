"""Pattern detection: validators, key hints, canonical values and bounds."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.detectors import DetectorSet, patterns
from leaktrace.detectors.patterns import MAX_CANDIDATES
from leaktrace.detectors.validators import luhn
from leaktrace.signatures import SignatureSet
from leaktrace.types import Detection, Field


@pytest.fixture(scope="module")
def detector(signatures: SignatureSet) -> DetectorSet:
    return DetectorSet(signatures)


def only(detections: list[Detection], type_id: str) -> Detection:
    found = [d for d in detections if d.type == type_id]
    assert len(found) == 1, detections
    return found[0]


def test_imei_without_key(detector: DetectorSet) -> None:
    det = only(detector.detect([Field("body", b"x 869677023945285 y")]), "imei")
    assert det == Detection(
        type="imei",
        value="869677023945285",
        method="pattern",
        confidence=0.6,
        where="body",
        form="plain",
        evidence=("luhn_ok",),
    )


@pytest.mark.parametrize("key", ["imei", "deviceId", "device-id", "$imei", "IMEI1", "user_imei"])
def test_imei_with_field_key(detector: DetectorSet, key: str) -> None:
    det = only(detector.detect([Field("query:x", b"869677023945285", key=key)]), "imei")
    assert det.confidence == 0.95
    assert det.evidence[0] == "luhn_ok"
    assert det.evidence[1].startswith("key:")


@pytest.mark.parametrize(
    "text",
    [
        b"imei=869677023945285",
        b'{"deviceId": "869677023945285"}',
        b'{\\"did\\":\\"869677023945285\\"}',
        b"<imei>869677023945285</imei>",
    ],
)
def test_key_written_before_the_value(detector: DetectorSet, text: bytes) -> None:
    det = only(detector.detect([Field("body", text)]), "imei")
    assert det.confidence == 0.95


def test_key_of_another_value_does_not_count(detector: DetectorSet) -> None:
    det = only(detector.detect([Field("body", b"imei=abc&x=869677023945285")]), "imei")
    assert det.confidence == 0.6


def test_short_hints_must_match_whole_keys(detector: DetectorSet) -> None:
    # "did" is a hint; "candid" merely ends with it.
    det = only(detector.detect([Field("q", b"869677023945285", key="candid")]), "imei")
    assert det.confidence == 0.6


@pytest.mark.parametrize(
    ("type_id", "text", "key"),
    [
        ("android_id", b"9f89c84a559f573b", "androidId"),
        ("ad_id", b"38400000-8cf0-11bd-b23e-10b96e40000d", "gaid"),
        ("oaid", b"7d4e2c9a1b3f5e6d", "oaid"),
        ("bank_card", b"6222021234567890128", "card_no"),
        ("serial", b"R58M12ABCDE", "build_serial"),
        ("bssid", b"a4:5e:60:c2:11:9f", "bssid"),
    ],
)
def test_key_required_types(detector: DetectorSet, type_id: str, text: bytes, key: str) -> None:
    assert not [d for d in detector.detect([Field("v", text)]) if d.type == type_id]
    assert only(detector.detect([Field("v", text, key=key)]), type_id).confidence >= 0.85


@pytest.mark.parametrize(
    ("type_id", "text", "value"),
    [
        ("phone", b'{"mobile":"+86 138-0013-8000"}', "13800138000"),
        ("phone", b"tel=008618912345678", "18912345678"),
        ("phone", b"+442079460958", "+442079460958"),
        ("mac", b"A4-5E-60-C2-11-9F", "a4:5e:60:c2:11:9f"),
        ("iccid", b"8986061234567890123f", "8986061234567890123F"),
        ("id_card", b"44030419851231002x", "44030419851231002X"),
        ("email", b"Alice@Example.COM", "alice@example.com"),
    ],
)
def test_canonical_values(detector: DetectorSet, type_id: str, text: bytes, value: str) -> None:
    assert only(detector.detect([Field("v", text)]), type_id).value == value


def test_keyed_claim_beats_unkeyed_claims_of_other_types(detector: DetectorSet) -> None:
    # A bssid is shaped like a MAC; the key settles which it is.
    found = detector.detect([Field("json:$.bssid", b"a4:5e:60:c2:11:9f", key="bssid")])
    assert [d.type for d in found] == ["bssid"]
    # An IMSI can pass the IMEI Luhn check; the key settles it too.
    imsi = next(f"46000123456789{d}" for d in "0123456789" if luhn(f"46000123456789{d}"))
    found = detector.detect([Field("q:imsi", imsi.encode(), key="imsi")])
    assert [d.type for d in found] == ["imsi"]
    unkeyed = {d.type for d in detector.detect([Field("q", imsi.encode())])}
    assert unkeyed == {"imsi", "imei"}


def test_many_candidates_report_a_limit(detector: DetectorSet) -> None:
    value = b" ".join([b"123456789012345"] * (MAX_CANDIDATES + 5))
    result = detector.run([Field("body", value)])
    assert any(d.name == "detect_limit" and "imei.digits15" in d.detail for d in result.diagnostics)


def test_repeated_value_reported_once_with_best_evidence(detector: DetectorSet) -> None:
    found = detector.detect([Field("b", b"869677023945285 imei=869677023945285")])
    assert only(found, "imei").confidence == 0.95


@settings(max_examples=200)
@given(
    # Epoch timestamps from 2001 to 2100 in s, ms, us and ns. (A 13-digit
    # number starting 86 would be a year-2243 timestamp but a real +86 phone.)
    st.one_of(
        st.integers(min_value=10**9, max_value=41 * 10**8),
        st.integers(min_value=10**12, max_value=41 * 10**11),
        st.integers(min_value=10**15, max_value=41 * 10**14),
        st.integers(min_value=10**18, max_value=41 * 10**17),
    ),
    st.sampled_from(["ts={}", '{{"t":{}}}', "{}", "time={}&x=1"]),
)
def test_timestamps_are_never_phones_or_imeis(
    detector: DetectorSet, stamp: int, template: str
) -> None:
    found = detector.detect([Field("q", template.format(stamp).encode(), key="ts")])
    assert not [d for d in found if d.type in ("phone", "imei")]


def test_a_key_only_type_is_not_looked_for_in_a_blob_that_names_none_of_its_keys(
    detector: DetectorSet,
) -> None:
    """Random bytes are full of short digit runs, each a cell id by shape: with no
    cell key spelt anywhere none is examined, and one that is keyed is still found."""
    blob = random.Random(7).randbytes(64 << 10)
    assert blob.count(b"=") and sum(ch in b"0123456789" for ch in blob) > 2000
    result = detector.run([Field("body", blob)])
    assert not [d for d in result.diagnostics if d.name == "detect_limit"]
    assert not [d for d in result.detections if d.type == "cell_id"]
    keyed = blob[:100] + b"&lac=4566&" + blob[100:]
    found = detector.run([Field("body", keyed)]).detections
    assert [d.value for d in found if d.type == "cell_id"] == ["4566"]


_BODY_PARTS = st.sampled_from(
    [
        b"sn=R58M12ABCDE",
        b'"SN" : "ZY223K9XQP"',
        b"cid:12345&lac=4321",
        b"<serialno>0123456789ABCDEF</serialno>",
        b"imei=869677023945285",
        b"bssid>a4:5e:60:c2:11:9f",
        b"sn x 98765432",
        b"snapshot=1",
        b" ",
        b"&",
    ]
)


@settings(max_examples=80, deadline=None)
@given(
    parts=st.lists(st.one_of(_BODY_PARTS, st.binary(max_size=40)), max_size=12),
    pad=st.binary(min_size=16, max_size=16),
)
def test_a_large_value_finds_what_the_rule_by_rule_checks_find(
    signatures: SignatureSet, parts: list[bytes], pad: bytes
) -> None:
    """Past KEYED_DIRECT_MAX the key-only rules are ruled in or out by one scanner
    pass over the folded value instead of one regex each: the detections are the
    same either way."""
    value = pad * 70 + b"".join(parts)  # over 1 KB even once folded
    field = Field("body", value)
    detectors = DetectorSet(signatures)
    one_pass = detectors.detect([field])
    with mock.patch.object(patterns, "KEYED_DIRECT_MAX", 1 << 60):
        rule_by_rule = DetectorSet(signatures).detect([field])
    assert one_pass == rule_by_rule
