"""``bench/bench_proxy_load.py``: a short run loses no finding, and a lost one is noticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_proxy_load import lost_findings, read_findings  # noqa: E402
from bench.gencap import imei_for, phone_for  # noqa: E402


def test_short_load_run_records_every_expected_finding(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "bench_proxy_load.py")),
            *("--seconds", "3", "--clients", "4", "--results", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = tmp_path.glob("*-proxy-load.json")
    result = json.loads(path.read_text())
    assert result["requests_answered"] == result["requests_sent"] > 0
    assert result["findings_expected"] == 2 * result["requests_answered"]
    assert result["findings_recorded"] == result["findings_expected"]
    assert result["equal"] is True and result["lost"] == [] and result["proxy_exit"] == 0
    assert result["timeline_bad_lines"] == 0 and result["peak_rss_mb"] > 0
    assert "equal: yes" in done.stdout


def test_a_finding_missing_from_the_timeline_is_reported_lost(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    records = [{"record": "event", "ts": 1.0, "event": "consent"}]
    records += [{"record": "finding", "type": "imei", "value": imei_for(s)} for s in (0, 1, 2)]
    records += [{"record": "finding", "type": "phone", "value": phone_for(s)} for s in (0, 2)]
    timeline.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"record": "fin')
    values, count, bad = read_findings(timeline)
    assert (count, bad) == (5, 1)
    assert lost_findings([0, 1, 2], values) == [f"phone {phone_for(1)}"]
    assert lost_findings([0, 2], values) == []
