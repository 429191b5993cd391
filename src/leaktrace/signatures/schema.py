"""The shape of a signature file, checked once at load time.

What passes is copied into ``model``'s plain classes (``to_model``): the
pipeline and the cache never hold these pydantic objects.

Signatures are data written by hand, so every mistake a reviewer could miss
(a regex that matches the empty string, a domain rule with no dot, a pattern
id that does not say which identifier it belongs to) is rejected here with a
message that names the field, instead of surfacing later as a silent miss or a
flood of false positives on real traffic.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from leaktrace.plain import to_plain
from leaktrace.signatures import model
from leaktrace.signatures.model import (
    BUILTIN_DETECTED,
    IdentifierCategory,
    SdkCategory,
    normalize_key,
)

__all__ = ["BUILTIN_DETECTED", "IdentifierSig", "SdkSig", "normalize_key", "to_model"]

_ID = r"^[a-z][a-z0-9_]*$"
_PATTERN_ID = r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Names(_Strict):
    en: str = Field(min_length=1)
    zh: str | None = None


class Confidence(_Strict):
    """Confidence without and with a key hint; a hint can only raise it."""

    base: float = Field(ge=0.0, le=1.0)
    with_key: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _key_raises(self) -> Confidence:
        if self.with_key < self.base:
            raise ValueError("with_key must be >= base")
        return self


class IdentifierExamples(_Strict):
    """Strings that must (and must not) be reported, run by the test suite.

    ``device`` is the device value used when the type is only found by
    comparing against a device profile (ssid, name).
    """

    match: list[str] = Field(min_length=1)
    no_match: list[str] = Field(min_length=1)
    device: str | None = None


class PatternSig(_Strict):
    id: str = Field(pattern=_PATTERN_ID)
    regex: str = Field(min_length=1)
    validator: str | None = None
    requires_key: bool = False
    caseless: bool = False
    # Also run over the elements of one list joined by commas (a JSON array's strings,
    # one key across an array of objects, a repeated form or query key): for types that
    # are a list of values, which no single element shows.
    over_lists: bool = False
    confidence: Confidence | None = None

    @field_validator("regex")
    @classmethod
    def _regex_ok(cls, value: str) -> str:
        # Hyperscan scans bytes without UTF-8 mode, so a non-ASCII pattern
        # would mean something different to it than to Python's re.
        if not value.isascii():
            raise ValueError("regex must be ASCII (escape other bytes as \\xHH)")
        try:
            compiled = re.compile(value.encode("ascii"))
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from exc
        if compiled.fullmatch(b"") is not None:
            raise ValueError("regex matches the empty string")
        return value

    @field_validator("validator")
    @classmethod
    def _validator_known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from leaktrace.detectors.validators import VALIDATORS

        if value not in VALIDATORS:
            known = ", ".join(sorted(VALIDATORS))
            raise ValueError(f"unknown validator {value!r} (known: {known})")
        return value


class IdentifierSig(_Strict):
    id: str = Field(pattern=_ID)
    names: Names
    category: IdentifierCategory
    sensitive: bool
    source: str = Field(min_length=1)
    patterns: list[PatternSig] = Field(default_factory=list)
    confidence: Confidence
    key_hints: list[str] = Field(default_factory=list)
    examples: IdentifierExamples

    @field_validator("key_hints")
    @classmethod
    def _hints_fold(cls, value: list[str]) -> list[str]:
        for hint in value:
            if not normalize_key(hint):
                raise ValueError(f"key hint {hint!r} is empty after normalising")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IdentifierSig:
        seen: set[str] = set()
        for pattern in self.patterns:
            if not pattern.id.startswith(self.id + "."):
                raise ValueError(f"pattern id {pattern.id!r} must start with {self.id + '.'!r}")
            if pattern.id in seen:
                raise ValueError(f"duplicate pattern id {pattern.id!r}")
            seen.add(pattern.id)
            if pattern.requires_key and not self.key_hints:
                raise ValueError(f"pattern {pattern.id!r} requires a key but key_hints is empty")
        if not self.patterns and self.id not in BUILTIN_DETECTED and self.examples.device is None:
            raise ValueError("examples.device is required when patterns is empty")
        return self


class HeaderRule(_Strict):
    name: str = Field(min_length=1)
    value: str = Field(min_length=1)  # regex searched in the header value

    @field_validator("value")
    @classmethod
    def _regex_ok(cls, value: str) -> str:
        return _check_regex(value)


class Endpoint(_Strict):
    """One way to recognise an SDK's traffic.

    ``domain`` matches the host and its subdomains on a label boundary;
    ``host`` only that exact host; ``host_regex`` is searched in the host
    name (for lists, such as Exodus's, whose host rules are regexes and not
    plain suffixes). ``path``/``query``/``header`` narrow a rule (for shared
    domains) or, without a host part, match on any host (for self-hosted
    collectors that are only recognisable by their URL).
    """

    domain: str | None = None
    host: str | None = None
    host_regex: str | None = None
    path: str | None = None
    query: str | None = None
    header: HeaderRule | None = None
    source: str = Field(min_length=1)

    @field_validator("domain", "host")
    @classmethod
    def _hostname_ok(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value != value.lower() or value.endswith(".") or "/" in value or ":" in value:
            raise ValueError("must be a lower-case host name without scheme, port or path")
        if _IPV4.match(value):
            return value
        labels = value.split(".")
        if len(labels) < 2:
            raise ValueError("must have at least two labels")
        if not all(_LABEL.match(label) for label in labels):
            raise ValueError("is not a valid host name")
        return value

    @field_validator("path", "query")
    @classmethod
    def _regex_ok(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)

    @field_validator("host_regex")
    @classmethod
    def _host_regex_ok(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compiled = re.compile(_check_regex(value))
        # A rule that claims every host would attribute all traffic to one SDK.
        if compiled.search("") is not None or compiled.search("unrelated-host.invalid"):
            raise ValueError("host_regex matches hosts of any name; anchor it to a domain")
        return value

    @model_validator(mode="after")
    def _one_anchor(self) -> Endpoint:
        if self.domain is not None and _IPV4.match(self.domain):
            raise ValueError("an IP address cannot be a domain suffix; use host")
        anchors = [a for a in (self.domain, self.host, self.host_regex) if a is not None]
        if len(anchors) > 1:
            raise ValueError("give only one of domain, host and host_regex")
        if not anchors and not (self.path or self.header):
            raise ValueError("needs a domain, a host, a host_regex, a path or a header")
        if self.query is not None and self.path is None:
            raise ValueError("query needs a path")
        return self


class Vendor(_Strict):
    name: str = Field(min_length=1)
    zh: str | None = None


class SdkExamples(_Strict):
    """Hosts or URLs (``https://host/path?query``) that must (not) match this SDK."""

    match: list[str] = Field(min_length=1)
    no_match: list[str] = Field(min_length=1)


class SdkSig(_Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    vendor: Vendor
    category: SdkCategory
    privacy_policy: str | None = Field(default=None, pattern=r"^https://")
    collects: list[str] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(min_length=1)
    examples: SdkExamples


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regex does not compile: {exc}") from exc
    return value


def to_model(value: Any) -> Any:
    """The pipeline's copy of a validated value: ``model``'s classes (``leaktrace.plain``)."""
    return to_plain(value, vars(model))
