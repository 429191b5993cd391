"""Attribution: who receives a message (first party, a known SDK, or unknown).

Runs once per message, so answers are memoised per host, and per request
only for hosts where a path or header rule could change the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from leaktrace.attribution.domains import normalize_host, registrable_domain
from leaktrace.attribution.sdk import Rule, SdkMatcher, split_target
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Attribution, Message, Party

__all__ = ["Attributor", "Rule", "SdkMatcher", "registrable_domain", "split_target"]

_K = TypeVar("_K")

CACHE_LIMIT = 4096
"""Attributions remembered; the key holds the request-target for SDKs matched by path,
and targets are mostly unique (timestamps, counters), so a bigger memo only grows
memory in a long proxy session. It is reset, not grown, past this."""


def _clean_domain(domain: str) -> str:
    value = normalize_host(domain)
    return value.removeprefix("*.").lstrip(".")


class Attributor:
    def __init__(
        self,
        signatures: SignatureSet,
        first_party_domains: Sequence[str] = (),
        matcher: SdkMatcher | None = None,
    ) -> None:
        """``matcher`` may be shared by every attributor of one signature set: it
        depends on nothing else, and building it is most of building one of these."""
        self._matcher = matcher if matcher is not None else SdkMatcher(signatures)
        self._first = frozenset(d for d in (_clean_domain(x) for x in first_party_domains) if d)
        self._cache: dict[tuple[object, object, object], Attribution] = {}
        # Messages without a request (DNS, TLS, QUIC), by the host as they spell it:
        # no path or header rule can accept them, so the host alone decides, and it
        # is looked up before being normalised or having its rules looked up.
        self._by_host: dict[str | None, Attribution] = {}

    def attribute(self, msg: Message) -> Attribution:
        if msg.http is None:
            known = self._by_host.get(msg.host)
            if known is None:
                known = self.attribute_target(normalize_host(msg.host) if msg.host else None)
                _bounded_put(self._by_host, msg.host, known)
            return known
        host = normalize_host(msg.host) if msg.host else None
        target = msg.http.target
        headers = msg.http.headers
        by_path, by_headers = self._matcher.relevance(host)
        key = (host, target if by_path else None, headers if by_headers else None)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self.attribute_target(host, target, headers)
        _bounded_put(self._cache, key, result)
        return result

    @property
    def matcher(self) -> SdkMatcher:
        return self._matcher

    def is_first_party(self, host: str) -> bool:
        """The host, or any parent domain of it, is a declared first-party domain."""
        first = self._first
        if not first:
            return False
        name = host
        while name not in first:
            dot = name.find(".")
            if dot < 0:
                return False
            name = name[dot + 1 :]
        return True

    def attribute_target(
        self, host: str | None, target: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> Attribution:
        """Party and SDK for a host (normalised) and an optional request-target, uncached."""
        if not host:
            return Attribution(host=None, registrable_domain=None, party="unknown", sdk=None)
        domain = registrable_domain(host)
        matched = self._matcher.match(host, target, headers)
        party: Party
        if self.is_first_party(host) or (domain is not None and domain in self._first):
            party = "first"
        elif matched is not None or self._first:
            party = "third"
        else:
            party = "unknown"
        if matched is None:
            return Attribution(host=host, registrable_domain=domain, party=party, sdk=None)
        sdk, basis = matched
        return Attribution(
            host=host,
            registrable_domain=domain,
            party=party,
            sdk=sdk.id,
            sdk_name=sdk.name,
            basis=basis,
        )


def _bounded_put(memo: dict[_K, Attribution], key: _K, value: Attribution) -> None:
    if len(memo) >= CACHE_LIMIT:
        memo.clear()
    memo[key] = value
