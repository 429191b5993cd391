"""The test device's own identifiers (``device.yaml``): the ground truth for profile matching.

Knowing the real IMEI, MAC or location of the phone under test is what lets
leaktrace find them hashed, encoded or coordinate-shifted, where no pattern
could. Keys are identifier type ids; a value is a string or a list of strings
(dual-SIM phones have two IMEIs), and ``location`` is a WGS-84 fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leaktrace.signatures.loader import SignatureError, read_yaml, validate_document

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


class DeviceLocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    lat: float = Field(ge=-90.0, le=90.0)
    lng: float = Field(ge=-180.0, le=180.0)
    radius_m: float = Field(default=50.0, gt=0.0, le=100_000.0)

    @property
    def plain(self) -> str:
        """The fix as reported in findings: ``lat,lng`` as written in device.yaml."""
        return f"{self.lat!r},{self.lng!r}"


class DeviceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    imei: list[str] = Field(default_factory=list)
    meid: list[str] = Field(default_factory=list)
    imsi: list[str] = Field(default_factory=list)
    iccid: list[str] = Field(default_factory=list)
    phone: list[str] = Field(default_factory=list)
    email: list[str] = Field(default_factory=list)
    android_id: list[str] = Field(default_factory=list)
    ad_id: list[str] = Field(default_factory=list)
    oaid: list[str] = Field(default_factory=list)
    mac: list[str] = Field(default_factory=list)
    bssid: list[str] = Field(default_factory=list)
    ssid: list[str] = Field(default_factory=list)
    serial: list[str] = Field(default_factory=list)
    id_card: list[str] = Field(default_factory=list)
    name: list[str] = Field(default_factory=list)
    location: DeviceLocation | None = None

    @field_validator(*VALUE_TYPES, mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        # YAML reads an unquoted IMEI as an int; accept it rather than make
        # every user quote digits. Floats and bools would lose information.
        if isinstance(value, bool):
            raise ValueError("expected a string or a list of strings")
        if isinstance(value, str | int):
            return [str(value)]
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                if isinstance(item, int) and not isinstance(item, bool):
                    out.append(str(item))
                else:
                    out.append(item)
            return out
        if value is None:
            return []
        return value

    @field_validator(*VALUE_TYPES)
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        stripped = [v.strip() for v in value]
        if any(not v for v in stripped):
            raise ValueError("values must not be empty")
        return stripped

    def values(self) -> Iterator[tuple[str, str]]:
        """Every (type id, value) pair, in declaration order."""
        for type_id in VALUE_TYPES:
            values: list[str] = getattr(self, type_id)
            for value in values:
                yield type_id, value


def load_device(path: Path) -> DeviceProfile:
    """Read and validate ``device.yaml``; raises ``DeviceProfileError`` naming the field."""
    try:
        doc = read_yaml(path)
    except SignatureError as exc:
        raise DeviceProfileError(exc.problems) from exc
    profile, problems = validate_document(DeviceProfile, doc)
    if profile is None:
        raise DeviceProfileError(problems)
    return profile
