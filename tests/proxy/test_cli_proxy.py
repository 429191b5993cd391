"""``leaktrace proxy`` as a user runs it: start, traffic, Ctrl-C, summary, files."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .lab import APP, DEVICE, VALUES, opener

LEAKTRACE = shutil.which("leaktrace", path=str(Path(sys.executable).parent)) or "leaktrace"


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 30) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in: {lines}")


def test_proxy_command_runs_until_ctrl_c_and_prints_the_summary(tmp_path: Path) -> None:
    out, save = tmp_path / "findings.jsonl", tmp_path / "flows.mitm"
    proc = subprocess.Popen(
        [
            *(LEAKTRACE, "proxy", "--listen", "127.0.0.1:0", "--sinkhole"),
            *("--device", str(DEVICE), "--app", str(APP), "--out", str(out), "--save", str(save)),
            *("--control", "127.0.0.1:0", "--confdir", str(tmp_path / "ca")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_until(proc, "Ctrl-C")
        url = re.search(r"listening on (http://\S+)", "\n".join(banner))
        token = re.search(r"control token: (\S+)", "\n".join(banner))
        assert url and token
        client = opener(url.group(1), tmp_path / "ca" / "mitmproxy-ca-cert.pem")
        with client.open(f"https://ulogs.umeng.com/a?imei={VALUES['imei']}", timeout=10) as r:
            assert r.status == 200
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed live, before the proxy stops
        assert "third umeng ulogs.umeng.com imei=86**********190 query:imei" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "ulogs.umeng.com" in stderr and "1 findings of 1 identifier types" in stderr
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["record"], r["type"]) for r in records] == [("finding", "imei")]
    assert save.stat().st_size > 0


def test_bad_listen_and_missing_declaration_are_usage_errors() -> None:
    bad = subprocess.run(
        [LEAKTRACE, "proxy", "--listen", "nowhere"], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    nodecl = subprocess.run(
        [LEAKTRACE, "proxy", "--block-undeclared"], capture_output=True, text=True, timeout=30
    )
    assert nodecl.returncode == 2 and "--app" in nodecl.stderr


@pytest.mark.parametrize("flag", ["--addon-path"])
def test_addon_path_is_a_loadable_file(flag: str) -> None:
    proc = subprocess.run([LEAKTRACE, "proxy", flag], capture_output=True, text=True, timeout=30)
    path = Path(proc.stdout.strip())
    assert path.name == "addon.py" and "addons = [LeaktraceAddon()]" in path.read_text()
