"""One canonical spelling per identifier, shared by the pattern and profile detectors."""

from __future__ import annotations

import pytest

from leaktrace.detectors.canonical import canonical_mac, canonical_phone, canonical_value


@pytest.mark.parametrize(
    ("type_id", "raw", "value"),
    [
        ("imei", " 86-9677-0239-45285 ", "869677023945285"),
        ("bank_card", "6222 0212 3456 7890 128", "6222021234567890128"),
        ("iccid", "8986061234567890123f", "8986061234567890123F"),
        ("meid", "a1000012345678", "A1000012345678"),
        ("id_card", "44030419851231002x", "44030419851231002X"),
        ("ad_id", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("email", "Alice@Example.com", "alice@example.com"),
        ("bssid", "A4-5E-60-C2-11-9F", "a4:5e:60:c2:11:9f"),
        ("phone", "+86 138 0013 8000", "13800138000"),
        ("name", " 张伟 ", "张伟"),
    ],
)
def test_canonical_value(type_id: str, raw: str, value: str) -> None:
    assert canonical_value(type_id, raw) == value


def test_mac_that_is_not_a_mac_is_only_lowered() -> None:
    assert canonical_mac("ZZ:11") == "zz:11"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0086-189-1234-5678", "18912345678"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+999", "+999"),
        ("12345", "12345"),
    ],
)
def test_canonical_phone(raw: str, value: str) -> None:
    assert canonical_phone(raw) == value


def test_hex_device_ids_fold_case_but_base64_utdid_does_not() -> None:
    assert canonical_value("vaid", "ABCDEF0123456789") == "abcdef0123456789"
    assert canonical_value("aaid", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0") == (
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    )
    assert canonical_value("utdid", "WbK9xQ2mZ0oDAH1pLrTnVcEs") == "WbK9xQ2mZ0oDAH1pLrTnVcEs"
