"""The shape of ``app.yaml``, checked with pydantic when a declaration is read.

What passes is copied into ``declaration``'s plain classes of the same names
(``leaktrace.plain``); the rest of leaktrace, and the cache, hold only those.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from leaktrace import declaration
from leaktrace.declaration import (
    DEVICE_ID_TYPES,
    AppState,
    DeclarationError,
    device_ids_in_scope,
)
from leaktrace.plain import to_plain
from leaktrace.signatures.loader import SignatureError, YamlDocument, format_loc, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AppInfo(_Strict):
    id: str = Field(min_length=1)
    name: str | None = None


class CollectedItem(_Strict):
    type: str = Field(min_length=1)
    purpose: str | None = None


class SharedItem(_Strict):
    party: str = Field(min_length=1)  # SDK id, or a domain the receiving hosts belong to
    company: str | None = None
    types: list[str] = Field(default_factory=list)
    purpose: str | None = None
    #: the user gives separate consent to this sharing (PIPL Arts. 23, 29); None: not stated
    separate_consent: bool | None = None

    @field_validator("party")
    @classmethod
    def _fold(cls, value: str) -> str:
        return value.strip().lower().rstrip(".").removeprefix("*.")


class ConsentEvent(_Strict):
    """Consent is the first timeline event of this name (a harness or proxy mark)."""

    event: str = Field(min_length=1)


class ConsentUrl(_Strict):
    """Consent is the first request whose URL matches this regular expression."""

    url: str = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from exc
        return value


class ConsentAt(_Strict):
    """Consent at a fixed time: epoch seconds, or an ISO 8601 time with its offset."""

    at: float | datetime

    @field_validator("at")
    @classmethod
    def _aware(cls, value: float | datetime) -> float | datetime:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("a time needs its UTC offset, e.g. 2026-01-05T10:00:00+08:00")
        return value

    @property
    def ts(self) -> float:
        return self.at.timestamp() if isinstance(self.at, datetime) else float(self.at)


def _consent_form(value: object) -> str | None:
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        forms = [key for key in ("event", "url", "at") if key in value]
        if len(forms) == 1:
            return forms[0]
    return None


Consent = Annotated[
    Annotated[ConsentEvent, Tag("event")]
    | Annotated[ConsentUrl, Tag("url")]
    | Annotated[ConsentAt, Tag("at")]
    | Annotated[ConsentEvent, Tag("ConsentEvent")]
    | Annotated[ConsentUrl, Tag("ConsentUrl")]
    | Annotated[ConsentAt, Tag("ConsentAt")],
    Discriminator(
        _consent_form,
        custom_error_type="consent_form",
        custom_error_message="expected one of {event: NAME}, {url: REGEX}, {at: TIME}",
    ),
]


class FrequencyLimit(_Strict):
    """At most ``max`` messages carrying ``type`` to one party within any ``per_s`` seconds."""

    type: str = Field(min_length=1)
    max: int = Field(ge=1)
    per_s: float = Field(gt=0)
    party: str | None = None  # one SDK id or domain; every party when absent
    state: AppState = "any"


class AppDeclaration(_Strict):
    app: AppInfo
    first_party: list[str] = Field(default_factory=list)
    collects: list[CollectedItem] = Field(default_factory=list)
    shares: list[SharedItem] = Field(default_factory=list)
    consent: Consent | None = None
    #: how the user's withdrawal of consent shows, in the forms of ``consent``
    withdrawal: Consent | None = None
    #: false: no device identifier is needed; a list: only these are; absent: not stated
    needs_device_ids: bool | list[str] | None = None
    frequency: list[FrequencyLimit] | None = None

    @field_validator("needs_device_ids")
    @classmethod
    def _device_ids(cls, value: bool | list[str] | None) -> bool | list[str] | None:
        if isinstance(value, list):
            unknown = sorted(set(value) - DEVICE_ID_TYPES)
            if unknown:
                known = ", ".join(sorted(DEVICE_ID_TYPES))
                raise ValueError(f"{', '.join(unknown)} not a device identifier ({known})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AppDeclaration:
        allowed = device_ids_in_scope(self.needs_device_ids)
        if allowed is None:
            return self
        for index, item in enumerate(self.collects):
            if item.type in DEVICE_ID_TYPES and item.type not in allowed:
                raise ValueError(
                    f"collects[{index}].type {item.type} is a device identifier "
                    "that needs_device_ids rules out"
                )
        for index, share in enumerate(self.shares):
            for kind in share.types:
                if kind in DEVICE_ID_TYPES and kind not in allowed:
                    raise ValueError(
                        f"shares[{index}].types {kind} is a device identifier "
                        "that needs_device_ids rules out"
                    )
        return self


_CONSENT_TAGS = frozenset({"event", "url", "at", "ConsentEvent", "ConsentUrl", "ConsentAt"})


def validate_file(path: Path) -> declaration.AppDeclaration:
    """Read and validate ``app.yaml``; raises ``DeclarationError`` naming file, line and field."""
    try:
        doc = read_yaml(path)
    except SignatureError as exc:
        raise DeclarationError("\n".join(exc.problems)) from exc
    if not isinstance(doc.data, dict):
        raise DeclarationError(doc.problem((), "expected a mapping at the top level"))
    return _validate(doc.data, doc)


def validate_mapping(data: dict[str, Any]) -> declaration.AppDeclaration:
    """The same checks on a mapping built in code; problems are named by field only."""
    if not isinstance(data, dict):
        raise DeclarationError("expected a mapping at the top level")
    return _validate(data, None)


def _validate(data: dict[str, Any], doc: YamlDocument | None) -> declaration.AppDeclaration:
    def problem(loc: tuple[int | str, ...], msg: str) -> str:
        return doc.problem(loc, msg) if doc is not None else f"{format_loc(loc)}: {msg}"

    problems = [problem(loc, msg) for loc, msg in _scope_problems(data)]
    if problems:
        raise DeclarationError("\n".join(problems))
    try:
        validated = AppDeclaration.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = _clean_loc(tuple(p for p in err["loc"] if isinstance(p, int | str)))
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(problem(loc, msg[:1].lower() + msg[1:]))
        raise DeclarationError("\n".join(problems)) from exc
    plain: declaration.AppDeclaration = to_plain(validated, vars(declaration))
    return plain


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the union tag pydantic puts after ``consent`` (``consent.url.url``)."""
    if len(loc) >= 2 and loc[0] in ("consent", "withdrawal") and loc[1] in _CONSENT_TAGS:
        return (loc[0], *loc[2:])
    return loc


def _scope_problems(data: dict[str, object]) -> list[tuple[tuple[int | str, ...], str]]:
    """Device identifiers listed although ``needs_device_ids`` rules them out, located.

    The model checks the same thing, but only the raw document can say which
    line of a long list is at fault.
    """
    needs = data.get("needs_device_ids")
    if needs is False:
        allowed: set[object] = set()
    elif isinstance(needs, list):
        allowed = {kind for kind in needs if isinstance(kind, str)}
    else:
        return []
    out: list[tuple[tuple[int | str, ...], str]] = []
    why = "is a device identifier that needs_device_ids rules out"
    collects = data.get("collects")
    for i, item in enumerate(collects if isinstance(collects, list) else []):
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind in DEVICE_ID_TYPES and kind not in allowed:
            out.append((("collects", i, "type"), f"{kind} {why}"))
    shares = data.get("shares")
    for i, item in enumerate(shares if isinstance(shares, list) else []):
        kinds = item.get("types") if isinstance(item, dict) else None
        for j, kind in enumerate(kinds if isinstance(kinds, list) else []):
            if isinstance(kind, str) and kind in DEVICE_ID_TYPES and kind not in allowed:
                out.append((("shares", i, "types", j), f"{kind} {why}"))
    return out
