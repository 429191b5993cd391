"""Nothing lost: ``leaktrace proxy --out F`` killed with SIGKILL mid-traffic leaves a readable F
holding every finding the proxy had printed and every request it had answered."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from .lab import Upstream
from .test_cli_proxy import LEAKTRACE, read_until
from .test_under_fire import luhn_imei

CLIENTS = 4
KILL_AFTER = 60  # findings in the file


def test_sigkill_mid_traffic_keeps_every_reported_finding(tmp_path: Path) -> None:
    upstream = Upstream()
    out = tmp_path / "timeline.jsonl"
    proc = subprocess.Popen(
        [
            *(LEAKTRACE, "proxy", "--listen", "127.0.0.1:0", "--out", str(out), "--reveal"),
            *("--confdir", str(tmp_path / "ca")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    answered: list[str] = []
    stop = threading.Event()

    def drain() -> None:  # a full stdout pipe would stall the proxy
        assert proc.stdout is not None
        printed.extend(iter(proc.stdout.readline, ""))

    def client(n: int, host: str, port: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        for i in range(100_000):
            if stop.is_set():
                break
            imei = luhn_imei(n * 1_000_000 + i)
            target = f"http://127.0.0.1:{upstream.port}/t?imei={imei}"
            try:
                conn.request("GET", target, headers={"Host": "ulogs.umeng.com"})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                break  # the proxy is gone
            if response.status == 200:
                answered.append(imei)
        conn.close()

    try:
        banner = "\n".join(read_until(proc, "Ctrl-C"))
        found = re.search(r"listening on http://([\d.]+):(\d+)", banner)
        assert found is not None, banner
        host, port = found.group(1), int(found.group(2))
        threading.Thread(target=drain, daemon=True).start()
        threads = [
            threading.Thread(target=client, args=(n, host, port), daemon=True)
            for n in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= KILL_AFTER:
                break
            time.sleep(0.005)
        acknowledged = len(answered)  # answered before the kill: in the file by then
        acknowledged_imeis = set(answered[:acknowledged])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        upstream.close()
    assert proc.returncode == -signal.SIGKILL, "the proxy ended before it could be killed"

    text = out.read_text()
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]  # tail: "" or the one line the kill tore
    records = [json.loads(line) for line in complete]  # every complete line parses
    assert len(records) >= KILL_AFTER
    assert "\n" not in tail
    in_file = {r["value"] for r in records if r["record"] == "finding" and r["type"] == "imei"}
    assert acknowledged >= 1 and acknowledged_imeis <= in_file
    shown = {m.group(1) for line in printed if (m := re.search(r" imei=(\d{15}) ", line))}
    assert len(shown) >= KILL_AFTER - CLIENTS and shown <= in_file  # printed after written
    assert all(
        (r["host"], r["sdk"], r["where"]) == ("ulogs.umeng.com", "umeng", "query:imei")
        for r in records
    )
