"""Headless Chromium opens the demo's HTML report: the DOM after scripts ran, and a screenshot.

The screenshot is saved as tests/artifacts/report-demo.png (git-ignored) and
its path is printed, so a reviewer can look at what a reader would see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headless import chromium, needs_chromium
from leaktrace.analyze import analyze_capture
from leaktrace.declaration import load_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.policy.engine import evaluate
from leaktrace.profile import load_device
from leaktrace.report.files import write_report
from leaktrace.report.session import evaluate_analysis
from leaktrace.testing import finding
from leaktrace.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = PipelineConfig.load(
        device=load_device(CAPTURES / "device.yaml"),
        app=load_declaration(CAPTURES / "app.yaml"),
    )
    result = analyze_capture(CAPTURES / "demo.pcap", config)
    evaluation = evaluate_analysis(result, config.app, config.signatures)
    return write_report(tmp_path_factory.mktemp("report"), evaluation).html


def test_matrix_and_violations_in_the_dom(demo_report: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", demo_report.as_uri()).stdout
    assert 'data-ready="1"' in dom  # the report's script ran under its CSP
    assert "interactive: 4 verdicts, 5 matrix cells, 1 script" in dom
    assert '<table id="matrix">' in dom
    for cell in ('data-type="imei"', 'data-type="imsi"', 'data-type="location"'):
        assert cell in dom
    assert '<ol id="violations">' in dom
    assert dom.count('<li class="verdict violation"') == 4
    assert 'data-rule="LT-SHARE-UNDISCLOSED" data-level="violation"' in dom
    assert "imei sent to baidu_mobads (Baidu), which the shares list does not name" in dom


def test_screenshot(demo_report: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-demo.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", demo_report.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"screenshot: {shot}")


def test_injected_markup_does_not_run(tmp_path: Path) -> None:
    payload = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='x'\">"
    hostile = finding(host=payload, where=payload, sdk=None, type="phone")  # a clear-text verdict
    html = write_report(tmp_path / "r", evaluate(Timeline([hostile]), None)).html
    dom = chromium(tmp_path, "--dump-dom", html.as_uri()).stdout
    assert "pwned" not in dom.split("<title>")[1].split("</title>")[0]
    assert "interactive: 1 verdicts" in dom and ", 1 script" in dom
    assert "<img" not in dom
