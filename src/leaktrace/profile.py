"""The test device's own identifiers (``device.yaml``): the ground truth for profile matching.

Knowing the real IMEI, MAC or location of the phone under test is what lets
leaktrace find them hashed, encoded or coordinate-shifted, where no pattern
could. Keys are identifier type ids; a value is a string or a list of strings
(dual-SIM phones have two IMEIs), and ``location`` is a WGS-84 fix. The file
is checked by ``profile_schema`` and kept as the plain records below, also in
the per-user cache: a run reading a device file it has read before imports
neither YAML nor pydantic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaktrace import configcache
from leaktrace.signatures.loader import SignatureError

VALUE_TYPES: tuple[str, ...] = (
    "imei",
    "meid",
    "imsi",
    "iccid",
    "phone",
    "email",
    "android_id",
    "ad_id",
    "oaid",
    "mac",
    "bssid",
    "ssid",
    "serial",
    "id_card",
    "name",
)


class DeviceProfileError(SignatureError):
    """``device.yaml`` is unusable; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class DeviceLocation:
    lat: float
    lng: float
    radius_m: float = 50.0

    @property
    def plain(self) -> str:
        """The fix as reported in findings: ``lat,lng`` as written in device.yaml."""
        return f"{self.lat!r},{self.lng!r}"


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    imei: list[str] = field(default_factory=list)
    meid: list[str] = field(default_factory=list)
    imsi: list[str] = field(default_factory=list)
    iccid: list[str] = field(default_factory=list)
    phone: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)
    android_id: list[str] = field(default_factory=list)
    ad_id: list[str] = field(default_factory=list)
    oaid: list[str] = field(default_factory=list)
    mac: list[str] = field(default_factory=list)
    bssid: list[str] = field(default_factory=list)
    ssid: list[str] = field(default_factory=list)
    serial: list[str] = field(default_factory=list)
    id_card: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    location: DeviceLocation | None = None

    def values(self) -> Iterator[tuple[str, str]]:
        """Every (type id, value) pair, in declaration order."""
        for type_id in VALUE_TYPES:
            values: list[str] = getattr(self, type_id)
            for value in values:
                yield type_id, value


def load_device(path: Path) -> DeviceProfile:
    """Read and validate ``device.yaml``; raises ``DeviceProfileError`` naming the field."""
    return configcache.load_validated("device", Path(path), _validate_file, DeviceProfile)


def parse_device(data: dict[str, Any]) -> DeviceProfile:
    """A device profile from a mapping (a harness building one in code), validated the
    same way (an unquoted IMEI read as a number is accepted); raises ``DeviceProfileError``."""
    from leaktrace import profile_schema

    return profile_schema.validate_mapping(data)


def _validate_file(path: Path) -> DeviceProfile:
    from leaktrace import profile_schema

    return profile_schema.validate_file(path)
