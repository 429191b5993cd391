"""DetectorSet: deduplication rules, robustness on arbitrary input, backend parity."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaktrace.detectors import DetectorSet, dedupe
from leaktrace.detectors.engine import hyperscan_available
from leaktrace.profile import parse_device
from leaktrace.signatures import load_signatures
from leaktrace.types import Detection, Field

_SIGS = load_signatures()
_DEVICE = parse_device(
    {
        "imei": ["869677023945285"],
        "mac": ["a4:5e:60:c2:11:9f"],
        "phone": ["13800138000"],
        "ssid": ["HomeNet-5G"],
        "name": ["张伟"],
        "location": {"lat": 39.908722, "lng": 116.397499},
    }
)
FALLBACK = DetectorSet(_SIGS, _DEVICE, backend="fallback")
HYPERSCAN = DetectorSet(_SIGS, _DEVICE, backend="hyperscan") if hyperscan_available() else None


def det(
    type_: str = "imei",
    value: str = "1",
    where: str = "q:a",
    method: str = "pattern",
    confidence: float = 0.6,
    evidence: tuple[str, ...] = (),
) -> Detection:
    return Detection(
        type=type_,
        value=value,
        method=method,  # type: ignore[arg-type]
        confidence=confidence,
        where=where,
        evidence=evidence,
    )


def test_same_spot_keeps_profile_then_highest_confidence() -> None:
    low = det(confidence=0.6)
    high = det(confidence=0.95)
    prof = det(method="profile", confidence=0.9)
    assert dedupe([low, high]) == [high]
    assert dedupe([high, prof, low]) == [prof]


def test_deeper_decoding_wins() -> None:
    outer = det(where="query:t")
    inner = det(where="query:t>base64")
    assert dedupe([outer, inner]) == [inner]
    assert dedupe([inner, outer]) == [inner]
    # Same prefix but a different key is a different place.
    sibling = det(where="query:tx")
    assert dedupe([outer, sibling]) == [outer, sibling]
    # A different value is not deduplicated.
    other = det(value="2", where="query:t>base64")
    assert dedupe([outer, other]) == [outer, other]


def test_deeper_json_path_wins() -> None:
    body = det(where="body")
    leaf = det(where="body>json:$.device.imei")
    assert dedupe([body, leaf]) == [leaf]


def test_keyed_claim_removes_unkeyed_claims_of_other_types() -> None:
    mac = det(type_="mac", value="aa", confidence=0.6)
    bssid = det(type_="bssid", value="aa", confidence=0.9, evidence=("key:bssid",))
    assert dedupe([mac, bssid]) == [bssid]
    # Without a keyed claim, both shapes stay.
    imei = det(type_="imei", value="x")
    imsi = det(type_="imsi", value="x")
    assert dedupe([imei, imsi]) == [imei, imsi]


def test_order_is_first_seen() -> None:
    a = det(value="a")
    b = det(value="b")
    a2 = det(value="a", confidence=0.9)
    assert dedupe([a, b, a2]) == [a2, b]


def test_one_message_with_many_identifiers() -> None:
    fields = [
        Field("query:did", b"869677023945285", key="did"),
        Field("query:mac", b"A4:5E:60:C2:11:9F", key="mac"),
        Field("body>form:mobile", b"+8613800138000", key="mobile"),
        Field("body>json:$.lat", b"39.908722", key="lat"),
        Field("body>json:$.lng", b"116.397499", key="lng"),
        Field("body>json:$.email", b"bob@example.org", key="email"),
    ]
    found = {(d.type, d.method, d.form) for d in FALLBACK.detect(fields)}
    assert found == {
        ("imei", "profile", "plain"),
        ("mac", "profile", "upper"),
        ("phone", "profile", "e164"),
        ("location", "profile", "wgs84"),
        ("email", "pattern", "plain"),
    }


def test_backend_is_reported() -> None:
    assert FALLBACK.backend == "fallback"
    if HYPERSCAN is not None:
        assert HYPERSCAN.backend == "hyperscan"


keys = st.one_of(st.none(), st.sampled_from(["imei", "lat", "lng", "mac", "x", "gaid", "loc"]))
values = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet='0123456789abcdefABCDEF.,:-=&"{} +', max_size=120).map(str.encode),
)
fields_strategy = st.lists(
    st.builds(
        Field,
        where=st.sampled_from(["body", "q:a", "json:$.a.lat", "json:$.a.lng", "body>base64"]),
        value=values,
        key=keys,
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields_strategy)
def test_arbitrary_fields_never_raise(fields: list[Field]) -> None:
    result = FALLBACK.run(fields)
    for found in result.detections:
        assert 0.0 < found.confidence <= 1.0
        assert found.where in {f.where for f in fields}


@pytest.mark.skipif(HYPERSCAN is None, reason="hyperscan not installed")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields_strategy)
def test_backends_find_the_same(fields: list[Field]) -> None:
    assert HYPERSCAN is not None
    assert HYPERSCAN.run(fields) == FALLBACK.run(fields)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields_strategy, st.sampled_from(["other", "body>gzip>json:$.x", "header:x"]))
def test_remembered_fields_give_what_a_fresh_scan_gives(fields: list[Field], where: str) -> None:
    """Values seen before are answered from the memo; only ``where`` may differ."""
    detectors = HYPERSCAN or FALLBACK
    moved = [Field(where=where + str(i), value=f.value, key=f.key) for i, f in enumerate(fields)]
    detectors._memo.clear()
    detectors.run(fields)  # remembers these values
    warm = detectors.run(moved)
    detectors._memo.clear()
    assert warm == detectors.run(moved)


APPS = (
    b"com.tencent.mm,com.taobao.taobao,com.sina.weibo,"
    b"com.baidu.BaiduMap,com.jingdong.app.mall,com.xunmeng.pinduoduo"
)


@pytest.mark.parametrize("detectors", [FALLBACK, HYPERSCAN], ids=["fallback", "hyperscan"])
def test_a_joined_list_is_scanned_by_the_list_patterns_alone(
    detectors: DetectorSet | None,
) -> None:
    if detectors is None:
        pytest.skip("hyperscan is not installed")
    apps = Field("body>json:$.apps[*]", APPS, "apps", joined=True)
    found = detectors.detect([apps])
    assert [(d.type, d.where, d.confidence) for d in found] == [
        ("installed_apps", "body>json:$.apps[*]", 0.95)
    ]
    # The same bytes as a plain field: the device's phone and IMEI are found in it; as a
    # joined list they are not (each element was a field of its own already).
    mixed = b"13800138000,869677023945285,39.908722,116.397499," + APPS
    plain = {d.type for d in detectors.detect([Field("body>form:v", mixed, "v")])}
    assert {"phone", "imei", "installed_apps"} <= plain
    as_list = detectors.detect([Field("body>form:v", mixed, "v", joined=True)])
    assert [d.type for d in as_list] == ["installed_apps"]
    # and a joined field never takes a plain field's place in the memo, nor the reverse
    assert {d.type for d in detectors.detect([Field("body>form:v", mixed, "v")])} == plain
