"""Re-test diff: which flows of data stopped, which remain and which are new between two runs.

A flow is (party side, recipient, identifier type): the unit a rectification
notice speaks of ("stop sending IMEI to the ad SDK"). Counts and hosts are
shown, but only the flow's presence decides its status, so a run that merely
sent fewer requests is not mistaken for a fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leaktrace.declaration import AppDeclaration
from leaktrace.policy.engine import Evaluation, evaluate
from leaktrace.policy.parties import recipient_of, reclassify
from leaktrace.signatures.loader import SignatureSet
from leaktrace.timeline import Timeline, TimelineError, read_timeline
from leaktrace.types import Finding

FlowStatus = Literal["stopped", "remaining", "new"]
FlowKey = tuple[str, str, str]  # (side: first|third|unknown, recipient, type)
VerdictKey = tuple[str, str, str]  # (rule, recipient, type)
FIRST_PARTY = "first party"  # the collected list is per type, whichever first-party host
STATUS_ORDER: dict[str, int] = {"new": 0, "remaining": 1, "stopped": 2}


class DiffError(ValueError):
    """A run file that is neither findings/timeline JSONL nor a verdict JSON."""


@dataclass(slots=True)
class FlowStats:
    count: int = 0
    hosts: set[str] = field(default_factory=set)
    company: str | None = None


@dataclass(slots=True)
class Run:
    """What one run showed, reduced to flows (and verdicts, when they were judged)."""

    name: str
    flows: dict[FlowKey, FlowStats] = field(default_factory=dict)
    verdicts: set[VerdictKey] | None = None


@dataclass(frozen=True, slots=True)
class FlowChange:
    side: str
    recipient: str
    type: str
    status: FlowStatus
    before: int
    after: int
    hosts: tuple[str, ...]
    company: str | None = None


@dataclass(slots=True)
class RunDiff:
    before: str
    after: str
    flows: list[FlowChange]
    verdicts: dict[str, list[VerdictKey]] | None = None  # fixed / remaining / new

    def count(self, status: FlowStatus) -> int:
        return sum(1 for f in self.flows if f.status == status)


def run_from_findings(
    name: str, findings: Iterable[Finding], signatures: SignatureSet | None = None
) -> Run:
    run = Run(name)
    for finding in findings:
        recipient = recipient_of(finding, signatures)
        who = FIRST_PARTY if finding.party == "first" else recipient.key
        stats = run.flows.setdefault((finding.party, who, finding.type), FlowStats())
        stats.count += 1
        stats.hosts.add(finding.host or finding.dst)
        stats.company = stats.company or recipient.company
    return run


def run_from_evaluation(name: str, evaluation: Evaluation) -> Run:
    run = run_from_findings(name, evaluation.findings)
    for row in evaluation.lists.shared:
        key = ("third", row.party, row.type)
        if key in run.flows:
            run.flows[key].company = run.flows[key].company or row.company
    run.verdicts = {(v.rule, v.recipient.key, v.type) for v in evaluation.verdicts}
    return run


def run_from_verdict_record(name: str, record: dict[str, Any]) -> Run:
    """A run from ``verdicts.json``: its observed lists and its verdicts."""
    run = Run(name)
    observed = record.get("observed") or {}
    for row in observed.get("collected", []):
        if row.get("status") != "not_observed":
            run.flows[("first", FIRST_PARTY, str(row["type"]))] = FlowStats(
                int(row.get("findings", 0)), set(row.get("hosts", []))
            )
    for row in observed.get("shared", []):
        if row.get("status") != "not_observed":
            run.flows[("third", str(row["party"]), str(row["type"]))] = FlowStats(
                int(row.get("findings", 0)), set(row.get("hosts", [])), row.get("company")
            )
    run.verdicts = {
        (str(v["rule"]), str(v["recipient"]["key"]), str(v["type"]))
        for v in record.get("verdicts", [])
    }
    return run


def load_run(
    path: str | Path,
    declaration: AppDeclaration | None = None,
    signatures: SignatureSet | None = None,
) -> Run:
    """A findings/timeline JSONL file or a ``verdicts.json``, judged with the declaration if given.

    Flows of a verdict file keep the side its own report gave them; to compare a
    verdict file with a findings file, judge the findings with the same declaration.
    """
    path = Path(path)
    name = str(path)
    try:
        with path.open(encoding="utf-8") as stream:
            head = stream.read(256)
        if head.lstrip().startswith("{") and "leaktrace_verdicts" in head:
            record = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(record, dict):
                return run_from_verdict_record(name, record)
    except OSError as exc:
        raise DiffError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise DiffError(f"{path}: not a verdict JSON file: {exc}") from exc
    try:
        timeline = read_timeline(path)
    except TimelineError as exc:
        raise DiffError(str(exc)) from exc
    return judged_run(name, timeline, declaration, signatures)


def judged_run(
    name: str,
    timeline: Timeline,
    declaration: AppDeclaration | None,
    signatures: SignatureSet | None,
) -> Run:
    if declaration is None:
        return run_from_findings(name, reclassify(timeline.findings, None), signatures)
    return run_from_evaluation(name, evaluate(timeline, declaration, signatures))


def diff_runs(before: Run, after: Run) -> RunDiff:
    flows: list[FlowChange] = []
    for key in sorted(set(before.flows) | set(after.flows)):
        old, new = before.flows.get(key), after.flows.get(key)
        status: FlowStatus = "remaining" if old and new else ("stopped" if old else "new")
        hosts = (old.hosts if old else set()) | (new.hosts if new else set())
        company = (new.company if new else None) or (old.company if old else None)
        flows.append(
            FlowChange(
                key[0],
                key[1],
                key[2],
                status,
                old.count if old else 0,
                new.count if new else 0,
                tuple(sorted(hosts)),
                company,
            )
        )
    flows.sort(key=lambda f: (STATUS_ORDER[f.status], f.side != "third", f.recipient, f.type))
    verdicts = None
    if before.verdicts is not None and after.verdicts is not None:
        verdicts = {
            "fixed": sorted(before.verdicts - after.verdicts),
            "remaining": sorted(before.verdicts & after.verdicts),
            "new": sorted(after.verdicts - before.verdicts),
        }
    return RunDiff(before.name, after.name, flows, verdicts)


def diff_record(diff: RunDiff) -> dict[str, Any]:
    record: dict[str, Any] = {
        "before": diff.before,
        "after": diff.after,
        "counts": {s: diff.count(s) for s in ("stopped", "remaining", "new")},
        "flows": [
            {
                "party": f.side,
                "recipient": f.recipient,
                "company": f.company,
                "type": f.type,
                "status": f.status,
                "before": f.before,
                "after": f.after,
                "hosts": list(f.hosts),
            }
            for f in diff.flows
        ],
    }
    if diff.verdicts is not None:
        record["verdicts"] = {
            status: [{"rule": r, "recipient": who, "type": t} for r, who, t in keys]
            for status, keys in diff.verdicts.items()
        }
    return record


STATUS_STYLE = {"new": "bold red", "remaining": "yellow", "stopped": "green"}


def render_diff(diff: RunDiff, console: Console) -> None:
    table = Table(title=f"{diff.before} → {diff.after}", title_justify="left")
    for column in ("status", "party", "recipient", "type", "before", "after", "hosts"):
        table.add_column(column, justify="right" if column in ("before", "after") else "left")
    for f in diff.flows:
        table.add_row(
            Text(f.status, style=STATUS_STYLE[f.status]),
            Text(f.side),
            Text(f.recipient if f.company is None else f"{f.recipient} ({f.company})"),
            Text(f.type),
            str(f.before),
            str(f.after),
            Text(" ".join(f.hosts)),
        )
    console.print(table)
    counts = ", ".join(f"{s} {diff.count(s)}" for s in ("stopped", "remaining", "new"))
    line = f"flows: {counts}"
    if diff.verdicts is not None:
        line += "; verdicts: " + ", ".join(f"{k} {len(v)}" for k, v in diff.verdicts.items())
    console.print(line, highlight=False)
