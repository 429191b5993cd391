"""The corpus report: per SDK across apps, per app the undisclosed sharing; safe output."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from leaktrace.corpus.report import build_report
from leaktrace.corpus.store import CaptureRow, Store
from leaktrace.testing import finding

DAY = 1_763_900_000.0


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    s = Store(root).create()
    one = [
        finding(ts=DAY),  # IMEI to umeng, not declared
        finding(ts=DAY, sdk="jpush", host="api.jpush.cn", type="imsi"),
        finding(ts=DAY, sdk=None, party="first", host="api.one.example", type="phone"),
    ]
    s.write_findings("1" * 64, "one.pcap", "com.one", "One", one, [False, True, True])
    two = [
        finding(ts=DAY),
        finding(ts=DAY, sdk=None, host="<script>alert(1)</script>.example", type="imei"),
        finding(ts=DAY, sdk=None, host="=cmd|' /C calc'!A0", type="location"),
    ]
    s.write_findings("2" * 64, "two.pcap", "com.two", None, two, [False, False, False])
    s.write_findings("3" * 64, "three.pcap", None, None, [finding(ts=DAY)], [None])
    for n, (name, app) in enumerate(
        [("one.pcap", "com.one"), ("two.pcap", "com.two"), ("three.pcap", None)], start=1
    ):
        s.write_capture(
            CaptureRow(
                sha256=str(n) * 64,
                capture=name,
                status="ok",
                app_id=app,
                declaration=f"{app}.yaml" if app else None,
            )
        )
    s.write_capture(CaptureRow(sha256="4" * 64, capture="bad.pcap", status="failed", error="boom"))
    return root


def test_sdk_view_across_apps(store: Path, tmp_path: Path) -> None:
    report = build_report(store, tmp_path / "out")
    rows = {r[0]: r for r in report.recipients.rows}
    _, kind, apps, types, findings, app_list = rows["umeng"]
    assert (kind, apps, types, findings) == ("sdk", 3, ["imei"], 3)
    assert app_list == ["(no app.yaml) three.pcap", "com.one", "com.two"]
    assert rows["jpush"][2:5] == (1, ["imsi"], 1)
    assert "api.one.example" not in rows  # the first party is not a recipient


def test_undisclosed_sharing_per_app(store: Path, tmp_path: Path) -> None:
    report = build_report(store, tmp_path / "out")
    cols = report.apps.columns
    apps = {r[0]: dict(zip(cols, r, strict=True)) for r in report.apps.rows}
    assert apps["com.one"]["undisclosed"] == 1
    assert apps["com.one"]["undisclosed_to"] == ["umeng"]
    assert apps["com.two"]["undisclosed"] == 3
    assert apps["com.two"]["undisclosed_types"] == ["imei", "location"]
    assert apps["(no app.yaml) three.pcap"]["undisclosed"] is None  # nothing to judge against
    assert apps["(no app.yaml) bad.pcap"]["failed"] == 1
    assert report.apps.rows[0][0] == "com.two"  # worst first


def test_files_are_written_and_safe(store: Path, tmp_path: Path) -> None:
    report = build_report(store, tmp_path / "out")
    names = sorted(p.name for p in report.files)
    assert names == [
        "apps.csv",
        "captures.csv",
        "index.html",
        "recipient_types.csv",
        "recipients.csv",
    ]
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "86**********190" not in page  # no identifier values, even masked
    with (tmp_path / "out" / "recipients.csv").open() as stream:
        cells = [c for row in csv.reader(stream) for c in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(c.startswith("=") for c in cells)
    captures = (tmp_path / "out" / "captures.csv").read_text()
    assert "bad.pcap,failed,boom,1" in captures


def test_empty_store_gives_an_empty_report(tmp_path: Path) -> None:
    Store(tmp_path / "s").create()
    report = build_report(tmp_path / "s", tmp_path / "out")
    assert report.recipients.rows == [] and report.apps.rows == []
    assert "none" in (tmp_path / "out" / "index.html").read_text()
