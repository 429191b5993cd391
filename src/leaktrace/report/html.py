"""The HTML report: one self-contained file a regulator, auditor or privacy team reads.

Everything is inline (CSS, one script, SVG) and a Content-Security-Policy
allows only that one script by its hash and no network at all, so the file
opens offline and, should escaping ever miss something from the traffic,
injected markup still cannot run or call out. Every string that came from
traffic or from a declaration passes through ``escape``.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

from leaktrace.diff import RunDiff
from leaktrace.policy.engine import Evaluation
from leaktrace.policy.lists import CollectedRow, SharedRow
from leaktrace.policy.model import Verdict
from leaktrace.policy.parties import recipient_of
from leaktrace.policy.rules import RULE_INFO
from leaktrace.report.svg import timeline_svg
from leaktrace.types import Finding

MAX_MATRIX_ROWS = 200

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1400px;color:#212121;
  padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f5f5f5;text-align:left}.num{text-align:right}
.figures{display:flex;flex-wrap:wrap;gap:10px}
.figure{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.figure b{display:block;font-size:22px}.figure.bad b{color:#c62828}.figure.warn b{color:#ef8f00}
.lists{display:grid;grid-template-columns:1fr 1fr;gap:18px}
tr.undeclared td{background:#ffebee}tr.undeclared td.status{color:#c62828;font-weight:bold}
tr.not_observed td{color:#888}td.cell-violation{background:#ef9a9a;font-weight:bold}
td.cell-warning{background:#ffe0b2}td.cell-ok{background:#e8f5e9}
.verdict{border:1px solid #ddd;border-left:5px solid #c62828;border-radius:4px;
  padding:8px 12px;margin:10px 0}
.verdict.warning{border-left-color:#ef8f00}.verdict .rule{font-family:monospace;font-weight:bold}
.sev{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;color:#fff;
  background:#c62828}
.sev.medium{background:#ef6c00}.sev.low{background:#757575}
.clauses{font-size:12px;color:#555}.unverified{color:#9e9e9e}
code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.filters button{margin-right:6px}.hidden{display:none}.note{color:#555}
.new td.status{color:#c62828;font-weight:bold}.stopped td.status{color:#2e7d32;font-weight:bold}
"""

