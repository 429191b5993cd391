"""The shape of ``device.yaml``, checked with pydantic when a device file is read.

What passes is copied into ``profile``'s plain classes of the same names
(``leaktrace.plain``); the rest of leaktrace, and the cache, hold only those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leaktrace import profile
from leaktrace.plain import to_plain
from leaktrace.profile import VALUE_TYPES, DeviceProfileError
from leaktrace.signatures.loader import (
    SignatureError,
    error_messages,
    format_loc,
    read_yaml,
    validate_document,
)


class DeviceLocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    lat: float = Field(ge=-90.0, le=90.0)
    lng: float = Field(ge=-180.0, le=180.0)
    radius_m: float = Field(default=50.0, gt=0.0, le=100_000.0)


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


def validate_file(path: Path) -> profile.DeviceProfile:
    """Read and validate ``device.yaml``; raises ``DeviceProfileError`` naming the field."""
    try:
        doc = read_yaml(path)
    except SignatureError as exc:
        raise DeviceProfileError(exc.problems) from exc
    validated, problems = validate_document(DeviceProfile, doc)
    if validated is None:
        raise DeviceProfileError(problems)
    plain: profile.DeviceProfile = to_plain(validated, vars(profile))
    return plain


def validate_mapping(data: dict[str, Any]) -> profile.DeviceProfile:
    """The same checks on a mapping built in code; problems are named by field only."""
    try:
        validated = DeviceProfile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{format_loc(loc)}: {msg}" for loc, msg in error_messages(exc)]
        raise DeviceProfileError(problems) from exc
    plain: profile.DeviceProfile = to_plain(validated, vars(profile))
    return plain
