"""device.yaml: values as strings or lists, a location fix, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaktrace.profile import DeviceProfile, DeviceProfileError, load_device


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_strings_lists_and_unquoted_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "imei: [869677023945285, '356938035643809']\n"
        "mac: a4:5e:60:c2:11:9f\n"
        "phone: 13800138000\n"
        "location: {lat: 39.908722, lng: 116.397499}\n",
    )
    device = load_device(path)
    assert device.imei == ["869677023945285", "356938035643809"]
    assert device.mac == ["a4:5e:60:c2:11:9f"]
    assert device.phone == ["13800138000"]
    assert device.location is not None
    assert device.location.radius_m == 50.0
    assert device.location.plain == "39.908722,116.397499"
    assert list(device.values())[:2] == [
        ("imei", "869677023945285"),
        ("imei", "356938035643809"),
    ]


def test_the_demo_device_file_loads() -> None:
    demo = Path(__file__).resolve().parents[2] / "captures" / "device.yaml"
    if not demo.exists():
        pytest.skip("no demo capture in this tree")
    assert load_device(demo).imei


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("imei: '1'\nimeii: '2'\n", "device.yaml:2: imeii: extra inputs are not permitted"),
        ("location:\n  lat: 91\n  lng: 1\n", "device.yaml:2: location.lat: "),
        ("location:\n  lng: 1\n", "device.yaml:2: location.lat: field required"),
        ("mac: true\n", "device.yaml:1: mac: "),
        ("mac: ['']\n", "device.yaml:1: mac: "),
        ("imei: [\n", "device.yaml:2: invalid YAML"),
        ("- 1\n", "device.yaml:1: expected a mapping"),
    ],
)
def test_errors_name_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(DeviceProfileError) as info:
        load_device(write(tmp_path, text))
    assert expected in str(info.value)


def test_empty_profile() -> None:
    assert list(DeviceProfile().values()) == []
