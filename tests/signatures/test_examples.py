"""Every example embedded in a signature file, run through the real detector or matcher."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from leaktrace.attribution.sdk import SdkMatcher
from leaktrace.detectors import DetectorSet
from leaktrace.detectors.engine import Backend, hyperscan_available, hyperscan_error
from leaktrace.profile import parse_device
from leaktrace.signatures import SignatureSet, load_signatures
from leaktrace.signatures.model import BUILTIN_DETECTED
from leaktrace.types import Field

_SIGS = load_signatures()
BACKENDS: list[Backend] = ["fallback"]
if hyperscan_available():
    BACKENDS.append("hyperscan")

IDENTIFIER_CASES = [
    pytest.param(ident.id, text, expected, id=f"{ident.id}-{'match' if expected else 'no'}-{i}")
    for ident in _SIGS.identifiers.values()
    for expected, texts in ((True, ident.examples.match), (False, ident.examples.no_match))
    for i, text in enumerate(texts)
]
SDK_CASES = [
    pytest.param(sdk.id, text, expected, id=f"{sdk.id}-{'match' if expected else 'no'}-{i}")
    for sdk in _SIGS.sdks.values()
    for expected, texts in ((True, sdk.examples.match), (False, sdk.examples.no_match))
    for i, text in enumerate(texts)
]

_detector_cache: dict[tuple[str, Backend], DetectorSet] = {}


def _detector(signatures: SignatureSet, type_id: str, backend: Backend) -> DetectorSet:
    ident = signatures.identifiers[type_id]
    key = (type_id if ident.examples.device else "", backend)
    if key not in _detector_cache:
        device = parse_device({type_id: [ident.examples.device]}) if ident.examples.device else None
        _detector_cache[key] = DetectorSet(signatures, device, backend=backend)
    return _detector_cache[key]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("type_id", "text", "expected"), IDENTIFIER_CASES)
def test_identifier_example(
    signatures: SignatureSet, backend: Backend, type_id: str, text: str, expected: bool
) -> None:
    detector = _detector(signatures, type_id, backend)
    found = [d for d in detector.detect([Field("example", text.encode())]) if d.type == type_id]
    assert bool(found) is expected, (text, found)


def _host_and_path(example: str) -> tuple[str | None, str | None]:
    if "://" not in example:
        return example, None
    parts = urlsplit(example)
    return parts.hostname, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


_MATCHER = SdkMatcher(_SIGS)


@pytest.mark.parametrize(("sdk_id", "text", "expected"), SDK_CASES)
def test_sdk_example(sdk_id: str, text: str, expected: bool) -> None:
    matched = _MATCHER.match(*_host_and_path(text))
    if expected:
        assert matched is not None and matched[0].id == sdk_id, (text, matched)
    else:
        assert matched is None or matched[0].id != sdk_id, (text, matched)


def test_seed_set_is_complete(signatures: SignatureSet) -> None:
    assert set(signatures.identifiers) >= {
        "imei", "meid", "imsi", "iccid", "phone", "email", "mac", "bssid", "ssid",
        "android_id", "ad_id", "oaid", "serial", "location", "id_card", "bank_card", "name",
        "cell_id", "installed_apps", "imeisv", "vaid", "aaid", "utdid",
    }  # fmt: skip
    assert len(signatures.sdks) >= 200


def test_catalogue_breadth(signatures: SignatureSet) -> None:
    categories = {sdk.category for sdk in signatures.sdks.values()}
    chinese = [sdk.id for sdk in signatures.sdks.values() if sdk.vendor.zh]
    assert len(categories) >= 8
    assert len(chinese) >= 60
    for must in ("umeng", "jpush", "getui", "tencent_bugly", "pangle", "kuaishou_ads", "amap",
                 "alipay", "wechat_opensdk", "sensorsdata", "growingio", "talkingdata", "shumei",
                 "tongdun", "huawei_hms", "xiaomi_push", "oppo_push", "vivo_push",
                 "firebase_analytics",
                 "admob", "facebook", "appsflyer", "adjust", "branch", "mixpanel", "amplitude",
                 "segment", "sentry", "crashlytics", "onesignal", "braze", "unity_ads", "applovin",
                 "ironsource"):  # fmt: skip
        assert must in signatures.sdks, must


def test_every_identifier_names_both_languages(signatures: SignatureSet) -> None:
    for ident in signatures.identifiers.values():
        assert ident.names.en and ident.names.zh, ident.id


def test_every_example_is_exercised() -> None:
    # The parametrized cases above come from the same load: each file's examples are all in.
    assert len(SDK_CASES) == sum(
        len(s.examples.match) + len(s.examples.no_match) for s in _SIGS.sdks.values()
    )
    assert {c.values[0] for c in SDK_CASES} == set(_SIGS.sdks)
    assert {c.values[0] for c in IDENTIFIER_CASES} == set(_SIGS.identifiers)


def test_every_identifier_is_findable(signatures: SignatureSet) -> None:
    for ident in signatures.identifiers.values():
        assert ident.patterns or ident.id in BUILTIN_DETECTED or ident.examples.device


def test_every_endpoint_says_where_it_comes_from(signatures: SignatureSet) -> None:
    marks = ("✅", "◐", "○")
    for sdk in signatures.sdks.values():
        for endpoint in sdk.endpoints:
            assert any(m in endpoint.source for m in marks), (sdk.id, endpoint)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
def test_every_pattern_compiles_as_hyperscan_prefilter(signatures: SignatureSet) -> None:
    for ident in signatures.identifiers.values():
        for pattern in ident.patterns:
            assert hyperscan_error(pattern.regex.encode(), caseless=pattern.caseless) is None
