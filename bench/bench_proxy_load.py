"""Load on the live proxy: many clients for a fixed time, and every finding accounted for.

    python bench/bench_proxy_load.py --seconds 60 --clients 32
    python -m bench --proxy-load            # the same, with these defaults

Everything runs on 127.0.0.1. A plain HTTP upstream (``bench_proxy.upstream``)
sits behind the real ``leaktrace proxy`` command, started as a subprocess in
reverse mode with ``--out`` (the timeline file) and ``--reveal``; the clients
are threads that each keep one TLS connection to the proxy (its CA trusted, so
the proxy terminates TLS as it does for a phone) and send keep-alive POSTs.
Every request carries a valid IMEI in its query and a phone number in its JSON
body, both unique to the request, so each expected finding can be looked up
in the timeline afterwards. The proxy's memory (``VmRSS``) is sampled every
second and its peak (``VmHWM``) read before it stops.

At the end sending stops, the proxy is stopped cleanly (SIGTERM) and the
timeline read back: a finding missing for an answered request is lost. Prints
the figures and writes ``bench/results/<stamp>-proxy-load.json``; exits 1 if
a finding was lost or the proxy did not stop cleanly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.bench_proxy import upstream  # noqa: E402
from bench.gencap import imei_for, phone_for  # noqa: E402
from bench.machine import machine_info  # noqa: E402
from bench.run import leaktrace_exe  # noqa: E402

RESULTS = ROOT / "bench" / "results"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 120.0
CA_CERT = "mitmproxy-ca-cert.pem"


@dataclass(slots=True)
class ClientTally:
    sent: int = 0
    answered: list[int] = field(default_factory=list)  # sequence numbers answered 200
    failed: list[int] = field(default_factory=list)  # no answer, or not 200
    errors: list[str] = field(default_factory=list)


class ProxyProcess:
    """``leaktrace proxy`` in reverse mode in front of the upstream, writing the timeline."""

    def __init__(self, upstream_port: int, folder: Path) -> None:
        self.timeline = folder / "timeline.jsonl"
        self.confdir = folder / "ca"
        command = [
            *(leaktrace_exe(), "proxy", "--mode", f"reverse:http://127.0.0.1:{upstream_port}"),
            *("--listen", "127.0.0.1:0", "--out", str(self.timeline), "--reveal"),
            *("--confdir", str(self.confdir)),
        ]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.stderr: deque[str] = deque(maxlen=40)
        self.address = self._wait_listening()
        threading.Thread(target=self._drain, daemon=True).start()

    @property
    def ca_cert(self) -> Path:
        return self.confdir / CA_CERT

    def _wait_listening(self) -> tuple[str, int]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        address: tuple[str, int] | None = None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.stderr.append(line.rstrip("\n"))
            if m := re.search(r"listening on http://([\d.]+):(\d+)", line):
                address = (m.group(1), int(m.group(2)))
            if "Ctrl-C" in line and address is not None:
                return address
        self.proc.kill()
        raise RuntimeError("the proxy did not start:\n" + "\n".join(self.stderr))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def status(self, key: str) -> int | None:
        """A ``/proc/PID/status`` memory field in kB, None once the process is gone."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        return int(m.group(1)) if m else None

    def stop(self) -> int:
        # SIGTERM, not SIGINT: a shell starting this in the background makes its
        # children ignore SIGINT, and the proxy would never hear it.
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9


def sample_rss(
    proxy: ProxyProcess, stop: threading.Event, samples: list[tuple[float, int]]
) -> None:
    start = time.monotonic()
    while not stop.wait(1.0):
        kb = proxy.status("VmRSS")
        if kb is not None:
            samples.append((round(time.monotonic() - start, 1), kb))


