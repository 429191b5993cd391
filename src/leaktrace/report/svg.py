"""The session timeline as inline SVG: one row per recipient, a dot per finding.

The consent point is a labelled vertical line and background periods are
shaded, so "what happened before the user agreed" is visible at a glance.
Text from traffic is escaped like everywhere else in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from leaktrace.policy.context import app_states
from leaktrace.policy.engine import Evaluation
from leaktrace.policy.parties import recipient_of

WIDTH = 1000
ROW_H = 22
LEFT = 220
RIGHT = 20
TOP = 34
MAX_ROWS = 40  # more recipients are folded into one "other" row
MAX_DOTS = 3000  # the chart stays light; the count shown says how many were drawn

COLOURS = {"violation": "#c62828", "warning": "#ef8f00", "none": "#607d8b"}


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str
    dots: int
    findings: int


def _fmt_offset(seconds: float) -> str:
    if abs(seconds) >= 10:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f} s" if abs(seconds) >= 1 else f"{seconds * 1000:.0f} ms"


def timeline_svg(evaluation: Evaluation) -> Chart:
    findings = evaluation.findings
    flagged: dict[tuple[str, str], str] = {}
    for verdict in evaluation.verdicts:
        pair = (verdict.recipient.key, verdict.type)
        if flagged.get(pair) != "violation":
            flagged[pair] = verdict.level
    rows: list[str] = []
    for finding in findings:
        key = recipient_of(finding).key
        if key not in rows:
            rows.append(key)
    other = len(rows) > MAX_ROWS
    shown = rows[: MAX_ROWS - 1] if other else rows
    labels = [*shown, "other"] if other else shown
    row_of = {key: i for i, key in enumerate(shown)}

    times = [f.ts for f in findings] + [e.ts for e in evaluation.events]
    consent_ts = evaluation.consent.ts if evaluation.consent is not None else None
    if consent_ts is not None:
        times.append(consent_ts)
    t0 = min(times) if times else 0.0
    t1 = max(times) if times else 1.0
    span = max(t1 - t0, 1e-3)
    height = TOP + ROW_H * max(len(labels), 1) + 30

    def x(ts: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (ts - t0) / span

    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="session timeline">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]
    parts += _background(evaluation, x, t1, height)
    for i, label in enumerate(labels):
        y = TOP + ROW_H * i + ROW_H / 2
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eceff1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{escape(label[:32])}</text>"
        )
    dots = 0
    for finding in findings[:MAX_DOTS]:
        who = recipient_of(finding).key
        row = row_of.get(who, len(labels) - 1)
        level = flagged.get((who, finding.type), "none")
        y = TOP + ROW_H * row + ROW_H / 2
        tip = f"{finding.type} → {finding.host or finding.dst} ({finding.where}) at +" + (
            _fmt_offset(finding.ts - t0)
        )
        parts.append(
            f'<circle class="dot {level}" cx="{x(finding.ts):.1f}" cy="{y:.1f}" r="5" '
            f'fill="{COLOURS[level]}" fill-opacity="0.8"><title>{escape(tip)}</title></circle>'
        )
        dots += 1
    parts += _marks(evaluation, x, height, consent_ts)
    axis_y = height - 12
    parts.append(
        f'<text x="{LEFT}" y="{axis_y}" font-size="11">0 s</text>'
        f'<text x="{WIDTH - RIGHT}" y="{axis_y}" font-size="11" text-anchor="end">'
        f"{escape(_fmt_offset(span))}</text>"
    )
    parts.append("</svg>")
    return Chart("".join(parts), dots, len(findings))


def _background(
    evaluation: Evaluation, x: Callable[[float], float], t1: float, height: int
) -> list[str]:
    out = []
    for start, end, state in app_states(evaluation.events):
        if state != "background":
            continue
        x0, x1 = x(start), x(end if end is not None else t1)
        out.append(
            f'<rect class="background" x="{x0:.1f}" y="{TOP - 6}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{height - TOP - 24}" fill="#eceff1"><title>app in background</title></rect>'
        )
    return out


def _marks(
    evaluation: Evaluation, x: Callable[[float], float], height: int, consent_ts: float | None
) -> Sequence[str]:
    out = []
    for event in evaluation.events[:200]:
        ex = x(event.ts)
        out.append(
            f'<line x1="{ex:.1f}" y1="{TOP - 10}" x2="{ex:.1f}" y2="{TOP - 2}" stroke="#455a64">'
            f"<title>{escape(event.name)}</title></line>"
        )
    if consent_ts is not None:
        cx = x(consent_ts)
        out.append(
            f'<g id="consent-mark"><line x1="{cx:.1f}" y1="{TOP - 16}" x2="{cx:.1f}" '
            f'y2="{height - 24}" stroke="#2e7d32" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<text x="{cx + 4:.1f}" y="{TOP - 18}" font-size="12" fill="#2e7d32">'
            "consent</text></g>"
        )
    elif evaluation.consent is not None:
        out.append(
            f'<text id="consent-mark" x="{WIDTH - RIGHT}" y="{TOP - 18}" font-size="12" '
            f'text-anchor="end" fill="#c62828">consent never given</text>'
        )
    return out
