"""Nothing lost: ``analyze --format jsonl --out F`` killed with SIGKILL leaves a readable F."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from leaktrace.timeline import read_timeline

from .conftest import LEAKTRACE, ROOT


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 50 MB of realistic traffic from ``bench/gencap.py``."""
    spec = importlib.util.spec_from_file_location("gencap", ROOT / "bench" / "gencap.py")
    assert spec is not None and spec.loader is not None
    gencap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gencap)
    path = tmp_path_factory.mktemp("kill9") / "big.pcap"
    gencap.generate(path, 50.0)
    return path


def _command(capture: Path, out: Path) -> list[str]:
    return [LEAKTRACE, "analyze", str(capture), "--format", "jsonl", "--out", str(out), "--quiet"]


def test_sigkill_mid_run_leaves_every_written_finding_readable(
    big_capture: Path, tmp_path: Path
) -> None:
    full_out = tmp_path / "full.jsonl"
    subprocess.run(_command(big_capture, full_out), check=True, timeout=120)
    full = full_out.read_text().splitlines()
    assert len(full) > 100

    out = tmp_path / "killed.jsonl"
    # A session of its own, so the kill reaches any worker processes too.
    proc = subprocess.Popen(_command(big_capture, out), start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.stat().st_size > 20_000:
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    # Each line goes out in one write, but the kernel may end a write at a page
    # boundary when the process is killed: the line being written then may be cut.
    # Every line before it is whole, and leaktrace's reader skips a cut last line.
    text = out.read_text()
    whole, _, cut = text.rpartition("\n")
    lines = whole.splitlines()
    records = [json.loads(line) for line in lines]  # every whole line parses
    assert 0 < len(records) <= len(full)
    assert all(r["value"] and r["flow"].startswith("1:") for r in records)
    assert set(lines) <= set(full), "a killed run writes only findings the full run makes"
    assert not cut or any(line.startswith(cut) for line in full), "a cut line is a prefix"
    assert len(read_timeline(out).findings) == len(records)
