"""What every rule judges against: the session's findings and events, the declaration,
the consent point and the settings, with the lookups rules share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from leaktrace.declaration import (
    AppDeclaration,
    Consent,
    ConsentAt,
    ConsentEvent,
    ConsentUrl,
    FrequencyLimit,
)
from leaktrace.policy.model import ConsentPoint, Level, Recipient, RuleInfo, Verdict
from leaktrace.policy.parties import recipient_of
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Finding, TimelineEvent

#: Types research C9 names as sensitive in clear text (phone number, ID card,
#: bank card, precise location), on top of those the signatures mark sensitive.
CLEARTEXT_TYPES: frozenset[str] = frozenset({"phone", "id_card", "bank_card", "location"})

#: Transports whose payload a network observer reads as sent.
CLEARTEXT_TRANSPORTS: frozenset[str] = frozenset({"http", "dns", "tcp", "udp"})

BACKGROUND_EVENT = "background"
FOREGROUND_EVENT = "foreground"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Knobs a lab may turn; the defaults are what ``leaktrace report`` uses."""

    max_evidence: int = 20  # findings kept per verdict; the rest are counted
    warn_below_confidence: float = 0.5  # a verdict resting only on weaker findings is a warning
    cleartext_types: frozenset[str] | None = None  # None: signatures' sensitive + CLEARTEXT_TYPES
    #: applied when the declaration sets no ``frequency``; their verdicts are warnings,
    #: because the app never said what rate its features need
    default_frequency: tuple[FrequencyLimit, ...] = (
        FrequencyLimit(type="location", max=1, per_s=60.0),
    )


@dataclass(frozen=True, slots=True)
class RequestMark:
    """A request seen in the session (time and URL), for ``consent: {url: ...}``."""

    ts: float
    url: str


@dataclass(slots=True)
class PolicyContext:
    findings: list[Finding]  # party judged against the declaration, in time order
    events: list[TimelineEvent]
    declaration: AppDeclaration | None
    signatures: SignatureSet | None
    settings: PolicySettings = field(default_factory=PolicySettings)
    consent: ConsentPoint | None = None
    consent_why_not: str | None = None
    withdrawal: ConsentPoint | None = None
    withdrawal_why_not: str | None = None
    #: consent given again after the withdrawal; None when it was not
    regranted: float | None = None
    _recipients: dict[tuple[str | None, str | None, str, str], Recipient] = field(
        default_factory=dict
    )

    def recipient(self, finding: Finding) -> Recipient:
        key = (finding.sdk, finding.host, finding.dst, finding.party)
        found = self._recipients.get(key)
        if found is None:
            found = recipient_of(finding, self.signatures)
            self._recipients[key] = found
        return found

    def group(self, findings: Iterable[Finding]) -> Iterator[tuple[Recipient, str, list[Finding]]]:
        """Findings by (recipient, type), in order of each group's first finding."""
        groups: dict[tuple[str, str, str], tuple[Recipient, str, list[Finding]]] = {}
        for finding in findings:
            recipient = self.recipient(finding)
            key = (recipient.key, recipient.party, finding.type)
            if key not in groups:
                groups[key] = (recipient, finding.type, [])
            groups[key][2].append(finding)
        yield from groups.values()

    def level(self, findings: Sequence[Finding]) -> Level:
        best = max(f.confidence for f in findings)
        return "warning" if best < self.settings.warn_below_confidence else "violation"

    def verdict(
        self,
        rule: RuleInfo,
        recipient: Recipient,
        kind: str,
        findings: Sequence[Finding],
        reason: str,
        *,
        level: Level | None = None,
        detail: Sequence[tuple[str, str]] = (),
    ) -> Verdict:
        ordered = sorted(findings, key=lambda f: (f.ts, f.trans_depth))
        hosts = sorted({f.host or f.dst for f in ordered})
        return Verdict(
            rule=rule.id,
            severity=rule.severity,
            level=level or self.level(ordered),
            recipient=recipient,
            type=kind,
            reason=reason,
            evidence=tuple(ordered[: self.settings.max_evidence]),
            count=len(ordered),
            first_ts=ordered[0].ts,
            last_ts=ordered[-1].ts,
            hosts=tuple(hosts),
            detail=tuple(detail),
        )

    def sensitive_types(self) -> frozenset[str]:
        if self.settings.cleartext_types is not None:
            return self.settings.cleartext_types
        marked = (
            {k for k, sig in self.signatures.identifiers.items() if sig.sensitive}
            if self.signatures is not None
            else set()
        )
        return frozenset(marked) | CLEARTEXT_TYPES