def client(
    n: int, clients: int, address: tuple[str, int], ca: Path, until: float, tally: ClientTally
) -> None:
    """One keep-alive TLS connection; request ``i`` carries the values of ``i*clients+n``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    conn = http.client.HTTPSConnection(*address, context=ctx, timeout=60)
    i = 0
    while time.monotonic() < until:
        seq = i * clients + n
        i += 1
        body = json.dumps({"user": {"phone": phone_for(seq)}, "seq": seq})
        tally.sent += 1
        try:
            conn.request(
                "POST",
                f"/t?imei={imei_for(seq)}&seq={seq}",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.failed.append(seq)
            if len(tally.errors) < 5:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPSConnection(*address, context=ctx, timeout=60)
            continue
        (tally.answered if response.status == 200 else tally.failed).append(seq)
    conn.close()


def read_findings(path: Path) -> tuple[dict[str, set[str]], int, int]:
    """Values by identifier type, finding count, and lines that do not parse."""
    values: dict[str, set[str]] = {}
    count = bad = 0
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if record.get("record", "finding") == "finding":
                count += 1
                values.setdefault(record["type"], set()).add(record["value"])
    return values, count, bad


def lost_findings(answered: Sequence[int], values: dict[str, set[str]]) -> list[str]:
    """The planted values of answered requests that the timeline lacks."""
    imeis, phones = values.get("imei", set()), values.get("phone", set())
    lost = [f"imei {imei_for(s)}" for s in answered if imei_for(s) not in imeis]
    return lost + [f"phone {phone_for(s)}" for s in answered if phone_for(s) not in phones]


def window_avg(samples: list[tuple[float, int]], first: bool, window_s: float) -> float | None:
    if not samples:
        return None
    end = samples[-1][0]
    chosen = [kb for t, kb in samples if (t <= window_s if first else t > end - window_s)]
    return round(sum(chosen) / len(chosen) / 1024, 1) if chosen else None


def run(seconds: float, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="leaktrace-load-") as tmp:
        server = upstream(None)
        proxy = ProxyProcess(int(server.server_address[1]), Path(tmp))
        stop_sampling = threading.Event()
        samples: list[tuple[float, int]] = []
        sampler = threading.Thread(target=sample_rss, args=(proxy, stop_sampling, samples))
        sampler.start()
        tallies = [ClientTally() for _ in range(clients)]
        started = time.monotonic()
        until = started + seconds
        threads = [
            threading.Thread(
                target=client, args=(n, clients, proxy.address, proxy.ca_cert, until, tallies[n])
            )
            for n in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        peak_kb = proxy.status("VmHWM")
        stop_sampling.set()
        sampler.join()
        exit_code = proxy.stop()
        server.shutdown()
        server.server_close()
        values, recorded, bad_lines = read_findings(proxy.timeline)
        timeline_bytes = proxy.timeline.stat().st_size

    answered = sorted(seq for t in tallies for seq in t.answered)
    lost = lost_findings(answered, values)
    expected = 2 * len(answered)
    window = min(60.0, seconds / 3)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "seconds": round(elapsed, 2),
        "clients": clients,
        "requests_sent": sum(t.sent for t in tallies),
        "requests_answered": len(answered),
        "requests_failed": sum(len(t.failed) for t in tallies),
        "client_errors": [e for t in tallies for e in t.errors][:10],
        "findings_expected": expected,
        "findings_recorded": recorded,
        "equal": not lost and recorded == expected,
        "lost": lost[:100],
        "lost_count": len(lost),
        "requests_per_s": round(len(answered) / elapsed, 1) if elapsed > 0 else 0.0,
        "proxy_exit": exit_code,
        "proxy_stderr_tail": list(proxy.stderr)[-12:],
        "timeline_bytes": timeline_bytes,
        "timeline_bad_lines": bad_lines,
        "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
        "rss_window_s": window,
        "rss_first_window_avg_mb": window_avg(samples, True, window),
        "rss_last_window_avg_mb": window_avg(samples, False, window),
        "rss_samples_mb": [[t, round(kb / 1024, 1)] for t, kb in samples],
    }


def report(result: dict[str, Any]) -> str:
    w = result["rss_window_s"]
    return "\n".join(
        [
            f"proxy load: {result['clients']} clients for {result['seconds']} s "
            "(TLS to the proxy, keep-alive, loopback)",
            f"requests: {result['requests_sent']} sent, {result['requests_answered']} answered, "
            f"{result['requests_failed']} failed; {result['requests_per_s']} req/s",
            f"findings: {result['findings_expected']} expected, "
            f"{result['findings_recorded']} recorded, equal: "
            f"{'yes' if result['equal'] else 'no'}, lost: {result['lost_count']}"
            + (f" (first: {', '.join(result['lost'][:5])})" if result["lost"] else ""),
            f"proxy memory: peak {result['peak_rss_mb']} MB; RSS average first {w:.0f} s "
            f"{result['rss_first_window_avg_mb']} MB, last {w:.0f} s "
            f"{result['rss_last_window_avg_mb']} MB",
            f"proxy exit: {result['proxy_exit']}; timeline {result['timeline_bytes']} bytes, "
            f"{result['timeline_bad_lines']} unreadable lines",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients send")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1:
        parser.error("--seconds and --clients must be positive")
    result = run(args.seconds, args.clients)
    result["command"] = "python bench/bench_proxy_load.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(report(result))
    if not args.no_save:
        args.results.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = args.results / f"{stamp}-proxy-load.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {path}")
    return 0 if result["equal"] and result["proxy_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
