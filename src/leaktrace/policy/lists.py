"""The observed double lists, set beside the declared ones.

Same shape as the lists an app publishes (已收集个人信息清单, 与第三方共享个人信息清单),
so a reader compares row by row: each row is ``declared`` (seen and listed),
``undeclared`` (seen, not listed) or ``not_observed`` (listed, not seen in
this session, which is not proof the app never sends it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from leaktrace.declaration import AppDeclaration
from leaktrace.policy.context import PolicyContext
from leaktrace.policy.parties import share_declared

Status = Literal["declared", "undeclared", "not_observed"]


@dataclass(slots=True)
class CollectedRow:
    type: str
    status: Status
    purpose: str | None = None
    hosts: list[str] = field(default_factory=list)
    findings: int = 0
    first_ts: float | None = None


@dataclass(slots=True)
class SharedRow:
    party: str  # SDK id or domain
    type: str
    status: Status
    company: str | None = None
    purpose: str | None = None
    sdk: str | None = None
    hosts: list[str] = field(default_factory=list)
    findings: int = 0
    first_ts: float | None = None


@dataclass(slots=True)
class DoubleLists:
    collected: list[CollectedRow] = field(default_factory=list)
    shared: list[SharedRow] = field(default_factory=list)


def observed_lists(ctx: PolicyContext) -> DoubleLists:
    decl = ctx.declaration
    lists = DoubleLists()
    collected: dict[str, CollectedRow] = {}
    shared: dict[tuple[str, str], SharedRow] = {}
    for finding in ctx.findings:
        host = finding.host or finding.dst
        if finding.party == "first":
            row = collected.get(finding.type)
            if row is None:
                listed = decl is not None and finding.type in decl.collected_types
                row = CollectedRow(
                    finding.type,
                    "declared" if listed else "undeclared",
                    _purpose(decl, finding.type),
                    first_ts=finding.ts,
                )
                collected[finding.type] = row
            _add(row, host)
        else:
            recipient = ctx.recipient(finding)
            key = (recipient.key, finding.type)
            srow = shared.get(key)
            if srow is None:
                listed = decl is not None and share_declared(decl, finding)
                srow = SharedRow(
                    recipient.key,
                    finding.type,
                    "declared" if listed else "undeclared",
                    company=recipient.company or _share_company(decl, recipient.key),
                    purpose=_share_purpose(decl, recipient.key, finding.type),
                    sdk=recipient.sdk,
                    first_ts=finding.ts,
                )
                shared[key] = srow
            _add(srow, host)
    if decl is not None:
        _add_unobserved(decl, collected, shared)
    lists.collected = sorted(collected.values(), key=lambda r: (r.status, r.type))
    lists.shared = sorted(shared.values(), key=lambda r: (r.status, r.party, r.type))
    return lists


def _add(row: CollectedRow | SharedRow, host: str) -> None:
    row.findings += 1
    if host not in row.hosts:
        row.hosts.append(host)


def _purpose(decl: AppDeclaration | None, kind: str) -> str | None:
    if decl is None:
        return None
    return next((item.purpose for item in decl.collects if item.type == kind), None)


def _share_company(decl: AppDeclaration | None, party: str) -> str | None:
    if decl is None:
        return None
    return next((s.company for s in decl.shares if s.party == party), None)


def _share_purpose(decl: AppDeclaration | None, party: str, kind: str) -> str | None:
    if decl is None:
        return None
    for share in decl.shares:
        if share.party == party and kind in share.types:
            return share.purpose
    return None


def _add_unobserved(
    decl: AppDeclaration,
    collected: dict[str, CollectedRow],
    shared: dict[tuple[str, str], SharedRow],
) -> None:
    for item in decl.collects:
        if item.type not in collected:
            collected[item.type] = CollectedRow(item.type, "not_observed", item.purpose)
    seen: set[tuple[str, str | None]] = set()
    for row in shared.values():
        if row.status == "declared":
            seen |= {(row.type, row.party), (row.type, row.sdk)}
    for share in decl.shares:
        for kind in share.types:
            if (kind, share.party) in seen or _matched_by_domain(share.party, kind, shared):
                continue
            shared[(share.party, kind)] = SharedRow(
                share.party, kind, "not_observed", share.company, share.purpose
            )


def _matched_by_domain(party: str, kind: str, shared: dict[tuple[str, str], SharedRow]) -> bool:
    """A declared domain entry is observed when a declared row's host lies under it."""
    for row in shared.values():
        if row.type != kind or row.status != "declared":
            continue
        if any(h == party or h.endswith("." + party) for h in row.hosts):
            return True
    return False


COLLECTED_COLUMNS = ("type", "status", "purpose", "hosts", "findings", "first_ts")
SHARED_COLUMNS = (
    "party",
    "company",
    "sdk",
    "type",
    "status",
    "purpose",
    "hosts",
    "findings",
    "first_ts",
)


def _cells(row: CollectedRow | SharedRow, columns: Sequence[str]) -> list[str]:
    out = []
    for name in columns:
        value = getattr(row, name)
        if isinstance(value, list):
            out.append(" ".join(value))
        elif isinstance(value, float):
            out.append(f"{value:.6f}")
        else:
            out.append("" if value is None else str(value))
    return out


def _csv_safe(cell: str) -> str:
    """Cells from traffic cannot start a spreadsheet formula."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def lists_csv(rows: Sequence[CollectedRow] | Sequence[SharedRow], columns: Sequence[str]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_safe(c) for c in _cells(row, columns)])
    return stream.getvalue()


def lists_record(lists: DoubleLists) -> dict[str, Any]:
    def plain(row: CollectedRow | SharedRow, columns: Sequence[str]) -> dict[str, Any]:
        record = {name: getattr(row, name) for name in columns}
        record["hosts"] = list(row.hosts)
        return record

    return {
        "collected": [plain(r, COLLECTED_COLUMNS) for r in lists.collected],
        "shared": [plain(r, SHARED_COLUMNS) for r in lists.shared],
    }


def lists_yaml(lists: DoubleLists) -> str:
    return yaml.safe_dump(lists_record(lists), sort_keys=False, allow_unicode=True, width=100)
