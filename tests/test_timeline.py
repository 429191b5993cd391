from __future__ import annotations

import io
from pathlib import Path

import pytest

from leaktrace.testing import finding
from leaktrace.timeline import TimelineError, TimelineWriter, parse_timeline, read_timeline
from leaktrace.types import TimelineEvent

FINDING = finding(form="md5", method="profile", origin="proxy")


def test_round_trip_of_events_and_findings(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    with path.open("w") as stream:
        writer = TimelineWriter(stream)
        writer.event(TimelineEvent(10.0, "consent", (("button", "agree"),), mono=3.25))
        writer.finding(FINDING)
    timeline = read_timeline(path)
    assert timeline.events == [TimelineEvent(10.0, "consent", (("button", "agree"),), 3.25)]
    assert timeline.findings == [FINDING]


def test_plain_findings_jsonl_reads_as_findings() -> None:
    stream = io.StringIO()
    TimelineWriter(stream).finding(FINDING)
    plain = stream.getvalue().replace('"record": "finding", ', "")
    assert list(parse_timeline([plain])) == [FINDING]


def test_a_torn_last_line_is_skipped_but_damage_inside_is_an_error() -> None:
    stream = io.StringIO()
    writer = TimelineWriter(stream)
    writer.finding(FINDING)
    good = stream.getvalue()
    assert list(parse_timeline([good, good[:40]])) == [FINDING]
    with pytest.raises(TimelineError, match=r"t\.jsonl:1"):
        list(parse_timeline([good[:40], good], "t.jsonl"))