def resolve_consent(
    decl: AppDeclaration | None,
    events: Sequence[TimelineEvent],
    requests: Sequence[RequestMark] | None = None,
) -> tuple[ConsentPoint | None, str | None]:
    """The consent point, or why it cannot be placed.

    An event or URL form that never occurs in a session that has marks (or
    requests) means consent was never given: every finding came before it. A
    session with no marks at all cannot say either way. ``requests`` is None
    when no request URLs were read (a findings file); a list, even empty, means
    the session's requests were searched.
    """
    consent = decl.consent if decl is not None else None
    if consent is None:
        return None, "the declaration does not say how consent shows (consent:)"
    return _first_occurrence(consent, "consent", events, requests)


def resolve_withdrawal(
    decl: AppDeclaration | None,
    events: Sequence[TimelineEvent],
    requests: Sequence[RequestMark] | None = None,
) -> tuple[ConsentPoint | None, str | None, float | None]:
    """Where the user withdrew consent (or why that cannot be placed), and when consent
    was given again after it (None when it was not).

    A withdrawal that never occurs leaves a point without a time: the session
    did not exercise it. Consent given again is the first occurrence of the
    ``consent`` form after the withdrawal.
    """
    withdrawal = decl.withdrawal if decl is not None else None
    if withdrawal is None:
        return None, "the declaration does not say how a withdrawal shows (withdrawal:)", None
    point, why_not = _first_occurrence(withdrawal, "withdrawal", events, requests)
    consent = decl.consent if decl is not None else None
    if point is None or point.ts is None or consent is None or isinstance(consent, ConsentAt):
        return point, why_not, None  # a declared time is the first consent, not a later one
    at = point.ts
    later = [e for e in events if e.ts > at]
    later_requests = None if requests is None else [r for r in requests if r.ts > at]
    again, _ = _first_occurrence(consent, "consent", later, later_requests)
    return point, why_not, None if again is None else again.ts


def _first_occurrence(
    consent: Consent,
    what: str,
    events: Sequence[TimelineEvent],
    requests: Sequence[RequestMark] | None,
) -> tuple[ConsentPoint | None, str | None]:
    if isinstance(consent, ConsentAt):
        return ConsentPoint(consent.ts, f"at {consent.ts:.3f} (declared time)"), None
    if isinstance(consent, ConsentEvent):
        marks = [e for e in events if e.name == consent.event]
        if marks:
            first = min(marks, key=lambda e: e.ts)
            return ConsentPoint(first.ts, f"event {consent.event!r}"), None
        if not events:
            return None, (
                f"{what} is the event {consent.event!r} but the session has no "
                "timeline events (analyze a proxy or harness timeline)"
            )
        return ConsentPoint(None, f"event {consent.event!r} never marked in this session"), None
    assert isinstance(consent, ConsentUrl)
    pattern = re.compile(consent.url)
    candidates = list(requests or ())
    candidates += [
        RequestMark(e.ts, value) for e in events for key, value in e.data if key == "url"
    ]
    hits = [c for c in candidates if pattern.search(c.url)]
    if hits:
        first_hit = min(hits, key=lambda c: c.ts)
        return ConsentPoint(first_hit.ts, f"request matching {consent.url!r}"), None
    if not candidates and requests is None:
        return None, (
            f"{what} is a request matching {consent.url!r} but no request URLs were "
            "recorded (report from the capture, or mark events with a url)"
        )
    return ConsentPoint(None, f"no request matched {consent.url!r} in this session"), None


def app_states(events: Sequence[TimelineEvent]) -> list[tuple[float, float | None, str]]:
    """Intervals (start, end or None, state) from ``background``/``foreground`` marks."""
    marks = sorted(
        (e for e in events if e.name in (BACKGROUND_EVENT, FOREGROUND_EVENT)),
        key=lambda e: e.ts,
    )
    out: list[tuple[float, float | None, str]] = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].ts if index + 1 < len(marks) else None
        out.append((mark.ts, end, mark.name))
    return out


def state_at(intervals: Sequence[tuple[float, float | None, str]], ts: float) -> str | None:
    for start, end, state in intervals:
        if start <= ts and (end is None or ts < end):
            return state
    return None
