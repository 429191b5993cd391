"""Re-test diff on two captures of the same scripted app: one leak removed, one added.

tests/data/diff/{before,after}.pcap were recorded by make_diff_captures.py
(real HTTP servers and client on loopback, tcpdump): the "after" run stops
sending the IMEI to Baidu's ad SDK and starts sending the MAC to Umeng.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leaktrace.analyze import analyze_capture
from leaktrace.cli import app
from leaktrace.declaration import load_declaration
from leaktrace.diff import DiffError, diff_record, diff_runs, load_run, run_from_findings
from leaktrace.pipeline import PipelineConfig
from leaktrace.policy.engine import evaluate
from leaktrace.profile import load_device
from leaktrace.report.files import write_report
from leaktrace.sinks.jsonl import JsonlSink
from leaktrace.testing import finding
from leaktrace.timeline import Timeline, read_timeline

DATA = Path(__file__).resolve().parent / "data" / "diff"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each capture analysed to a findings file, as ``leaktrace analyze --out`` would."""
    out = tmp_path_factory.mktemp("diff")
    config = PipelineConfig.load(
        device=load_device(DATA / "device.yaml"), app=load_declaration(DATA / "app.yaml")
    )
    paths = {}
    for name in ("before", "after"):
        path = out / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as stream:
            analyze_capture(DATA / f"{name}.pcap", config, on_finding=JsonlSink(stream).write)
        paths[name] = path
    return paths


def statuses(record: dict[str, object]) -> dict[tuple[str, str], str]:
    flows = record["flows"]
    assert isinstance(flows, list)
    return {(f["recipient"], f["type"]): f["status"] for f in flows}


def test_leak_removed_and_leak_added(runs: dict[str, Path]) -> None:
    decl = load_declaration(DATA / "app.yaml")
    diff = diff_runs(load_run(runs["before"], decl), load_run(runs["after"], decl))
    assert statuses(diff_record(diff)) == {
        ("baidu_mobads", "imei"): "stopped",
        ("umeng", "mac"): "new",
        ("baidu_location", "location"): "remaining",
        ("first party", "phone"): "remaining",
    }
    assert diff.verdicts is not None
    assert ("LT-SHARE-UNDISCLOSED", "baidu_mobads", "imei") in diff.verdicts["fixed"]
    assert ("LT-SHARE-UNDISCLOSED", "umeng", "mac") in diff.verdicts["new"]
    assert ("LT-CLEARTEXT-SENSITIVE", "baidu_location", "location") in diff.verdicts["remaining"]


def test_verdict_files_diff_like_findings(runs: dict[str, Path], tmp_path: Path) -> None:
    """``verdicts.json`` from two reports gives the same flows as the findings files."""
    decl = load_declaration(DATA / "app.yaml")
    verdict_files = []
    for name in ("before", "after"):
        run = load_run(runs[name])
        assert run.flows
        evaluation = evaluate(read_timeline(runs[name]), decl)
        verdict_files.append(write_report(tmp_path / name, evaluation).verdicts)
    from_verdicts = diff_runs(load_run(verdict_files[0]), load_run(verdict_files[1]))
    from_findings = diff_runs(load_run(runs["before"], decl), load_run(runs["after"], decl))
    assert statuses(diff_record(from_verdicts)) == statuses(diff_record(from_findings))


def test_diff_cli_table_and_json(runs: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["diff", str(runs["before"]), str(runs["after"]), "--app", str(DATA / "app.yaml")]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "stopped" in table.output and "baidu_mobads" in table.output
    assert "flows: stopped 1, remaining 2, new 1" in table.output
    as_json = runner.invoke(app, [*args, "--format", "json", "--out", str(tmp_path / "d.json")])
    record = json.loads(as_json.stdout)
    assert record["counts"] == {"stopped": 1, "remaining": 2, "new": 1}
    assert json.loads((tmp_path / "d.json").read_text()) == record


def test_report_has_a_diff_section(runs: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(runs["after"]),
            "--app",
            str(DATA / "app.yaml"),
            "--compare",
            str(runs["before"]),
            "--out",
            str(tmp_path / "rep"),
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'id="diff"' in html and '<tr class="stopped">' in html and '<tr class="new">' in html
    verdicts = json.loads((tmp_path / "rep" / "verdicts.json").read_text())
    assert verdicts["diff"]["counts"] == {"stopped": 1, "remaining": 2, "new": 1}


def test_fewer_requests_is_not_a_fix() -> None:
    before = run_from_findings("b", [finding(ts=1), finding(ts=2)])
    after = run_from_findings("a", [finding(ts=3)])
    change = diff_runs(before, after).flows
    assert [(f.status, f.before, f.after) for f in change] == [("remaining", 2, 1)]


def test_unreadable_run(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text("not json\n{}\n")
    with pytest.raises(DiffError):
        load_run(bad)
    with pytest.raises(DiffError, match="cannot read"):
        load_run(tmp_path / "missing.jsonl")
    assert load_run(_empty(tmp_path)).flows == {}


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert evaluate(Timeline(), None).findings == []
    return path
