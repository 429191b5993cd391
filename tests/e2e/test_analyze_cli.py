"""End to end: the installed ``leaktrace analyze`` command on the bundled demo capture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
DEMO = CAPTURES / "demo.pcap"
DEVICE = CAPTURES / "device.yaml"
APP = CAPTURES / "app.yaml"
EXPECTED = yaml.safe_load((CAPTURES / "demo.expected.yaml").read_text())
LEAKTRACE = shutil.which("leaktrace", path=str(Path(sys.executable).parent)) or "leaktrace"

KEY_FIELDS = ("type", "host", "transport", "party", "sdk", "where", "form")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAKTRACE, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


DEVICE_VALUES = yaml.safe_load(DEVICE.read_text())


def planted() -> list[dict[str, Any]]:
    return list(EXPECTED["leaks"])


def test_demo_finds_every_planted_identifier_and_nothing_else() -> None:
    # the command: the declaration is picked up from beside the capture
    proc = run("analyze", DEMO, "--device", DEVICE, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert f"using the app declaration {APP}" in proc.stderr
    found = jsonl(proc.stdout)
    got = sorted(tuple(f[k] for k in KEY_FIELDS) for f in found)
    want = sorted(tuple(p[k] for k in KEY_FIELDS) for p in planted())
    assert got == want
    for finding in found:
        assert finding["method"] == "profile"
        assert finding["flow"].startswith("1:")
        assert finding["src"] and finding["dst"]


def test_values_are_masked_unless_revealed() -> None:
    masked = jsonl(
        run("analyze", DEMO, "--device", DEVICE, "--app", APP, "--format", "jsonl").stdout
    )
    revealed_proc = run(
        "analyze", DEMO, "--device", DEVICE, "--app", APP, "--format", "jsonl", "--reveal"
    )
    revealed = jsonl(revealed_proc.stdout)
    assert revealed_proc.returncode == 0
    device_values = {k: v for k, v in DEVICE_VALUES.items() if isinstance(v, str)}
    for finding in masked:
        assert "*" in finding["value"]
    by_type = {f["type"]: f["value"] for f in revealed}
    for p in planted():
        if p["type"] != "location":
            assert by_type[p["type"]] == device_values[p["type"]]
    # nothing in the default output carries a device value, in any field
    blob = json.dumps(masked)
    for value in device_values.values():
        assert value not in blob


def test_patterns_alone_find_the_plain_identifiers() -> None:
    proc = run("analyze", DEMO, "--no-sidecars", "--app", APP, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    found = {(f["type"], f["host"], f["where"]) for f in jsonl(proc.stdout)}
    for p in planted():
        if p["form"] == "plain":
            assert (p["type"], p["host"], p["where"]) in found
    assert all(f["method"] == "pattern" for f in jsonl(proc.stdout))


def test_table_names_trackers_and_states_coverage() -> None:
    proc = run("analyze", DEMO, "--device", DEVICE, "--app", APP)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for dest in EXPECTED["destinations"]:
        assert dest["host"] in out
    assert "coverage:" in out
    assert "tls_without_keys" in out


def test_json_report_lists_destinations_with_sdk() -> None:
    proc = run("analyze", DEMO, "--device", DEVICE, "--app", APP, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["complete"] is True
    dests = {d["host"]: d for d in report["summary"]["destinations"]}
    for dest in EXPECTED["destinations"]:
        assert dest["host"] in dests
        if dest.get("sdk"):
            assert dests[dest["host"]]["sdk"] == dest["sdk"]
        assert dest["transport"] in dests[dest["host"]]["transports"]
    assert report["coverage"]["flows_opaque"] >= 1


def test_out_file_gets_findings_and_terminal_gets_summary(tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    proc = run("analyze", DEMO, "--device", DEVICE, "--app", APP, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert len(jsonl(out.read_text())) == len(planted())
    assert "coverage:" in proc.stderr


def test_truncated_capture_keeps_earlier_findings_and_says_where(tmp_path: Path) -> None:
    data = DEMO.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    proc = run("analyze", cut, "--device", DEVICE, "--format", "json")  # no app.yaml beside
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    assert report["complete"] is False
    assert report["damage"]["offset"] > 0
    assert report["findings"], "findings before the cut are kept"
    assert "capture damaged at byte" in proc.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "empty"), (b"\x00garbage that is not a capture" * 4, "not a pcap")],
)
def test_unreadable_input_is_one_clear_line(tmp_path: Path, content: bytes, needle: str) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    proc = run("analyze", bad)
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert needle in lines[0].lower()


def test_missing_file_and_bad_device_file(tmp_path: Path) -> None:
    assert run("analyze", tmp_path / "nope.pcap").returncode == 3
    bad_device = tmp_path / "device.yaml"
    bad_device.write_text("imei: [1, 2\n")
    proc = run("analyze", DEMO, "--device", bad_device)
    assert proc.returncode == 2
    assert "device.yaml" in proc.stderr


def test_bad_app_file(tmp_path: Path) -> None:
    bad_app = tmp_path / "app.yaml"
    bad_app.write_text("first_party: [a, b\n")
    proc = run("analyze", DEMO, "--no-sidecars", "--app", bad_app)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("error:") and "app.yaml" in proc.stderr


def test_a_quick_exit_runs_exit_handlers_and_flushes_output(tmp_path: Path) -> None:
    """``analyze`` ends its process without the interpreter's teardown; nothing may be lost."""
    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, sys\n"
        "from leaktrace.cli import exit_now\n"
        "atexit.register(lambda: open(sys.argv[1], 'w').write('ran'))\n"
        "sys.stdout.write('not yet flushed')\n"
        "exit_now(3)\n"
    )
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
        env=buffered,
    )
    assert (proc.returncode, proc.stdout) == (3, "not yet flushed")
    assert marker.read_text() == "ran"


def test_a_quick_exit_waits_for_a_running_thread(tmp_path: Path) -> None:
    marker = tmp_path / "thread-done"
    code = (
        "import sys, threading, time\n"
        "from leaktrace.cli import exit_now\n"
        "def work():\n"
        "    time.sleep(0.2)\n"
        "    open(sys.argv[1], 'w').write('done')\n"
        "threading.Thread(target=work).start()\n"
        "exit_now(5)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(marker)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 5, proc.stderr
    assert marker.read_text() == "done"
