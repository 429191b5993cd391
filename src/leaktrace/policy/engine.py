"""Findings + timeline + declaration → verdicts: the library call behind ``leaktrace report``.

The result says, per rule, either what tripped or why the rule could not
judge this session; a rule that was not checked is never shown as passed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from leaktrace.declaration import AppDeclaration
from leaktrace.masking import mask_value
from leaktrace.policy.context import (
    PolicyContext,
    PolicySettings,
    RequestMark,
    resolve_consent,
    resolve_withdrawal,
)
from leaktrace.policy.failon import FailOn as FailOn  # re-exported: callers import it from here
from leaktrace.policy.lists import DoubleLists, lists_record, observed_lists
from leaktrace.policy.model import SEVERITY_ORDER, ConsentPoint, RuleResult, Verdict
from leaktrace.policy.parties import reclassify
from leaktrace.policy.rules import RULE_INFO, RULES
from leaktrace.signatures.loader import SignatureSet
from leaktrace.sinks.records import finding_record
from leaktrace.timeline import Timeline, event_record
from leaktrace.types import Finding, TimelineEvent

VERDICT_FORMAT_VERSION = 1


@dataclass(slots=True)
class Evaluation:
    declaration: AppDeclaration | None
    findings: list[Finding]
    events: list[TimelineEvent]
    results: list[RuleResult]
    lists: DoubleLists
    consent: ConsentPoint | None
    consent_why_not: str | None
    notes: list[str] = field(default_factory=list)
    withdrawal: ConsentPoint | None = None

    @property
    def verdicts(self) -> list[Verdict]:
        out = [v for r in self.results for v in r.verdicts]
        return sorted(
            out,
            key=lambda v: (v.level != "violation", SEVERITY_ORDER[v.severity], v.rule, v.first_ts),
        )

    def counts(self) -> dict[str, int]:
        levels = Counter(v.level for v in self.verdicts)
        return {"violation": levels["violation"], "warning": levels["warning"]}

    def counts_by_rule(self) -> dict[str, int]:
        return {r.rule.id: len(r.verdicts) for r in self.results}


def mask_finding(finding: Finding, reveal: bool) -> Finding:
    """Mask a value that is not masked yet; a masked value is never unmasked."""
    if reveal or "*" in finding.value:
        return finding
    return replace(finding, value=mask_value(finding.type, finding.value))


def evaluate(
    timeline: Timeline,
    declaration: AppDeclaration | None,
    signatures: SignatureSet | None = None,
    *,
    settings: PolicySettings | None = None,
    requests: Sequence[RequestMark] | None = None,
    reveal: bool = False,
) -> Evaluation:
    findings = [mask_finding(f, reveal) for f in reclassify(timeline.findings, declaration)]
    findings.sort(key=lambda f: (f.ts, f.trans_depth))
    events = sorted(timeline.events, key=lambda e: e.ts)
    consent, why_not = resolve_consent(declaration, events, requests)
    withdrawal, withdrawal_why_not, regranted = resolve_withdrawal(declaration, events, requests)
    ctx = PolicyContext(
        findings=findings,
        events=events,
        declaration=declaration,
        signatures=signatures,
        settings=settings or PolicySettings(),
        consent=consent,
        consent_why_not=why_not,
        withdrawal=withdrawal,
        withdrawal_why_not=withdrawal_why_not,
        regranted=regranted,
    )
    results = [rule.check(ctx) for rule in RULES]
    notes = _notes(declaration, signatures, findings)
    return Evaluation(
        declaration,
        findings,
        events,
        results,
        observed_lists(ctx),
        consent,
        why_not,
        notes,
        withdrawal,
    )


def _notes(
    decl: AppDeclaration | None, signatures: SignatureSet | None, findings: Sequence[Finding]
) -> list[str]:
    notes = []
    if decl is not None and not decl.first_party:
        notes.append("the declaration lists no first-party domains: every host is a third party")
    if decl is None and any(f.party == "unknown" for f in findings):
        notes.append("no declaration: hosts no SDK signature knows have party 'unknown'")
    if decl is not None and signatures is not None:
        known = set(signatures.identifiers)
        listed = {i.type for i in decl.collects} | {t for s in decl.shares for t in s.types}
        for kind in sorted(listed - known - {"app_list"}):
            notes.append(f"declared type {kind!r} is not an identifier leaktrace detects")
        for share in decl.shares:
            if "." not in share.party and share.party not in signatures.sdks:
                notes.append(f"shares party {share.party!r} is neither a known SDK id nor a domain")
    return notes


def gate(evaluation: Evaluation, fail_on: FailOn) -> list[str]:
    """One line per verdict that trips the gate; empty means the gate passes."""
    lines = []
    for verdict in evaluation.verdicts:
        info = RULE_INFO[verdict.rule]
        if fail_on is FailOn.violation and verdict.level != "violation":
            continue
        if fail_on is FailOn.undisclosed and (not info.undisclosed or verdict.level != "violation"):
            continue
        lines.append(f"{verdict.rule} [{verdict.severity}] {verdict.reason}")
    return lines


# --------------------------------------------------------------------------- records


def verdict_record(verdict: Verdict) -> dict[str, Any]:
    r = verdict.recipient
    return {
        "rule": verdict.rule,
        "severity": verdict.severity,
        "level": verdict.level,
        "type": verdict.type,
        "recipient": {
            "key": r.key,
            "kind": r.kind,
            "party": r.party,
            "sdk": r.sdk,
            "domain": r.domain,
            "company": r.company,
        },
        "reason": verdict.reason,
        "hosts": list(verdict.hosts),
        "first_ts": round(verdict.first_ts, 6),
        "last_ts": round(verdict.last_ts, 6),
        "count": verdict.count,
        "evidence_truncated": verdict.evidence_truncated,
        "detail": dict(verdict.detail),
        "evidence": [finding_record(f) for f in verdict.evidence],
    }


def _point_record(point: ConsentPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"ts": None if point.ts is None else round(point.ts, 6), "basis": point.basis}


def evaluation_record(evaluation: Evaluation) -> dict[str, Any]:
    decl = evaluation.declaration
    return {
        "leaktrace_verdicts": VERDICT_FORMAT_VERSION,
        "app": None if decl is None else {"id": decl.app.id, "name": decl.app.name},
        "counts": {**evaluation.counts(), "findings": len(evaluation.findings)},
        "consent": _point_record(evaluation.consent),
        "withdrawal": _point_record(evaluation.withdrawal),
        "rules": [
            {
                "id": result.rule.id,
                "title": result.rule.title,
                "severity": result.rule.severity,
                "checked": result.checked,
                "why_not": result.why_not,
                "verdicts": len(result.verdicts),
                "clauses": [
                    {"ref": c.ref, "text": c.text, "mark": c.mark} for c in result.rule.clauses
                ],
            }
            for result in evaluation.results
        ],
        "verdicts": [verdict_record(v) for v in evaluation.verdicts],
        "observed": lists_record(evaluation.lists),
        "events": [event_record(e) for e in evaluation.events],
        "notes": list(evaluation.notes),
    }
