"""One JSON document for a whole analysis: findings, destinations, coverage, damage."""

from __future__ import annotations

import json
from typing import IO, Any

from leaktrace import __version__
from leaktrace.analyze import AnalysisResult
from leaktrace.sinks.records import (
    coverage_record,
    diagnostic_record,
    finding_record,
    summary_record,
)


def report_record(result: AnalysisResult) -> dict[str, Any]:
    return {
        "leaktrace": __version__,
        "capture": result.capture,
        "capture_bytes": result.capture_bytes,
        "frames": result.frames,
        "complete": result.complete,
        "damage": diagnostic_record(result.damage) if result.damage else None,
        "skipped": [diagnostic_record(d) for d in result.skipped],
        "coverage": coverage_record(result.coverage),
        "summary": summary_record(result.summary),
        "findings": [finding_record(f) for f in result.findings],
        "diagnostics": [diagnostic_record(d) for d in result.diagnostics],
    }


def write_report(result: AnalysisResult, stream: IO[str]) -> None:
    json.dump(report_record(result), stream, ensure_ascii=False, indent=2)
    stream.write("\n")
