"""The pytest plugin, in a pytest run of its own (a subprocess), as an app-test suite uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .lab import APP, DEVICE, VALUES

SUITE = """
import urllib.request, ssl
from leaktrace.pytest_plugin import assert_no_undeclared_sharing

def get(session, url):
    ctx = ssl.create_default_context(cafile=str(session.ca_cert))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({{"https": session.url}}),
        urllib.request.HTTPSHandler(context=ctx),
    )
    with opener.open(url, timeout=10) as response:
        return response.status

def test_declared_login(leaktrace_proxy):
    leaktrace_proxy.mark("login")
    assert get(leaktrace_proxy, "https://api.example.com/login?phone={phone}") == 200
    assert_no_undeclared_sharing(leaktrace_proxy)

def test_undeclared_tracker(leaktrace_proxy):
    leaktrace_proxy.mark("consent")
    assert get(leaktrace_proxy, "https://ulogs.umeng.com/t?imei={imei}") == 200
    assert [f.type for f in leaktrace_proxy.findings()] == ["phone", "imei"]
    assert_no_undeclared_sharing(leaktrace_proxy)
"""


def test_fixture_and_assertion_in_an_app_test_suite(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(SUITE.format(phone=VALUES["phone"], imei=VALUES["imei"]))
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nleaktrace_device = {DEVICE}\nleaktrace_app = {APP}\n"
        "leaktrace_sinkhole = true\nleaktrace_timeline = timeline.jsonl\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",  # the plugin comes in through its pytest11 entry point
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "ignore::DeprecationWarning",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 1 passed" in out
    assert "test_undeclared_tracker" in out and "test_declared_login" not in out.split("FAILED")[1]
    assert "imei → third umeng ulogs.umeng.com (query:imei, 86**********190)" in out
    assert VALUES["imei"] not in out  # the failure report itself is masked
    timeline = (tmp_path / "timeline.jsonl").read_text()
    assert '"event": "login"' in timeline and '"type": "imei"' in timeline
