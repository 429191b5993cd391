"""Signatures as the pipeline holds them: plain, frozen records.

``schema`` checks a signature file; what it accepts is copied into these
classes (``schema.to_model``), and these are what the cache stores and every
run reads back. Keeping pydantic out of them keeps it out of a run's start-up:
importing it and building its validators cost more than the rest of the
start-up of ``leaktrace analyze`` together when the signature set comes from
the cache (docs/scaling.md, start-up). Each class has the fields of the
schema class of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

IdentifierCategory = Literal[
    "device_identifier", "contact", "location", "financial", "identity", "network", "behaviour"
]
SdkCategory = Literal[
    "analytics",
    "ads",
    "push",
    "crash",
    "location",
    "payment",
    "social",
    "fingerprint",
    "attribution",
    "engagement",
    "cdp",
]

#: Identifier types found by a dedicated detector rather than by regex
#: patterns, so an empty ``patterns`` list does not make them profile-only.
BUILTIN_DETECTED: frozenset[str] = frozenset({"location"})


def normalize_key(key: str) -> str:
    """Fold a payload key so ``deviceId``, ``device-id`` and ``$device_id`` compare equal.

    Unicode letters are kept so keys such as ``手机号`` survive folding. The same
    few keys recur in every message, so short ones are folded once per run.
    """
    if len(key) <= _CACHED_KEY_LEN:
        return _normalize_short(key)
    return _fold(key)


_CACHED_KEY_LEN = 64


def _fold(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


_normalize_short = lru_cache(maxsize=16384)(_fold)


@dataclass(frozen=True, slots=True)
class Names:
    en: str
    zh: str | None = None


@dataclass(frozen=True, slots=True)
class Confidence:
    """Confidence without and with a key hint; a hint can only raise it."""

    base: float
    with_key: float


@dataclass(frozen=True, slots=True)
class IdentifierExamples:
    """Strings that must (and must not) be reported (``schema.IdentifierExamples``)."""

    match: list[str]
    no_match: list[str]
    device: str | None = None


@dataclass(frozen=True, slots=True)
class PatternSig:
    id: str
    regex: str
    validator: str | None = None
    requires_key: bool = False
    caseless: bool = False
    over_lists: bool = False
    confidence: Confidence | None = None
    compiled: re.Pattern[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = re.IGNORECASE if self.caseless else 0
        object.__setattr__(self, "compiled", re.compile(self.regex.encode("ascii"), flags))


@dataclass(frozen=True, slots=True)
class IdentifierSig:
    id: str
    names: Names
    category: IdentifierCategory
    sensitive: bool
    source: str
    confidence: Confidence
    examples: IdentifierExamples
    patterns: list[PatternSig] = field(default_factory=list)
    key_hints: list[str] = field(default_factory=list)
    #: the key hints, already normalised
    hints: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hints", frozenset(normalize_key(h) for h in self.key_hints))


@dataclass(frozen=True, slots=True)
class HeaderRule:
    name: str
    value: str  # regex searched in the header value


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way to recognise an SDK's traffic (the fields: ``schema.Endpoint``)."""

    source: str
    domain: str | None = None
    host: str | None = None
    host_regex: str | None = None
    path: str | None = None
    query: str | None = None
    header: HeaderRule | None = None

    @property
    def narrowed(self) -> bool:
        """True when the rule also looks at the request, not just the host."""
        return self.path is not None or self.header is not None


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    zh: str | None = None


@dataclass(frozen=True, slots=True)
class SdkExamples:
    """Hosts or URLs (``https://host/path?query``) that must (not) match this SDK."""

    match: list[str]
    no_match: list[str]


@dataclass(frozen=True, slots=True)
class SdkSig:
    id: str
    name: str
    vendor: Vendor
    category: SdkCategory
    endpoints: list[Endpoint]
    examples: SdkExamples
    privacy_policy: str | None = None
    collects: list[str] = field(default_factory=list)
