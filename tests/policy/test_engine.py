"""End to end on the demo capture: analyze_capture → evaluate → verdicts, lists, gate, CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leaktrace.analyze import AnalysisResult, analyze_capture
from leaktrace.cli import app
from leaktrace.declaration import load_declaration, parse_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.policy.draft import draft_declaration, draft_yaml
from leaktrace.policy.engine import FailOn, evaluate, evaluation_record, gate, mask_finding
from leaktrace.policy.requests import capture_request_marks
from leaktrace.profile import load_device
from leaktrace.report.session import evaluate_analysis
from leaktrace.signatures.loader import SignatureSet
from leaktrace.sinks.jsonl import JsonlSink
from leaktrace.testing import finding
from leaktrace.timeline import Timeline

from .conftest import judge, tripped

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


@pytest.fixture(scope="module")
def demo() -> AnalysisResult:
    config = PipelineConfig.load(
        device=load_device(CAPTURES / "device.yaml"),
        app=load_declaration(CAPTURES / "app.yaml"),
    )
    return analyze_capture(CAPTURES / "demo.pcap", config)


@pytest.fixture(scope="module")
def demo_findings(demo: AnalysisResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        sink = JsonlSink(stream)
        for item in demo.findings:
            sink.write(item)
    return path


def test_demo_verdicts(demo: AnalysisResult, signatures: SignatureSet) -> None:
    decl = load_declaration(CAPTURES / "app.yaml")
    ev = evaluate_analysis(demo, decl, signatures)
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == [("baidu_mobads", "imei"), ("jpush", "imsi")]
    assert tripped(ev, "LT-COLLECT-UNDISCLOSED") == []
    # research C9 names phone numbers and precise location among sensitive data
    assert tripped(ev, "LT-CLEARTEXT-SENSITIVE") == [
        ("baidu_location", "location"),
        ("example.com", "phone"),
    ]
    imei = next(v for v in ev.verdicts if v.type == "imei")
    assert imei.evidence[0].where == "query:did" and imei.hosts == ("mobads.baidu.com",)
    assert imei.evidence[0].origin.startswith("pcap:demo.pcap#")
    record = evaluation_record(ev)
    json.dumps(record)  # serialisable as it is
    statuses = {(r["party"], r["type"]): r["status"] for r in record["observed"]["shared"]}
    assert statuses == {
        ("baidu_location", "location"): "declared",
        ("baidu_mobads", "imei"): "undeclared",
        ("jpush", "imsi"): "undeclared",
    }
    assert {r["type"]: r["status"] for r in record["observed"]["collected"]} == {
        "android_id": "declared",
        "phone": "declared",
    }
    unchecked = {r["id"] for r in record["rules"] if not r["checked"]}
    assert unchecked == {"LT-BEFORE-CONSENT", "LT-DEVICE-ID-OUT-OF-SCOPE", "LT-AFTER-WITHDRAWAL"}
    assert record["withdrawal"] is None


def test_demo_with_a_stricter_declaration(demo: AnalysisResult, signatures: SignatureSet) -> None:
    """Consent placed by the login request, device ids ruled out: more rules trip."""
    marks = capture_request_marks(CAPTURES / "demo.pcap", r"/v1/login")
    assert len(marks) == 1 and marks[0].url == "http://api.shop.example.com/v1/login"
    decl = replace(load_declaration(CAPTURES / "app.yaml"), needs_device_ids=False, consent=None)
    decl = parse_declaration({**asdict(decl), "consent": {"url": "/v1/login"}})
    ev = evaluate(Timeline(list(demo.findings)), decl, signatures, requests=marks)
    before = tripped(ev, "LT-BEFORE-CONSENT")
    assert ("baidu_mobads", "imei") in before and ("jpush", "imsi") not in before
    assert tripped(ev, "LT-DEVICE-ID-OUT-OF-SCOPE") == [("baidu_mobads", "imei"), ("jpush", "imsi")]


def test_gate_levels(signatures: SignatureSet) -> None:
    decl = parse_declaration({"app": {"id": "x"}, "first_party": ["example.com"]})
    weak = finding(confidence=0.3)
    cleartext = finding(host="api.example.com", party="first", sdk=None, type="phone")
    ev = judge([weak], decl, signatures)
    assert gate(ev, FailOn.violation) == [] and gate(ev, FailOn.undisclosed) == []
    lines = gate(ev, FailOn.any)
    assert len(lines) == 1 and lines[0].startswith("LT-SHARE-UNDISCLOSED [high] imei sent to umeng")
    decl2 = parse_declaration(
        {"app": {"id": "x"}, "first_party": ["example.com"], "collects": [{"type": "phone"}]}
    )
    ev = judge([cleartext], decl2, signatures)
    assert len(gate(ev, FailOn.violation)) == 1 and gate(ev, FailOn.undisclosed) == []


def test_values_masked_and_never_unmasked() -> None:
    revealed = finding(value="868915034726190")
    assert mask_finding(revealed, reveal=False).value == "86**********190"
    assert mask_finding(revealed, reveal=True).value == "868915034726190"
    masked = finding(value="86**********190")
    assert mask_finding(masked, reveal=True).value == "86**********190"
    ev = evaluate(Timeline([revealed]), None)
    assert ev.findings[0].value == "86**********190"
    assert "868915034726190" not in json.dumps(evaluation_record(ev))


def test_draft_declaration_judges_its_own_session_clean(
    demo: AnalysisResult, signatures: SignatureSet, tmp_path: Path
) -> None:
    doc = draft_declaration(demo.findings, signatures, app_id="com.example.demoshop")
    path = tmp_path / "app.yaml"
    path.write_text(draft_yaml(doc), encoding="utf-8")
    decl = load_declaration(path)
    assert decl.first_party == ["example.com"]
    assert {(s.party, tuple(s.types)) for s in decl.shares} == {
        ("baidu_location", ("location",)),
        ("baidu_mobads", ("imei",)),
        ("jpush", ("imsi",)),
    }
    ev = evaluate(Timeline(list(demo.findings)), decl, signatures)
    assert gate(ev, FailOn.undisclosed) == []
    assert "TODO" in path.read_text()


def test_cli_report_gate_and_files(demo_findings: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "rep"
    args = ["report", str(demo_findings), "--app", str(CAPTURES / "app.yaml"), "--out", str(out)]
    passed = runner.invoke(app, args)
    assert passed.exit_code == 0, passed.output
    assert f"report: {out / 'report.html'}" in passed.output
    assert "verdicts: 4 violations, 0 warnings" in passed.output
    tripped_ = runner.invoke(app, [*args, "--fail-on", "undisclosed"])
    assert tripped_.exit_code == 1
    fails = [line for line in tripped_.output.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == 2 and all("LT-SHARE-UNDISCLOSED" in line for line in fails)
    assert {p.name for p in out.iterdir()} == {
        "report.html",
        "verdicts.json",
        "observed-collected.csv",
        "observed-shared.csv",
        "observed-lists.yaml",
    }
    lists = yaml.safe_load((out / "observed-lists.yaml").read_text())
    assert {r["party"] for r in lists["shared"]} == {"baidu_location", "baidu_mobads", "jpush"}
    assert "baidu_mobads" in (out / "observed-shared.csv").read_text()


def test_cli_analyze_fail_on(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["analyze", str(CAPTURES / "demo.pcap"), "--quiet", "--out", str(tmp_path / "f.jsonl")]
    ok = runner.invoke(app, base)
    assert ok.exit_code == 0, ok.output
    gated = runner.invoke(app, [*base, "--fail-on", "violation", "--report", str(tmp_path / "r")])
    assert gated.exit_code == 1
    assert gated.output.count("FAIL ") == 4
    assert (tmp_path / "r" / "report.html").is_file()


def test_cli_declare(demo_findings: Path, tmp_path: Path) -> None:
    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(
        app, ["declare", "--from-findings", str(demo_findings), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert load_declaration(out).app.id == "TODO.app.id"


def test_cli_bad_inputs(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_app = tmp_path / "app.yaml"
    bad_app.write_text("app: {id: x}\nconsent: {when: now}\n")
    findings = tmp_path / "f.jsonl"
    findings.write_text("")
    result = runner.invoke(app, ["report", str(findings), "--app", str(bad_app)])
    assert result.exit_code == 2 and "consent" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "cannot read" in result.output
