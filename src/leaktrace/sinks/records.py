"""Findings and summaries as plain JSON-ready records, in one fixed field order.

The field names are public API (the JSONL contract): renaming one breaks
consumers' queries, so they are written out once here.
"""

from __future__ import annotations

from typing import Any

from leaktrace.summary import Summary
from leaktrace.types import Coverage, Diagnostic, Finding

FINDING_FIELDS = (
    "ts",
    "flow",
    "src",
    "dst",
    "host",
    "transport",
    "party",
    "sdk",
    "type",
    "method",
    "confidence",
    "where",
    "form",
    "value",
    "origin",
    "trans_depth",
    "evidence",
)


def finding_record(finding: Finding) -> dict[str, Any]:
    record = {name: getattr(finding, name) for name in FINDING_FIELDS}
    record["ts"] = round(finding.ts, 6)
    record["evidence"] = list(finding.evidence)
    return record


def coverage_record(coverage: Coverage) -> dict[str, Any]:
    return {
        "flows": coverage.flows,
        "flows_decoded": coverage.flows_decoded,
        "flows_opaque": coverage.flows_opaque,
        "bytes_outbound": coverage.bytes_outbound,
        "bytes_decoded": coverage.bytes_decoded,
        "bytes_opaque": coverage.bytes_opaque,
        "opaque_reasons": dict(sorted(coverage.opaque_reasons.items())),
    }


def diagnostic_record(diag: Diagnostic) -> dict[str, Any]:
    record: dict[str, Any] = {"name": diag.name, "detail": diag.detail}
    if diag.ts is not None:
        record["ts"] = round(diag.ts, 6)
    if diag.flow is not None:
        record["flow"] = diag.flow
    if diag.offset is not None:
        record["offset"] = diag.offset
    return record


def summary_record(summary: Summary) -> dict[str, Any]:
    return {
        "messages": summary.messages,
        "findings": summary.findings,
        "types": dict(sorted(summary.types.items())),
        "destinations": [d.as_dict() for d in summary.ordered_destinations()],
        "diagnostics": dict(sorted(summary.diagnostics.items())),
    }
