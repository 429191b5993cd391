"""Write one report directory: the HTML page, the verdict JSON and the observed lists.

The file names are fixed so pipelines can pick them up without parsing the
terminal output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from leaktrace.diff import RunDiff, diff_record
from leaktrace.policy.engine import Evaluation, evaluation_record
from leaktrace.policy.lists import COLLECTED_COLUMNS, SHARED_COLUMNS, lists_csv, lists_yaml
from leaktrace.report.html import render_html

HTML_NAME = "report.html"
VERDICTS_NAME = "verdicts.json"
COLLECTED_CSV = "observed-collected.csv"
SHARED_CSV = "observed-shared.csv"
LISTS_YAML = "observed-lists.yaml"


@dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    verdicts: Path
    collected_csv: Path
    shared_csv: Path
    lists_yaml: Path


def _write(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a report."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_report(
    out_dir: str | os.PathLike[str], evaluation: Evaluation, *, diff: RunDiff | None = None
) -> ReportFiles:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        out / HTML_NAME,
        out / VERDICTS_NAME,
        out / COLLECTED_CSV,
        out / SHARED_CSV,
        out / LISTS_YAML,
    )
    record = evaluation_record(evaluation)
    if diff is not None:
        record["diff"] = diff_record(diff)
    _write(files.verdicts, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    _write(files.collected_csv, lists_csv(evaluation.lists.collected, COLLECTED_COLUMNS))
    _write(files.shared_csv, lists_csv(evaluation.lists.shared, SHARED_COLUMNS))
    _write(files.lists_yaml, lists_yaml(evaluation.lists))
    _write(files.html, render_html(evaluation, diff=diff))
    return files
