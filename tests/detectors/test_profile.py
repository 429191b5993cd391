"""Device-profile matching: the device's values plain, case-folded, hashed and encoded."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest

from leaktrace.detectors import DetectorSet
from leaktrace.detectors.profile import MIN_VALUE_BYTES, variants_for
from leaktrace.profile import DeviceProfile
from leaktrace.signatures import SignatureSet
from leaktrace.types import Detection, Field

IMEI = "869677023945285"
ANDROID_ID = "9f89c84a559f573b"
MAC = "a4:5e:60:c2:11:9f"
PHONE = "13800138000"
EMAIL = "alice@example.com"


@pytest.fixture(scope="module")
def detector(signatures: SignatureSet) -> DetectorSet:
    device = DeviceProfile(
        imei=[IMEI, "356938035643809"],
        android_id=[ANDROID_ID],
        mac=[MAC],
        phone=[PHONE],
        email=[EMAIL],
        name=["张伟"],
        serial=["abc"],  # too short to match safely
    )
    return DetectorSet(signatures, device)


def profile_hits(detector: DetectorSet, value: bytes, key: str | None = None) -> list[Detection]:
    return [d for d in detector.detect([Field("f", value, key=key)]) if d.method == "profile"]


def one(detector: DetectorSet, value: bytes) -> Detection:
    found = profile_hits(detector, value)
    assert len(found) == 1, found
    return found[0]


def hexdigest(algo: str, text: str) -> str:
    return hashlib.new(algo, text.encode()).hexdigest()


def test_md5_of_android_id_inside_a_json_string(detector: DetectorSet) -> None:
    body = b'{"device":{"aid":"' + hexdigest("md5", ANDROID_ID).encode() + b'"}}'
    det = one(detector, body)
    assert (det.type, det.value, det.form, det.confidence) == ("android_id", ANDROID_ID, "md5", 1.0)
    assert det.evidence == ("preimage:plain",)


def test_sha256_upper_case_hex(detector: DetectorSet) -> None:
    det = one(detector, b"h=" + hexdigest("sha256", IMEI).upper().encode())
    assert (det.type, det.value, det.form) == ("imei", IMEI, "sha256")


def test_base64_of_imei(detector: DetectorSet) -> None:
    encoded = base64.b64encode(IMEI.encode())
    det = one(detector, b'{"d":"' + encoded + b'"}')
    assert (det.type, det.form) == ("imei", "base64")


def test_digest_in_base64(detector: DetectorSet) -> None:
    encoded = base64.b64encode(hashlib.sha1(IMEI.encode()).digest())
    assert one(detector, b"x=" + encoded).form == "sha1_base64"


def test_mac_without_colons_upper_case(detector: DetectorSet) -> None:
    det = one(detector, b"mc=A45E60C2119F&x=1")
    assert (det.type, det.value, det.form, det.confidence) == ("mac", MAC, "nosep", 1.0)


def test_md5_of_upper_case_mac_without_colons(detector: DetectorSet) -> None:
    det = one(detector, hexdigest("md5", "A45E60C2119F").encode())
    assert (det.type, det.form) == ("mac", "md5")
    assert det.evidence == ("preimage:nosep_upper",)


def test_upper_case_mac_is_a_case_folded_form(detector: DetectorSet) -> None:
    det = one(detector, b"A4:5E:60:C2:11:9F")
    assert (det.form, det.confidence) == ("upper", 0.9)


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (b"+8613800138000", "e164"),
        (b"tel=8613800138000", "e164"),
        (b"008613800138000", "e164"),
        (b"13800138000", "plain"),
    ],
)
def test_phone_with_and_without_country_code(detector: DetectorSet, text: bytes, form: str) -> None:
    det = one(detector, text)
    assert (det.type, det.value, det.form) == ("phone", PHONE, form)


def test_hash_of_phone_with_country_code(detector: DetectorSet) -> None:
    det = one(detector, hexdigest("md5", "+86" + PHONE).encode())
    assert (det.type, det.form) == ("phone", "md5")


def test_urlencoded_email(detector: DetectorSet) -> None:
    det = one(detector, b"u=" + quote(EMAIL, safe="").encode())
    assert (det.type, det.form) == ("email", "urlencoded")


def test_cjk_name_plain_and_percent_encoded(detector: DetectorSet) -> None:
    assert one(detector, '{"realName":"张伟"}'.encode()).form == "plain"
    assert one(detector, b"n=" + quote("张伟").encode()).form == "urlencoded"
    assert profile_hits(detector, "李伟".encode()) == []


def test_digits_inside_a_longer_number_do_not_count(detector: DetectorSet) -> None:
    assert profile_hits(detector, b"id=1" + IMEI.encode()) == []
    assert profile_hits(detector, IMEI.encode() + b"7") == []
    assert one(detector, b"a" + IMEI.encode() + b"b").form == "plain"


def test_words_inside_longer_words_do_not_count(detector: DetectorSet) -> None:
    assert profile_hits(detector, b"x" + ANDROID_ID.encode()) == []
    assert profile_hits(detector, hexdigest("md5", IMEI).encode() + b"0") == []


def test_dual_sim_imeis_both_found(detector: DetectorSet) -> None:
    found = profile_hits(detector, b"imei1=869677023945285&imei2=356938035643809")
    assert sorted(d.value for d in found) == ["356938035643809", IMEI]


def test_profile_beats_pattern_for_the_same_value(detector: DetectorSet) -> None:
    found = [
        d for d in detector.detect([Field("q", IMEI.encode(), key="imei")]) if d.type == "imei"
    ]
    assert len(found) == 1
    assert found[0].method == "profile"


def test_short_values_are_ignored_and_reported(detector: DetectorSet) -> None:
    assert any(d.name == "profile_value_ignored" for d in detector.setup_diagnostics)
    assert profile_hits(detector, b"sn=abc") == []


def test_variants_are_unique_and_long_enough() -> None:
    variants = variants_for("mac", "A4-5E-60-C2-11-9F")
    keys = [(v.needle, v.caseless) for v in variants]
    assert len(keys) == len(set(keys))
    assert all(len(v.needle) >= MIN_VALUE_BYTES for v in variants)
    assert {v.value for v in variants} == {MAC}
    forms = {v.form for v in variants}
    assert {"plain", "lower", "nosep", "md5", "sha1", "sha256", "base64"} <= forms
    assert {"md5_base64", "sha1_base64", "sha256_base64"} <= forms


def test_url_safe_base64_digest_is_included() -> None:
    needles = {v.needle for v in variants_for("imei", IMEI)}
    for algo in ("md5", "sha1", "sha256"):
        digest = hashlib.new(algo, IMEI.encode()).digest()
        assert base64.urlsafe_b64encode(digest).rstrip(b"=") in needles
        assert base64.b64encode(digest).rstrip(b"=") in needles
