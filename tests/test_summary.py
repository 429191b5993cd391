"""The run summary: one row per destination, and a bound on how many rows it keeps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.summary import FOLDED, OTHER_HOSTS, Summary
from leaktrace.testing import http_message
from leaktrace.types import Attribution, Finding, Party


def _message(summary: Summary, host: str, party: Party = "third", ts: float = 1.0) -> None:
    summary.add_message(http_message(host, ts=ts), Attribution(host, None, party, None))


def _finding(summary: Summary, host: str, party: Party = "third", kind: str = "imei") -> None:
    summary.add_finding(
        Finding(
            1.0,
            "1:x",
            "10.0.0.2:1",
            "1.2.3.4:80",
            host,
            "http",
            party,
            None,
            kind,
            "pattern",
            0.9,
            "q",
            "plain",
            "86***",
            "t",
        )
    )


def test_receivers_keep_their_rows_and_quiet_hosts_fold_oldest_first() -> None:
    summary = Summary(max_destinations=3)
    _message(summary, "tracker.example")
    _finding(summary, "tracker.example")
    for n in range(5):
        _message(summary, f"quiet{n}.example", ts=10.0 + n)
    rows = {d.host: d for d in summary.destinations.values()}
    assert set(rows) == {"tracker.example", "quiet3.example", "quiet4.example", OTHER_HOSTS}
    other = rows[OTHER_HOSTS]
    assert (other.messages, other.party, other.first_ts) == (3, "third", 10.0)
    assert rows["tracker.example"].types == {"imei": 1}
    assert summary.diagnostics[FOLDED] == 3 and summary.messages == 6


def test_when_every_row_has_received_identifiers_new_hosts_share_a_row() -> None:
    summary = Summary(max_destinations=2)
    for host in ("a.example", "b.example"):
        _message(summary, host)
        _finding(summary, host)
    _message(summary, "c.example", party="unknown")
    _finding(summary, "c.example", party="unknown", kind="phone")
    rows = {(d.host, d.party): d for d in summary.destinations.values()}
    assert rows[(OTHER_HOSTS, "unknown")].types == {"phone": 1}
    assert rows[("a.example", "third")].types == {"imei": 1}
    assert summary.findings == 3 and sum(summary.types.values()) == 3


def test_under_the_bound_a_finding_without_a_row_is_counted_in_totals_only() -> None:
    summary = Summary()
    _finding(summary, "never-seen.example")
    assert summary.findings == 1 and not summary.destinations


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=80),
    st.integers(1, 12),
)
def test_rows_stay_bounded_and_nothing_is_lost(events: list[tuple[int, bool]], bound: int) -> None:
    summary = Summary(max_destinations=bound)
    for n, leak in events:
        _message(summary, f"h{n}.example")
        if leak:
            _finding(summary, f"h{n}.example")
    assert len(summary.destinations) <= bound + 1  # and one (other hosts) row
    assert sum(d.messages for d in summary.destinations.values()) == len(events)
    leaks = sum(leak for _, leak in events)
    assert sum(sum(d.types.values()) for d in summary.destinations.values()) == leaks
