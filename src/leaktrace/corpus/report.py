"""The corpus report: which third parties received which identifiers, across how many apps.

A per-app report holds an app to account; a regulator also needs to hold the
SDK vendor to account, and that takes the view across apps: one SDK that
receives IMEIs inside forty apps is one finding about the vendor. Written as
CSV (for further analysis) and one self-contained HTML page (to read), both
from SQL over the store so the numbers can be re-derived with ``leaktrace
query``. Identifier values never appear: only types and counts.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaktrace import __version__
from leaktrace.corpus.query import connect

__all__ = ["APPS_SQL", "RECIPIENTS_SQL", "RECIPIENT_TYPES_SQL", "CorpusReport", "build_report"]

# An analysis without a declaration does not say which app it was: such a
# capture counts as its own app, named after its file, rather than merging
# every undeclared capture into one.
_APP = "coalesce(app_id, '(no app.yaml) ' || capture)"
_RECIPIENT = "coalesce(sdk, host, dst)"

RECIPIENTS_SQL = f"""
SELECT {_RECIPIENT} AS recipient,
       CASE WHEN sdk IS NULL THEN 'host' ELSE 'sdk' END AS kind,
       count(DISTINCT {_APP}) AS apps,
       list(DISTINCT type ORDER BY type) AS types,
       count(*) AS findings,
       list(DISTINCT {_APP} ORDER BY {_APP}) AS app_list
FROM findings WHERE party <> 'first'
GROUP BY ALL ORDER BY apps DESC, findings DESC, recipient
"""

RECIPIENT_TYPES_SQL = f"""
SELECT {_RECIPIENT} AS recipient,
       CASE WHEN sdk IS NULL THEN 'host' ELSE 'sdk' END AS kind,
       type,
       count(DISTINCT {_APP}) AS apps,
       count(*) AS findings,
       CASE WHEN bool_and(declared IS NULL) THEN NULL
            ELSE count(*) FILTER (WHERE declared = false) END AS undisclosed,
       list(DISTINCT {_APP} ORDER BY {_APP}) AS app_list
FROM findings WHERE party <> 'first'
GROUP BY ALL ORDER BY recipient, apps DESC, type
"""

APPS_SQL = f"""
WITH c AS (
    SELECT coalesce(app_id, '(no app.yaml) ' || capture) AS app,
           count(*) AS captures,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           bool_or(declaration IS NOT NULL) AS has_declaration
    FROM captures GROUP BY ALL
), f AS (
    SELECT {_APP} AS app,
           count(*) AS findings,
           count(*) FILTER (WHERE party = 'third') AS third_party,
           count(DISTINCT {_RECIPIENT}) FILTER (WHERE party = 'third') AS recipients,
           count(*) FILTER (WHERE party = 'third' AND declared = false) AS undisclosed,
           list(DISTINCT type ORDER BY type)
               FILTER (WHERE party = 'third' AND declared = false) AS undisclosed_types,
           list(DISTINCT {_RECIPIENT} ORDER BY {_RECIPIENT})
               FILTER (WHERE party = 'third' AND declared = false) AS undisclosed_to
    FROM findings GROUP BY ALL
)
SELECT c.app, c.captures, c.failed,
       coalesce(f.findings, 0) AS findings,
       coalesce(f.third_party, 0) AS third_party,
       coalesce(f.recipients, 0) AS recipients,
       CASE WHEN c.has_declaration THEN coalesce(f.undisclosed, 0) END AS undisclosed,
       coalesce(f.undisclosed_types, []) AS undisclosed_types,
       coalesce(f.undisclosed_to, []) AS undisclosed_to
FROM c LEFT JOIN f USING (app)
ORDER BY undisclosed DESC NULLS LAST, third_party DESC, c.app
"""

STATUS_SQL = "SELECT status, count(*) AS captures FROM captures GROUP BY ALL ORDER BY status"
FAILED_SQL = """
SELECT capture, status, error, attempts FROM captures
WHERE status <> 'ok' ORDER BY status, capture
"""


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(slots=True)
class CorpusReport:
    recipients: Table
    recipient_types: Table
    apps: Table
    statuses: Table
    problems: Table
    files: list[Path]


def _table(con: Any, sql: str) -> Table:
    cursor = con.execute(sql)
    rows = cursor.fetchall()
    return Table([d[0] for d in cursor.description], rows)


def build_report(store: str | os.PathLike[str], out: str | os.PathLike[str]) -> CorpusReport:
    """Write ``recipients.csv``, ``recipient_types.csv``, ``apps.csv`` and ``index.html``."""
    con = connect(store)
    try:
        report = CorpusReport(
            recipients=_table(con, RECIPIENTS_SQL),
            recipient_types=_table(con, RECIPIENT_TYPES_SQL),
            apps=_table(con, APPS_SQL),
            statuses=_table(con, STATUS_SQL),
            problems=_table(con, FAILED_SQL),
            files=[],
        )
    finally:
        con.close()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("recipients.csv", report.recipients),
        ("recipient_types.csv", report.recipient_types),
        ("apps.csv", report.apps),
        ("captures.csv", report.problems),
    ):
        path = folder / name
        path.write_text(to_csv(table), encoding="utf-8")
        report.files.append(path)
    page = folder / "index.html"
    page.write_text(to_html(report, str(store)), encoding="utf-8")
    report.files.append(page)
    return report


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a cell (a host name, an app id) as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_safe(_cell(v)) for v in row])
    return buf.getvalue()


def _html_table(table: Table, caption: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        body = f'<tr><td colspan="{len(table.columns)}">none</td></tr>'
    return (
        f"<table><caption>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0 2em;font-size:.9em}
caption{text-align:left;font-weight:600;font-size:1.1em;padding:.4em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
"""


def to_html(report: CorpusReport, store: str) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in report.statuses.rows) or "no captures"
    sections: Sequence[tuple[Table, str]] = (
        (report.recipients, "Third parties: identifier types received, across apps"),
        (report.recipient_types, "Third parties by identifier type"),
        (report.apps, "Apps: undisclosed sharing (third-party findings not in the declaration)"),
        (report.problems, "Captures not fully analyzed"),
    )
    tables = "\n".join(_html_table(t, caption) for t, caption in sections)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        "<title>leaktrace corpus report</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        "<h1>leaktrace corpus report</h1>\n"
        f"<p>Store {html.escape(store)}: {html.escape(counts)}. "
        "Identifier values are not shown; undisclosed is empty for apps analyzed "
        f"without a declaration. leaktrace {html.escape(__version__)}.</p>\n"
        f"{tables}\n</body></html>\n"
    )
