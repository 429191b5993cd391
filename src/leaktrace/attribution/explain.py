"""Why a host or URL is attributed the way it is: the answer ``signatures match`` prints.

A reviewer checking a finding asks which rule claimed the endpoint, what that
rule's evidence was, and whether the app's own first-party list would have
changed the verdict; all three come from the same matcher the pipeline uses,
so the explanation cannot drift from what analysis does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from leaktrace.attribution import Attributor
from leaktrace.attribution.domains import is_ip, normalize_host
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Attribution


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One candidate rule: whose it is, how it matches, its evidence, and its verdict."""

    sdk: str
    basis: str
    source: str
    accepted: bool


@dataclass(frozen=True, slots=True)
class MatchExplanation:
    query: str
    host: str | None
    target: str | None  # path and query, as a request-target
    attribution: Attribution
    source: str | None  # evidence of the rule that won
    rules: tuple[RuleCheck, ...]  # candidates in the order they were tried
    first_party_entry: str | None  # what app.yaml's first_party needs to own this host


def split_host_or_url(text: str) -> tuple[str | None, str | None]:
    """``https://h/p?q``, ``h/p?q`` or ``h`` -> (host, request-target)."""
    value = text.strip()
    if "://" in value:
        try:
            parts = urlsplit(value)
            hostname = parts.hostname
        except ValueError:
            return None, None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return (normalize_host(hostname) if hostname else None), target
    host, slash, rest = value.partition("/")
    host = normalize_host(host) if host else ""
    return (host or None), (f"/{rest}" if slash else None)


def explain_match(
    text: str, signatures: SignatureSet, first_party: Sequence[str] = ()
) -> MatchExplanation:
    attributor = Attributor(signatures, first_party)
    host, target = split_host_or_url(text)
    attribution = attributor.attribute_target(host, target)
    checks = tuple(
        RuleCheck(rule.sdk.id, rule.basis, rule.endpoint.source, accepted)
        for rule, accepted in attributor.matcher.explain(host, target)
    )
    winner = next((c for c in checks if c.accepted), None)
    entry: str | None = None
    if host:
        entry = host if is_ip(host) else (attribution.registrable_domain or host)
    return MatchExplanation(
        query=text,
        host=host,
        target=target,
        attribution=attribution,
        source=winner.source if winner is not None else None,
        rules=checks,
        first_party_entry=entry,
    )
