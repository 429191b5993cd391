"""The terminal summary table."""

from __future__ import annotations

import io

from rich.console import Console

from leaktrace.analyze import AnalysisResult
from leaktrace.sinks.table import MAX_QUIET_ROWS, render_summary
from leaktrace.summary import Destination, Summary
from leaktrace.types import Coverage


def _render(summary: Summary) -> str:
    out = io.StringIO()
    result = AnalysisResult("c.pcap", 0, 0, [], summary, Coverage())
    render_summary(result, Console(file=out, width=200))
    return out.getvalue()


def test_every_receiver_is_shown_and_quiet_destinations_are_cut_with_a_count() -> None:
    summary = Summary()
    for n in range(100):
        summary.destinations[f"quiet{n}.example"] = Destination(
            f"quiet{n}.example", "unknown", None, "none"
        )
    for n in range(3):
        dest = Destination(f"leak{n}.example", "first", None, "none")
        dest.types["imei"] = 1
        summary.destinations[dest.host] = dest
    summary.types["imei"] = 3
    text = _render(summary)
    assert all(f"leak{n}.example" in text for n in range(3))
    quiet = [line for line in text.splitlines() if "quiet" in line and "│" in line]
    assert len(quiet) == MAX_QUIET_ROWS - 3
    assert f"and {100 - (MAX_QUIET_ROWS - 3)} more destinations" in text


def test_a_short_summary_is_shown_whole() -> None:
    summary = Summary()
    summary.destinations["a.example"] = Destination("a.example", "third", "umeng", "domain")
    text = _render(summary)
    assert "a.example" in text and "more destinations" not in text
