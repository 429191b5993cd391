"""The terminal summary: destinations × identifier types, third parties first, and coverage.

Coverage is printed with every result because "no findings" on traffic that
was never read would otherwise look like a clean bill of health.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leaktrace.analyze import AnalysisResult
from leaktrace.types import Coverage

PARTY_STYLE = {"third": "bold red", "first": "green", "unknown": "yellow"}
#: Rows of destinations that received no identifier shown at most: every receiver is
#: shown, and a capture of thousands of looked-up names would otherwise scroll them away.
MAX_QUIET_ROWS = 40


def render_summary(result: AnalysisResult, console: Console) -> None:
    summary = result.summary
    types = sorted(summary.types)
    table = Table(title=f"leaktrace: {result.capture}", title_justify="left")
    table.add_column("destination", overflow="fold")
    table.add_column("party")
    table.add_column("sdk", overflow="fold")
    table.add_column("via", overflow="fold")
    for id_type in types:
        table.add_column(id_type, justify="right")
    ordered = summary.ordered_destinations()
    receivers = sum(1 for dest in ordered if dest.types)
    room = max(0, MAX_QUIET_ROWS - receivers)
    left_out = 0
    for dest in ordered:
        if not dest.types:
            if room == 0:
                left_out += 1
                continue
            room -= 1
        cells = [
            Text(dest.host),
            Text(dest.party, style=PARTY_STYLE.get(dest.party, "")),
            Text(dest.sdk or "-"),
            Text(",".join(sorted(dest.transports))),
        ]
        cells += [Text(str(dest.types[t]) if dest.types[t] else "·") for t in types]
        table.add_row(*cells)
    console.print(table)
    if left_out:
        console.print(
            f"and {left_out} more destinations that received no identifier "
            "(--format json lists them)"
        )
    console.print(
        f"{summary.findings} findings of {len(types)} identifier types "
        f"in {summary.messages} messages to {len(summary.destinations)} destinations"
    )
    console.print(coverage_line(result.coverage))
    if summary.diagnostics:
        notes = ", ".join(f"{name} {n}" for name, n in sorted(summary.diagnostics.items()))
        console.print(f"notes: {notes}")
    if result.damage is not None:
        where = f" at byte {result.damage.offset}" if result.damage.offset is not None else ""
        console.print(
            f"[bold yellow]capture damaged{where}: {result.damage.detail}; "
            "findings before that point are reported[/]"
        )
    if result.skipped:
        first = result.skipped[0]
        console.print(
            f"[bold yellow]capture damaged: {len(result.skipped)} damaged ranges skipped, "
            f"the first at byte {first.offset} ({first.detail}); reading went on after each[/]"
        )


def coverage_line(cov: Coverage) -> str:
    empty = cov.flows - cov.flows_decoded - cov.flows_opaque
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(cov.opaque_reasons.items()))
    opaque = f"{cov.flows_opaque} opaque" + (f" ({reasons})" if reasons else "")
    share = 100.0 * cov.bytes_decoded / cov.bytes_outbound if cov.bytes_outbound else 100.0
    return (
        f"coverage: {cov.flows} flows: {cov.flows_decoded} decoded, {opaque}, "
        f"{empty} without outbound data; {_size(cov.bytes_decoded)} of "
        f"{_size(cov.bytes_outbound)} outbound decoded ({share:.0f}%)"
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
