"""The app's own declaration (``app.yaml``): who the first party is and the double lists.

Attribution needs only the first-party domains; the policy stage judges the
traffic against the rest (``collects``, ``shares``, the consent point, device
identifier scope, frequency limits). Everything is validated at load time
(``declaration_schema``) so a bad declaration fails naming the file, line and
field, rather than half-way through an analysis, or worse, quietly judging
against a list it misread. What passes is kept as the plain records below,
and in the per-user cache, so that a run reading a declaration it has read
before imports neither YAML nor pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from leaktrace import configcache

#: Identifiers that name the handset or SIM for good (research C5, C6): a reset
#: or reinstall does not change them, which is why "not needed" must be stated.
DEVICE_ID_TYPES: frozenset[str] = frozenset(
    {"imei", "meid", "imsi", "iccid", "mac", "serial", "app_list"}
)

AppState = Literal["any", "background", "foreground"]


class DeclarationError(ValueError):
    """A declaration file that cannot be used; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class AppInfo:
    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CollectedItem:
    type: str
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class SharedItem:
    party: str  # SDK id, or a domain the receiving hosts belong to (folded)
    company: str | None = None
    types: list[str] = field(default_factory=list)
    purpose: str | None = None
    #: the user gives separate consent to this sharing (PIPL Arts. 23, 29); None: not stated
    separate_consent: bool | None = None


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """Consent is the first timeline event of this name (a harness or proxy mark)."""

    event: str


@dataclass(frozen=True, slots=True)
class ConsentUrl:
    """Consent is the first request whose URL matches this regular expression."""

    url: str


@dataclass(frozen=True, slots=True)
class ConsentAt:
    """Consent at a fixed time: epoch seconds, or an ISO 8601 time with its offset."""

    at: float | datetime

    @property
    def ts(self) -> float:
        return self.at.timestamp() if isinstance(self.at, datetime) else float(self.at)


Consent: TypeAlias = ConsentEvent | ConsentUrl | ConsentAt


@dataclass(frozen=True, slots=True)
class FrequencyLimit:
    """At most ``max`` messages carrying ``type`` to one party within any ``per_s`` seconds."""

    type: str
    max: int
    per_s: float
    party: str | None = None  # one SDK id or domain; every party when absent
    state: AppState = "any"


@dataclass(frozen=True, slots=True)
class AppDeclaration:
    app: AppInfo
    first_party: list[str] = field(default_factory=list)
    collects: list[CollectedItem] = field(default_factory=list)
    shares: list[SharedItem] = field(default_factory=list)
    consent: Consent | None = None
    #: how the user's withdrawal of consent shows, in the forms of ``consent``
    withdrawal: Consent | None = None
    #: false: no device identifier is needed; a list: only these are; absent: not stated
    needs_device_ids: bool | list[str] | None = None
    frequency: list[FrequencyLimit] | None = None

    @property
    def allowed_device_ids(self) -> frozenset[str] | None:
        """Device identifiers the app says it needs; None when it does not say."""
        return device_ids_in_scope(self.needs_device_ids)

    @property
    def collected_types(self) -> frozenset[str]:
        return frozenset(item.type for item in self.collects)


def device_ids_in_scope(needs_device_ids: bool | list[str] | None) -> frozenset[str] | None:
    """What ``needs_device_ids`` allows: none (false), these (a list), not stated (None)."""
    if needs_device_ids is None or needs_device_ids is True:
        return None
    if needs_device_ids is False:
        return frozenset()
    return frozenset(needs_device_ids)


def load_declaration(path: str | Path) -> AppDeclaration:
    """Read and validate ``app.yaml``; raises ``DeclarationError`` naming file, line and field."""
    return configcache.load_validated("declaration", Path(path), _validate_file, AppDeclaration)


def parse_declaration(data: dict[str, Any]) -> AppDeclaration:
    """A declaration from a mapping (a harness building one in code), validated the
    same way; raises ``DeclarationError``."""
    from leaktrace import declaration_schema

    return declaration_schema.validate_mapping(data)


def _validate_file(path: Path) -> AppDeclaration:
    from leaktrace import declaration_schema

    return declaration_schema.validate_file(path)
