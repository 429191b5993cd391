"""Coordinates: field pairs, combined values, raw text, datum shifts and truncation."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaktrace.detectors import DetectorSet
from leaktrace.detectors.geo import (
    gcj02_to_bd09,
    haversine_m,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from leaktrace.detectors.location import MAX_NUMBERS, LocationDetector, axis_of, parent_of
from leaktrace.profile import parse_device
from leaktrace.signatures import SignatureSet
from leaktrace.types import Detection, Field

FIX = (39.908722, 116.397499)  # Tiananmen, WGS-84
CITIES = {
    "beijing": FIX,
    "shanghai": (31.2304, 121.4737),
    "shenzhen": (22.5431, 114.0579),
    "urumqi": (43.8256, 87.6168),
    "harbin": (45.8038, 126.5350),
    "chengdu": (30.5728, 104.0668),
}


@pytest.fixture(scope="module")
def with_device(signatures: SignatureSet) -> DetectorSet:
    device = parse_device({"location": {"lat": FIX[0], "lng": FIX[1], "radius_m": 50}})
    return DetectorSet(signatures, device)


@pytest.fixture(scope="module")
def without_device(signatures: SignatureSet) -> DetectorSet:
    return DetectorSet(signatures)


def locations(detector: DetectorSet, fields: list[Field]) -> list[Detection]:
    return [d for d in detector.detect(fields) if d.type == "location"]


def pair_fields(lat: float, lng: float, decimals: int = 6, parent: str = "json:$.") -> list[Field]:
    return [
        Field(f"{parent}lat", f"{lat:.{decimals}f}".encode(), key="lat"),
        Field(f"{parent}lng", f"{lng:.{decimals}f}".encode(), key="lng"),
    ]


def offset(lat: float, lng: float, north_m: float) -> tuple[float, float]:
    return lat + north_m / 111_195.0, lng


# --------------------------------------------------------------------- datums


@pytest.mark.parametrize("city", sorted(CITIES))
def test_datum_shifts_have_the_published_size(city: str) -> None:
    lat, lng = CITIES[city]
    gcj = haversine_m(lat, lng, *wgs84_to_gcj02(lat, lng))
    bd = haversine_m(lat, lng, *wgs84_to_bd09(lat, lng))
    assert 250 <= gcj <= 620
    assert 900 <= bd <= 1450


def test_gcj02_is_identity_outside_china() -> None:
    assert wgs84_to_gcj02(48.8584, 2.2945) == (48.8584, 2.2945)


def test_bd09_is_gcj02_then_baidu_offset() -> None:
    assert wgs84_to_bd09(*FIX) == gcj02_to_bd09(*wgs84_to_gcj02(*FIX))


def test_haversine_one_degree_of_latitude() -> None:
    assert math.isclose(haversine_m(0, 0, 1, 0), 111_195, rel_tol=1e-3)


# --------------------------------------------------------------------- profile mode


def test_bd09_field_pair_is_matched(with_device: DetectorSet) -> None:
    found = locations(with_device, pair_fields(*wgs84_to_bd09(*FIX)))
    assert len(found) == 1
    det = found[0]
    assert (det.method, det.form, det.value, det.where) == (
        "profile",
        "bd09",
        "39.908722,116.397499",
        "json:$.lat",
    )
    assert det.confidence == 1.0


def test_gcj02_and_wgs84_are_told_apart(with_device: DetectorSet) -> None:
    assert locations(with_device, pair_fields(*wgs84_to_gcj02(*FIX)))[0].form == "gcj02"
    assert locations(with_device, pair_fields(*FIX))[0].form == "wgs84"


def test_point_five_km_away_is_not_the_device(with_device: DetectorSet) -> None:
    far = offset(*wgs84_to_bd09(*FIX), north_m=5000)
    found = locations(with_device, pair_fields(*far))
    assert [d.method for d in found] == ["pattern"]


def test_point_inside_radius_is_the_device(with_device: DetectorSet) -> None:
    near = offset(*FIX, north_m=30)
    assert locations(with_device, pair_fields(*near))[0].form == "wgs84"


def test_truncated_to_three_decimals(with_device: DetectorSet) -> None:
    lat, lng = wgs84_to_bd09(*FIX)
    cut = [math.floor(lat * 1000) / 1000, math.floor(lng * 1000) / 1000]
    found = locations(with_device, pair_fields(cut[0], cut[1], decimals=3))
    assert found[0].form == "bd09_truncated"
    assert found[0].method == "profile"
    assert found[0].confidence == 0.9


def test_swapped_order_in_one_value(with_device: DetectorSet) -> None:
    lat, lng = wgs84_to_gcj02(*FIX)
    value = f"{lng:.6f},{lat:.6f}".encode()
    found = locations(with_device, [Field("query:location", value, key="location")])
    assert (found[0].form, found[0].method) == ("gcj02", "profile")
    assert "swapped" in found[0].evidence


def test_numbers_inside_raw_text(with_device: DetectorSet) -> None:
    found = locations(with_device, [Field("body", b"a=1&loc=39.9087,116.3975&b=2")])
    assert (found[0].form, found[0].where) == ("wgs84_truncated", "body")


def test_labelled_numbers_inside_raw_json(with_device: DetectorSet) -> None:
    lat, lng = wgs84_to_bd09(*FIX)
    body = f'{{"la":{lat:.6f},"acc":12.5,"lo":{lng:.6f}}}'.encode()
    found = locations(with_device, [Field("body", body)])
    assert [d.form for d in found] == ["bd09"]


# --------------------------------------------------------------------- pattern mode


def test_sibling_fields_make_a_pair(without_device: DetectorSet) -> None:
    found = locations(without_device, pair_fields(39.908722, 116.397499))
    assert len(found) == 1
    det = found[0]
    assert (det.value, det.method, det.where, det.confidence) == (
        "39.908722,116.397499",
        "pattern",
        "json:$.lat",
        0.9,
    )
    assert det.evidence == ("range_ok", "key:lat", "key:lng")


def test_fields_of_different_objects_are_not_paired(without_device: DetectorSet) -> None:
    fields = [
        Field("json:$.a.lat", b"39.908722", key="lat"),
        Field("json:$.b.lng", b"116.397499", key="lng"),
    ]
    assert locations(without_device, fields) == []


def test_lng_first_value_is_reordered(without_device: DetectorSet) -> None:
    det = locations(without_device, [Field("v", b"116.397499,39.908722")])[0]
    assert det.value == "39.908722,116.397499"
    assert "order:lnglat" in det.evidence
    assert det.confidence == 0.5


@pytest.mark.parametrize(
    "fields",
    [
        [Field("v", b"0.000,0.000")],
        [Field("v", b"39.9,116.4")],  # too few decimals
        [Field("v", b"score=0.123,0.456")],
        [Field("v", b"95.123456,200.123456")],
        pair_fields(95.0, 116.397499),
        [Field("json:$.lat", b"39.908722", key="lat")],  # no longitude
    ],
)
def test_not_locations(without_device: DetectorSet, fields: list[Field]) -> None:
    assert locations(without_device, fields) == []


def test_many_pairs_report_a_limit(without_device: DetectorSet) -> None:
    text = b";".join(b"39.908722,116.397499" for _ in range(MAX_NUMBERS + 2))
    result = without_device.run([Field("body", b"x " + text)])
    assert any(d.name == "detect_limit" for d in result.diagnostics)


# --------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("key", "axis"),
    [
        ("lat", "lat"),
        ("Latitude", "lat"),
        ("gps_lat", "lat"),
        ("la", "lat"),
        ("lng", "lng"),
        ("lon", "lng"),
        ("longitude", "lng"),
        ("gpsLng", "lng"),
        ("lo", "lng"),
        ("flat", None),
        ("salon", None),
        (None, None),
    ],
)
def test_axis_of(key: str | None, axis: str | None) -> None:
    assert axis_of(key) == axis


@pytest.mark.parametrize(
    ("where", "key", "parent"),
    [
        ("body>json:$.loc.lat", "lat", "body>json:$.loc."),
        ("query:lat", "lat", "query:"),
        ("body>json:$['lat']", "lat", "body>json:$['"),
        ("body>form:x>json:$.a", None, "body>form:x>json:$."),
    ],
)
def test_parent_of(where: str, key: str | None, parent: str) -> None:
    assert parent_of(where, key) == parent


# ------------------------------------------------------------- what a field gives

_KEYS = [None, "lat", "lng", "latitude", "x", "gpsLon", "loc", "user-agent", "v"]
_VALUES = [
    b"39.908722",
    b"116.397499",
    b"-33.8688",
    b"39.908722,116.397499",
    b"[116.397499, 39.908722]",
    b"okhttp/4.12.0",
    b"Chrome/120.0.6099.43",
    b"lat=39.908722&lng=116.397499",
    b'{"la":39.9087,"lo":116.3975}',
    b"score 0.123 0.456",
    b"12.34",
    b"1.2.3",
    b";".join(b"1.234,5.678" for _ in range(MAX_NUMBERS + 1)),
]
_fields = st.lists(
    st.builds(
        Field,
        st.sampled_from(["json:$.lat", "json:$.lng", "json:$.a.lat", "header:user-agent", "body"]),
        st.one_of(st.sampled_from(_VALUES), st.binary(max_size=24)),
        st.sampled_from(_KEYS),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fields, st.booleans())
def test_fields_that_give_nothing_can_be_left_out(fields: list[Field], device: bool) -> None:
    """Leaving out the fields that ``contributes`` turns down changes nothing: not the
    detections, not the diagnostics, with or without a device fix."""
    fix = parse_device({"location": {"lat": FIX[0], "lng": FIX[1], "radius_m": 50}})
    detector = LocationDetector(None, fix.location if device else None)
    everything = [True] * len(fields)
    giving = [detector.contributes(field) for field in fields]
    assert list(detector.detect(fields, giving)) == list(detector.detect(fields, everything))


@pytest.mark.parametrize(
    ("value", "key", "gives"),
    [
        (b"okhttp/4.12.0", "user-agent", False),
        (b"39.908722", "v", False),  # a number under a key that names no axis
        (b"39.908722", "lat", True),
        (b"39.908722,116.397499", "v", True),
        (b"a 39.908722;116.397499 b", None, True),
        (b"lat=39.908722", None, False),  # a labelled latitude alone pairs with nothing
    ],
)
def test_what_a_field_gives(value: bytes, key: str | None, gives: bool) -> None:
    assert LocationDetector(None, None).contributes(Field("f", value, key)) is gives


def test_a_version_string_does_not_bring_its_message_to_the_location_detector(
    without_device: DetectorSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    location = without_device._location
    real = location.detect

    def detect(fields: list[Field], triggered: list[bool]) -> object:
        seen.append(len(fields))
        return real(fields, triggered)

    monkeypatch.setattr(location, "detect", detect)
    agent = Field("header:user-agent", b"okhttp/4.12.0", key="user-agent")
    for _ in range(2):  # the second time from the memo
        assert without_device.detect([agent, Field("query:seq", b"1", key="seq")]) == []
    assert seen == []
    assert len(locations(without_device, [agent, *pair_fields(*FIX)])) == 1
    assert seen == [3]