SCRIPT = """
(function () {
  var list = document.getElementById("violations");
  var items = list ? list.querySelectorAll("li.verdict") : [];
  var buttons = document.querySelectorAll(".filters button");
  function show(level) {
    for (var i = 0; i < items.length; i++) {
      var hide = level !== "all" && items[i].getAttribute("data-level") !== level;
      items[i].classList.toggle("hidden", hide);
    }
  }
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (ev) {
      show(ev.target.getAttribute("data-show"));
    });
  }
  var cells = document.querySelectorAll("#matrix td[data-count]");
  var status = document.getElementById("script-status");
  if (status) {
    status.textContent = "interactive: " + items.length + " verdicts, " + cells.length +
      " matrix cells, " + document.scripts.length + " script";
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src '{_script_hash(SCRIPT)}'; base-uri 'none'; form-action 'none'"
)


def _t(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _row(cells: Iterable[str], cls: str = "") -> str:
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<tr{attr}>" + "".join(cells) + "</tr>"


def _td(value: object, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{_e(value)}</td>"


def _summary(ev: Evaluation, chart_dots: int) -> str:
    counts = ev.counts()
    third = {recipient_of(f).key for f in ev.findings if f.party != "first"}
    hosts = {f.host or f.dst for f in ev.findings}
    checked = sum(1 for r in ev.results if r.checked)
    figures = [
        ("violations", counts["violation"], "bad" if counts["violation"] else ""),
        ("warnings", counts["warning"], "warn" if counts["warning"] else ""),
        ("findings", len(ev.findings), ""),
        ("destinations", len(hosts), ""),
        ("third parties", len(third), ""),
        ("identifier types", len({f.type for f in ev.findings}), ""),
        ("rules checked", f"{checked} of {len(ev.results)}", ""),
    ]
    out = ['<div class="figures" id="summary">']
    for label, value, cls in figures:
        out.append(
            f'<div class="figure {cls}" data-figure="{_e(label)}"><b>{_e(value)}</b>'
            f"{_e(label)}</div>"
        )
    out.append("</div>")
    if ev.findings:
        out.append(
            f'<p class="note">Session {_e(_t(ev.findings[0].ts))} to '
            f"{_e(_t(ev.findings[-1].ts))}. Consent: "
            f"{_e(_consent_text(ev))}.{_e(_withdrawal_text(ev))} "
            "Values are masked unless the run revealed them.</p>"
        )
    return "".join(out)


def _withdrawal_text(ev: Evaluation) -> str:
    point = ev.withdrawal
    if point is None:
        return ""  # not declared, or not placeable: the rule's row says why
    if point.ts is None:
        return f" Consent not withdrawn in this session ({point.basis})."
    return f" Consent withdrawn: {_t(point.ts)} ({point.basis})."


def _consent_text(ev: Evaluation) -> str:
    if ev.consent is None:
        return f"not placed ({ev.consent_why_not})"
    if ev.consent.ts is None:
        return f"never given ({ev.consent.basis})"
    return f"{_t(ev.consent.ts)} ({ev.consent.basis})"


def _lists(ev: Evaluation) -> str:
    decl = ev.declaration
    declared_c = "".join(_row([_td(i.type), _td(i.purpose)]) for i in decl.collects) if decl else ""
    declared_s = (
        "".join(
            _row([_td(s.party), _td(s.company), _td(", ".join(s.types)), _td(s.purpose)])
            for s in decl.shares
        )
        if decl
        else ""
    )
    none = '<tr><td colspan="4" class="note">no declaration given</td></tr>'
    return (
        '<div class="lists" id="double-lists">'
        "<div><h3>Collected: declared</h3>"
        f'<table id="declared-collected"><tr><th>type</th><th>purpose</th></tr>'
        f"{declared_c or none}</table>"
        "<h3>Collected: observed</h3>"
        f'<table id="observed-collected"><tr><th>type</th><th>status</th><th>hosts</th>'
        f'<th class="num">findings</th></tr>{_collected_rows(ev.lists.collected)}</table></div>'
        "<div><h3>Shared: declared</h3>"
        '<table id="declared-shared"><tr><th>party</th><th>company</th><th>types</th>'
        f"<th>purpose</th></tr>{declared_s or none}</table>"
        "<h3>Shared: observed</h3>"
        '<table id="observed-shared"><tr><th>party</th><th>company</th><th>type</th>'
        '<th>status</th><th>hosts</th><th class="num">findings</th></tr>'
        f"{_shared_rows(ev.lists.shared)}</table></div></div>"
    )


def _collected_rows(rows: Sequence[CollectedRow]) -> str:
    return "".join(
        _row(
            [
                _td(r.type),
                _td(r.status.replace("_", " "), "status"),
                _td(" ".join(r.hosts), "mono"),
                _td(r.findings, "num"),
            ],
            r.status,
        )
        for r in rows
    )


def _shared_rows(rows: Sequence[SharedRow]) -> str:
    return "".join(
        _row(
            [
                _td(r.party),
                _td(r.company),
                _td(r.type),
                _td(r.status.replace("_", " "), "status"),
                _td(" ".join(r.hosts), "mono"),
                _td(r.findings, "num"),
            ],
            r.status,
        )
        for r in rows
    )


def _matrix(ev: Evaluation) -> str:
    counts: Counter[tuple[str, str]] = Counter()
    party_of: dict[str, str] = {}
    hosts: dict[str, set[str]] = defaultdict(set)
    for finding in ev.findings:
        r = recipient_of(finding)
        counts[(r.key, finding.type)] += 1
        party_of[r.key] = finding.party
        hosts[r.key].add(finding.host or finding.dst)
    levels: dict[tuple[str, str], str] = {}
    rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    for v in ev.verdicts:
        key = (v.recipient.key, v.type)
        rules[key].add(v.rule)
        if levels.get(key) != "violation":
            levels[key] = v.level
    types = sorted({f.type for f in ev.findings})
    order = {"third": 0, "unknown": 1, "first": 2}
    recipients = sorted(party_of, key=lambda k: (order.get(party_of[k], 1), k))
    head = "".join(f"<th>{_e(t)}</th>" for t in types)
    out = [
        '<table id="matrix"><tr><th>destination</th><th>party</th><th>hosts</th>',
        head,
        "</tr>",
    ]
    for who in recipients[:MAX_MATRIX_ROWS]:
        cells = [_td(who), _td(party_of[who]), _td(" ".join(sorted(hosts[who])), "mono")]
        for kind in types:
            n = counts.get((who, kind), 0)
            if not n:
                cells.append('<td class="num">·</td>')
                continue
            level = levels.get((who, kind), "ok")
            tip = ", ".join(sorted(rules[(who, kind)])) or "no rule tripped"
            cells.append(
                f'<td class="num cell-{level}" data-count="{n}" data-type="{_e(kind)}" '
                f'title="{_e(tip)}">{n}</td>'
            )
        out.append(_row(cells))
    out.append("</table>")
    if len(recipients) > MAX_MATRIX_ROWS:
        out.append(
            f'<p class="note">{len(recipients) - MAX_MATRIX_ROWS} more destinations '
            "are in verdicts.json and the observed lists.</p>"
        )
    return "".join(out)


EVIDENCE_COLUMNS = ("time", "host", "transport", "sdk", "where", "form", "value", "origin")


def _evidence(findings: Sequence[Finding]) -> str:
    head = "".join(f"<th>{c}</th>" for c in EVIDENCE_COLUMNS)
    rows = "".join(
        _row(
            [
                _td(_t(f.ts)),
                _td(f.host or f.dst, "mono"),
                _td(f.transport),
                _td(f.sdk or "—"),
                _td(f.where, "mono"),
                _td(f.form),
                _td(f.value, "mono"),
                _td(f.origin, "mono"),
            ]
        )
        for f in findings
    )
    return f'<table class="evidence"><tr>{head}</tr>{rows}</table>'


def _verdict(v: Verdict) -> str:
    info = RULE_INFO[v.rule]
    clauses = "; ".join(
        _e(c.ref)
        + ": "
        + _e(c.text)
        + ("" if c.verified else ' <span class="unverified">(○ unverified)</span>')
        for c in info.clauses
    )
    more = (
        f'<p class="note">{v.evidence_truncated} more findings not shown '
        "(all counted; see verdicts.json limits).</p>"
        if v.evidence_truncated
        else ""
    )
    return (
        f'<li class="verdict {_e(v.level)}" data-rule="{_e(v.rule)}" data-level="{_e(v.level)}" '
        f'data-severity="{_e(v.severity)}" data-type="{_e(v.type)}" '
        f'data-recipient="{_e(v.recipient.key)}">'
        f'<span class="sev {_e(v.severity)}">{_e(v.severity)}</span> '
        f'<span class="rule">{_e(v.rule)}</span> {_e(v.level)}: <b>{_e(v.reason)}</b>'
        f'<div class="clauses">{_e(info.title)}. Implements: {clauses}</div>'
        f'<div class="note">{v.count} finding(s), {_e(_t(v.first_ts))} to {_e(_t(v.last_ts))}; '
        f"hosts: {_e(', '.join(v.hosts))}</div>"
        f"{_evidence(v.evidence)}{more}</li>"
    )


def _violations(ev: Evaluation) -> str:
    verdicts = ev.verdicts
    if not verdicts:
        body = '<p id="no-verdicts">No rule tripped among the rules that could be checked.</p>'
    else:
        body = '<ol id="violations">' + "".join(_verdict(v) for v in verdicts) + "</ol>"
    filters = (
        '<div class="filters"><button data-show="all">all</button>'
        '<button data-show="violation">violations</button>'
        '<button data-show="warning">warnings</button></div>'
    )
    return filters + body


def _rules(ev: Evaluation) -> str:
    rows = []
    for r in ev.results:
        status = "checked" if r.checked else f"not checked: {r.why_not}"
        rows.append(
            _row(
                [
                    _td(r.rule.id, "mono"),
                    _td(r.rule.title),
                    _td(r.rule.severity),
                    _td(status),
                    _td(len(r.verdicts), "num"),
                ],
                "" if r.checked else "not_observed",
            )
        )
    return (
        '<table id="rules"><tr><th>rule</th><th>check</th><th>severity</th><th>status</th>'
        f'<th class="num">verdicts</th></tr>{"".join(rows)}</table>'
    )


def _diff(diff: RunDiff) -> str:
    rows = "".join(
        _row(
            [
                _td(f.status, "status"),
                _td(f.side),
                _td(f.recipient if f.company is None else f"{f.recipient} ({f.company})"),
                _td(f.type),
                _td(f.before, "num"),
                _td(f.after, "num"),
                _td(" ".join(f.hosts), "mono"),
            ],
            f.status,
        )
        for f in diff.flows
    )
    counts = ", ".join(f"{s} {diff.count(s)}" for s in ("stopped", "remaining", "new"))
    return (
        f'<section id="diff"><h2>Re-test: compared with {_e(diff.before)}</h2>'
        f'<p class="note">Flows of data: {_e(counts)}.</p>'
        '<table id="diff-flows"><tr><th>status</th><th>party</th><th>recipient</th><th>type</th>'
        f'<th class="num">before</th><th class="num">after</th><th>hosts</th></tr>{rows}</table>'
        "</section>"
    )


def render_html(ev: Evaluation, *, diff: RunDiff | None = None, title: str | None = None) -> str:
    decl = ev.declaration
    app = f"{decl.app.name or decl.app.id} ({decl.app.id})" if decl is not None else "unknown app"
    chart = timeline_svg(ev)
    drawn = (
        f'<p class="note">{chart.dots} of {chart.findings} findings drawn.</p>'
        if chart.dots < chart.findings
        else ""
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in ev.notes)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title or 'leaktrace report: ' + app)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>leaktrace report: {_e(app)}</h1>",
        '<p class="note" id="script-status">static view (script not run)</p>',
        "<h2>Summary</h2>",
        _summary(ev, chart.dots),
        "<h2>Declared and observed double lists</h2>",
        _lists(ev),
        "<h2>Destinations × identifier types</h2>",
        _matrix(ev),
        "<h2>Timeline</h2>",
        chart.svg,
        drawn,
        "<h2>Verdicts</h2>",
        _violations(ev),
        "<h2>Rules</h2>",
        _rules(ev),
    ]
    if diff is not None:
        parts.append(_diff(diff))
    if notes:
        parts.append(f'<h2>Notes</h2><ul id="notes">{notes}</ul>')
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)
