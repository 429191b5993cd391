"""The benchmark: leaktrace against the tools people script instead, on one synthetic capture.

    python -m bench                      # 200 MB capture, leaktrace at 1 and 2 jobs, peers
    python -m bench --size-mb 50 --jobs 1 --skip-tshark
    python -m bench --scale              # adds 1 GB and 5 GB captures, a SYN flood, 3,000
                                         # unfinished uploads (memory), 50,000 DNS
                                         # lookups of distinct names (against tshark's)
                                         # and HTTPS with a key log (as --keyed)
    python -m bench --keyed              # HTTPS with a key log instead (bench/keyed.py),
                                         # against tshark with the same key log
    python -m bench --keyed --keyed-copies 200   # 1,200 keyed flows instead of 12,000
    python -m bench --repeat 5           # five rounds instead of three
    python -m bench --scale --scale-repeat 3   # the large captures in three rounds too
    python -m bench --proxy-load         # the live proxy under load instead (bench_proxy_load)

In one run and on the same file it measures ``leaktrace analyze`` (full
pipeline, default options, JSONL out), ``tshark`` HTTP field extraction piped
into a regex scan, and scapy's ``PcapReader`` with per-packet dissection on
a slice (extrapolated, and marked so). Beside the peers it times a bare
Python reader that only slices payloads (``bench/bare_reader.py``): the
floor for anything written in Python, against which it prints what ten times
tshark's speed would ask for. With several job counts it also runs as
many single-job analyses side by side, which shows how much a second process
gains on this machine at all: the ceiling for ``--jobs``. A fast wrong answer
does not count: leaktrace's findings are checked against the identifiers the
generator planted, and the runs at several job counts and rounds against each
other.
Each timed tool runs ``--repeat`` times, the tools taking turns round by round
so that a slow spell of a shared machine hits them all; a row shows the
median run, its record keeps every run. Prints a table and writes
``bench/results/<date>-<size>mb.json``; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import keyed
from bench.gencap import VERSION, generate
from bench.machine import machine_info
from bench.measure import Measured, run_measured

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
RESULTS = ROOT / "bench" / "results"
SCALE_SIZES_MB = (1000, 5000)
SYN_FLOOD_FLOWS = 1_000_000
SYN_FLOOD_BASE_MB = 50
# Unfinished uploads at once, each 146 KB of body held (430 MB in all) unless the
# reader's bound on what all flows hold together closes the largest.
UPLOADS = 3000
UPLOADS_BASE_MB = 50
# DNS lookups of distinct names, alone in their capture (a query and an answer each):
# every datagram a flow of its own, a message of its own and a destination of its own.
LOOKUPS = 50_000
# Copies of each of the six keyed TLS flows (bench/keyed.py): 12,000 flows, 45 MB.
KEYED_COPIES = 2000


@dataclass(slots=True)
class Row:
    """One tool on one capture."""

    tool: str
    capture_mb: float
    frames: int
    wall_s: float  # the median run's
    cpu_s: float
    peak_rss_mb: float  # the largest of all runs
    extrapolated: bool = False
    check: str = ""  # PASS / FAIL / "" (no check for peers), with a reason
    found: dict[str, int] = field(default_factory=dict)
    note: str = ""
    walls: list[float] = field(default_factory=list)  # every run, in order

    @property
    def mb_per_s(self) -> float:
        return self.capture_mb / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def packets_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["mb_per_s"] = round(self.mb_per_s, 2)
        out["packets_per_s"] = round(self.packets_per_s)
        return out


def ensure_capture(
    size_mb: float, seed: int, syn_flood: int = 0, uploads: int = 0, lookups: int = 0
) -> tuple[Path, dict[str, Any]]:
    """The generated capture for this size and seed, made once and reused."""
    WORK.mkdir(parents=True, exist_ok=True)
    name = f"gencap-{size_mb:g}mb-s{seed}" + (f"-syn{syn_flood}" if syn_flood else "")
    name += f"-up{uploads}" if uploads else ""
    name += f"-dns{lookups}" if lookups else ""
    path = WORK / f"{name}.pcap"
    manifest = reusable_manifest(path, VERSION)
    if manifest is not None:
        return path, manifest
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    return path, generate(path, size_mb, seed, syn_flood, uploads, lookups)


def ensure_keyed(copies: int) -> tuple[Path, dict[str, Any]]:
    """The keyed TLS capture with this many copies, and its key log beside it."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"keyed-tls-x{copies}.pcap"
    manifest = reusable_manifest(path, keyed.VERSION)
    if manifest is not None and path.with_suffix(".keys").is_file():
        return path, manifest
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    return path, keyed.build(path, copies)


def reusable_manifest(path: Path, version: int) -> dict[str, Any] | None:
    """The manifest of a capture made before by the same generator version, if the
    capture is still whole; None when it must be made (again)."""
    manifest_path = path.with_suffix(".manifest.json")
    if not (path.is_file() and manifest_path.is_file()):
        return None
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    whole = manifest.get("bytes") == path.stat().st_size and manifest.get("version") == version
    return manifest if whole else None


def warm_page_cache(path: Path) -> None:
    """Read the capture once before any timed run: otherwise the first tool of the
    first round pays the disk for all the others (a 14 s round against 2.7 s seen)."""
    with path.open("rb", buffering=0) as stream:
        while stream.read(8 << 20):
            pass


def leaktrace_exe() -> str:
    here = Path(sys.executable).parent / "leaktrace"
    return str(here) if here.is_file() else (shutil.which("leaktrace") or "leaktrace")


def digest_findings(path: Path) -> tuple[Counter[str], str]:
    """Counts by type and an order-independent digest of the JSONL, read as a stream.

    The bench process must stay small: a child's peak RSS as the kernel reports
    it is never below the peak of the process that started it.
    """
    found: Counter[str] = Counter()
    total = 0
    if path.is_file():
        with path.open("rb") as stream:
            for line in stream:
                found[json.loads(line)["type"]] += 1
                digest = hashlib.sha256(line.rstrip(b"\n")).digest()[:8]
                total = (total + int.from_bytes(digest, "big")) % (1 << 64)
    return found, f"{sum(found.values())}:{total:016x}"


def merge_runs(runs: list[Row]) -> Row:
    """One row for several runs of one tool: the median wall and CPU time, the
    largest peak RSS, the first failed check (all runs must pass)."""
    first = runs[0]
    failed = [r.check for r in runs if r.check.startswith("FAIL")]
    return Row(
        tool=first.tool,
        capture_mb=first.capture_mb,
        frames=first.frames,
        wall_s=statistics.median(r.wall_s for r in runs),
        cpu_s=statistics.median(r.cpu_s for r in runs),
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        extrapolated=first.extrapolated,
        check=failed[0] if failed else first.check,
        found=first.found,
        note=first.note,
        walls=[round(r.wall_s, 3) for r in runs],
    )


def analyze_command(capture: Path, out: Path, jobs: int, keylog: Path | None = None) -> list[str]:
    """``leaktrace analyze`` with default options, findings as JSONL into ``out``."""
    command = [leaktrace_exe(), "analyze", str(capture), "--format", "jsonl"]
    command += ["--keylog", str(keylog)] if keylog is not None else []
    return [*command, "--out", str(out), "--quiet", "--jobs", str(jobs)]


def keylog_of(capture: Path, manifest: dict[str, Any]) -> Path | None:
    return capture.with_name(manifest["keylog"]) if manifest.get("keylog") else None


def run_leaktrace(capture: Path, manifest: dict[str, Any], jobs: int, out: Path) -> tuple[Row, str]:
    out.unlink(missing_ok=True)
    measured = run_measured([analyze_command(capture, out, jobs, keylog_of(capture, manifest))])
    found, digest = digest_findings(out)
    row = _row(f"leaktrace analyze --jobs {jobs}", manifest, measured)
    row.found = dict(found)
    row.check = check_planted(manifest["planted"], found, measured)
    return row, digest


def run_side_by_side(capture: Path, manifest: dict[str, Any], copies: int) -> tuple[Row, set[str]]:
    """``copies`` runs of ``--jobs 1`` on the capture, all at once: how much more work
    the machine does with that many processes busy, the ceiling for ``--jobs copies``
    (a shared VM's cores need not add up). Its figures count every copy's data."""
    outs = [WORK / f"{capture.stem}.side{i}.jsonl" for i in range(copies)]
    for out in outs:
        out.unlink(missing_ok=True)
    keylog = keylog_of(capture, manifest)
    measured = run_measured(
        [analyze_command(capture, out, 1, keylog) for out in outs], together=True
    )
    row = _row(f"leaktrace --jobs 1 x{copies} at once", manifest, measured)
    row.capture_mb *= copies
    row.frames *= copies
    digests = set()
    found: Counter[str] = Counter()
    for out in outs:
        found, digest = digest_findings(out)
        digests.add(digest)
    row.found = dict(found)
    row.check = check_planted(manifest["planted"], found, measured)
    return row, digests


def check_planted(planted: dict[str, int], found: Counter[str], measured: Measured) -> str:
    """PASS when every planted identifier was found (and nothing of those types twice)."""
    if not measured.ok:
        return f"FAIL: exit {measured.returncodes} {measured.stderr.strip()[-200:]}"
    wrong = [f"{k} {found.get(k, 0)}/{n}" for k, n in sorted(planted.items()) if found.get(k) != n]
    return "FAIL: " + ", ".join(wrong) if wrong else "PASS"


def run_tshark(capture: Path, manifest: dict[str, Any], dns: bool = False) -> Row:
    """tshark's HTTP request fields, or with ``dns`` the names queried, into the regex scan.
    With a key log in the manifest, tshark decrypts with it and also gives the HTTP/2
    header values and the JSON string values of the bodies."""
    tshark = shutil.which("tshark")
    assert tshark is not None
    keylog = keylog_of(capture, manifest)
    options: list[str] = []
    if dns:
        tool, shown, lines = "tshark -T fields dns | regex", "dns.flags.response == 0", "queries"
        fields = ["-e", "dns.qry.name"]
    elif keylog is not None:
        tool, shown, lines = (
            "tshark keylog -T fields | regex",
            "http.request || http2 || json",
            "lines",
        )
        fields = ["-e", "http.host", "-e", "http.request.uri", "-e", "http.file_data"]
        fields += ["-e", "http2.header.value", "-e", "json.value.string"]
        options = ["-o", f"tls.keylog_file:{keylog}"]
    else:
        tool, shown, lines = "tshark -T fields | regex", "http.request", "requests"
        fields = ["-e", "http.host", "-e", "http.request.uri", "-e", "http.file_data"]
    extract = [tshark, "-r", str(capture), *options, "-Y", shown, "-T", "fields", *fields]
    scan = [sys.executable, "-m", "bench.regex_scan"]
    out = capture.with_suffix(".tshark.json")  # beside the capture, in bench/work for a run
    measured = run_measured([extract, scan], stdout=out, cwd=ROOT)
    row = _row(tool, manifest, measured)
    if measured.ok:
        report = json.loads(out.read_text())
        row.found = report["matches"]
        row.note = f"{report['lines']} {lines}, {report['patterns']} regexes"
    else:
        row.check = f"FAIL: exit {measured.returncodes}"
    return row


def run_scapy(capture: Path, manifest: dict[str, Any], limit_mb: float) -> Row:
    command = [sys.executable, "-m", "bench.scapy_peer", str(capture), "--limit-mb", str(limit_mb)]
    out = capture.with_suffix(".scapy.json")
    measured = run_measured([command], stdout=out, cwd=ROOT)
    if not measured.ok:
        row = _row("scapy PcapReader + dissect", manifest, measured)
        row.check = f"FAIL: exit {measured.returncodes}"
        return row
    report = json.loads(out.read_text())
    scale = manifest["bytes"] / report["bytes"]  # the whole file at the slice's rate
    return Row(
        tool="scapy PcapReader + dissect",
        capture_mb=manifest["bytes"] / 1e6,
        frames=manifest["frames"],
        wall_s=report["seconds"] * scale,
        cpu_s=report["seconds"] * scale,
        peak_rss_mb=measured.peak_rss_mb,
        extrapolated=True,
        found={k: round(v * scale) for k, v in report["matches"].items()},
        note=f"measured on the first {report['bytes'] / 1e6:.0f} MB "
        f"({report['packets']} packets) in {report['seconds']:.1f} s",
    )


BARE_TOOL = "bare Python reader (slices)"


def run_bare(capture: Path, manifest: dict[str, Any]) -> Row:
    """The floor for any analysis in Python (bench/bare_reader.py): the whole file
    read and every payload sliced, nothing else. Not a peer but a reference: the
    ratio says what share of that speed leaktrace keeps while doing the work."""
    command = [sys.executable, "-m", "bench.bare_reader", str(capture)]
    out = capture.with_suffix(".bare.json")
    measured = run_measured([command], stdout=out, cwd=ROOT)
    row = _row(BARE_TOOL, manifest, measured)
    if measured.ok:
        report = json.loads(out.read_text())
        row.note = f"{report['payload'] / 1e6:.0f} MB of payload sliced"
        if report["frames"] != manifest["frames"]:
            row.check = f"FAIL: read {report['frames']} of {manifest['frames']} frames"
    else:
        row.check = f"FAIL: exit {measured.returncodes}"
    return row


def tenfold_bound(rows: list[Row]) -> dict[str, float] | None:
    """Ten times the tshark peer's speed, and that as a multiple of the bare reader's:
    above 1, the issue's target asks for more than reading the file in Python costs."""
    tshark = next((r for r in rows if r.tool.startswith("tshark") and r.mb_per_s > 0), None)
    bare = next((r for r in rows if r.tool == BARE_TOOL and r.mb_per_s > 0), None)
    if tshark is None or bare is None:
        return None
    target = 10 * tshark.mb_per_s
    return {"mb_per_s": round(target, 1), "of_bare_reader": round(target / bare.mb_per_s, 2)}


def _row(tool: str, manifest: dict[str, Any], measured: Measured) -> Row:
    return Row(
        tool=tool,
        capture_mb=manifest["bytes"] / 1e6,
        frames=manifest["frames"],
        wall_s=measured.wall_s,
        cpu_s=measured.cpu_s,
        peak_rss_mb=measured.peak_rss_mb,
    )


def table(rows: list[Row], baseline: Row | None) -> str:
    head = f"{'tool':<30} {'MB/s':>8} {'pkts/s':>10} {'wall s':>8} {'CPU s':>7} {'RSS MB':>7}"
    head += f" {'ratio':>7}  check"
    lines = [head, "-" * len(head)]
    for row in rows:
        ratio = ""
        peer = not row.tool.startswith("leaktrace")
        if baseline is not None and peer and row.mb_per_s > 0:
            ratio = f"{baseline.mb_per_s / row.mb_per_s:6.1f}x"
        mark = "*" if row.extrapolated else " "
        lines.append(
            f"{row.tool:<30} {row.mb_per_s:>7.1f}{mark} {row.packets_per_s:>10.0f} "
            f"{row.wall_s:>8.1f} {row.cpu_s:>7.1f} {row.peak_rss_mb:>7.0f} {ratio:>7}  "
            f"{row.check}"
        )
    lines.append(
        f"ratio: {baseline.tool if baseline else 'leaktrace'} MB/s / the peer's; "
        "* extrapolated from a slice; CPU s and RSS: a pipeline's processes added "
        "(RSS: the largest process otherwise)"
    )
    return "\n".join(lines)


def cpu_ratios(rows: list[Row], baseline: Row) -> dict[str, float]:
    """The work per CPU second against each peer: wall time flatters a peer that is a
    pipeline of processes (tshark and the scan of its output run on two cores at once)."""
    if baseline.cpu_s <= 0:
        return {}
    return {
        row.tool: round(row.cpu_s / baseline.cpu_s, 2)
        for row in rows
        if not row.tool.startswith("leaktrace")
        and row.tool != BARE_TOOL  # one process, no pipeline: its wall ratio says it all
        and not row.extrapolated
        and row.cpu_s > 0
    }


def bench_capture(
    size_mb: float,
    seed: int,
    jobs: list[int],
    args: argparse.Namespace,
    syn_flood: int = 0,
    peers: bool = True,
    repeat: int = 1,
    uploads: int = 0,
    lookups: int = 0,
    keyed_copies: int = 0,
) -> dict[str, Any]:
    if keyed_copies:
        capture, manifest = ensure_keyed(keyed_copies)
    else:
        capture, manifest = ensure_capture(size_mb, seed, syn_flood, uploads, lookups)
    warm_page_cache(capture)
    use_tshark = peers and not args.skip_tshark and shutil.which("tshark") is not None
    if peers and not args.skip_tshark and not use_tshark:
        print("tshark not installed: skipped (make tools)", file=sys.stderr)
    runs: dict[str, list[Row]] = {}
    digests: dict[int, set[str]] = {n: set() for n in jobs}
    copies = max(jobs) if max(jobs) > 1 and 1 in jobs else 0
    side_runs: list[Row] = []
    side_digests: set[str] = set()
    for round_no in range(1, repeat + 1):
        for n in jobs:
            print(
                f"[{round_no}/{repeat}] leaktrace --jobs {n} on {capture.name} ...",
                file=sys.stderr,
                flush=True,
            )
            row, digest = run_leaktrace(capture, manifest, n, WORK / f"{capture.stem}.j{n}.jsonl")
            runs.setdefault(row.tool, []).append(row)
            digests[n].add(digest)
        if copies:
            print(
                f"[{round_no}/{repeat}] {copies} x leaktrace --jobs 1 at once ...",
                file=sys.stderr,
                flush=True,
            )
            side, found_digests = run_side_by_side(capture, manifest, copies)
            side_runs.append(side)
            side_digests |= found_digests
        if use_tshark:
            print(f"[{round_no}/{repeat}] tshark peer ...", file=sys.stderr, flush=True)
            row = run_tshark(capture, manifest, dns=bool(lookups))
            runs.setdefault(row.tool, []).append(row)
        if peers and not args.skip_bare:
            print(f"[{round_no}/{repeat}] bare Python reader ...", file=sys.stderr, flush=True)
            row = run_bare(capture, manifest)
            runs.setdefault(row.tool, []).append(row)
    rows = [merge_runs(r) for r in runs.values()]
    base = jobs[0]
    for i, n in enumerate(jobs):
        if rows[i].check != "PASS":
            continue
        if len(digests[n]) > 1:
            rows[i].check = "FAIL: findings differ between rounds"
        elif digests[n] != digests[base]:
            rows[i].check = f"FAIL: findings differ from --jobs {base}"
    side = merge_runs(side_runs) if side_runs else None
    if side is not None and side.check == "PASS" and side_digests != digests[1]:
        side.check = "FAIL: findings differ from --jobs 1"
    if peers and not args.skip_scapy and not lookups and not keyed_copies:  # plain HTTP only
        print("scapy peer (slice) ...", file=sys.stderr, flush=True)
        rows.append(run_scapy(capture, manifest, args.scapy_mb))
    print(
        f"\n{capture.name}: {manifest['bytes'] / 1e6:.0f} MB, {manifest['frames']} frames, "
        f"{manifest['flows']} flows, planted {manifest['planted']}"
        + (f", {syn_flood} one-packet flows" if syn_flood else "")
        + (f", {uploads} uploads that never finish" if uploads else "")
        + (f", {lookups} DNS lookups" if lookups else "")
        + (f", TLS opened with the key log {manifest['keylog']}" if keyed_copies else "")
    )
    shown = rows[: len(jobs)] + ([side] if side is not None else []) + rows[len(jobs) :]
    print(table(shown, rows[0]))
    if repeat > 1:
        spread = "; ".join(
            f"{r.tool}: " + "/".join(f"{w:.2f}" for w in r.walls) for r in shown if r.walls
        )
        print(f"wall s of each round (the table shows the median): {spread}")
    by_jobs = {r.tool: r.mb_per_s for r in rows if r.tool.startswith("leaktrace")}
    speedups = {}
    if len(jobs) > 1 and rows[0].wall_s > 0:
        for n, row in zip(jobs, rows, strict=False):
            speedups[str(n)] = round(rows[0].wall_s / row.wall_s, 2)
        print(f"speed-up over --jobs {base}: {speedups}")
    ceiling = None
    if side is not None and side.wall_s > 0 and rows[0].tool.endswith("--jobs 1"):
        ceiling = round(side.mb_per_s / rows[0].mb_per_s, 2)
        print(
            f"{copies} runs of --jobs 1 at once did {ceiling}x the work of one in the same "
            f"time: this machine's ceiling for --jobs {copies}"
        )
        if ceiling > copies:
            print(
                f"  (over {copies}x: the single --jobs 1 run met a slower spell of the machine "
                f"than the others in {repeat} round(s); more rounds (--repeat, --scale-repeat) "
                "even that out)"
            )
    ratios = {
        peer.tool: {lt.tool: round(lt.mb_per_s / peer.mb_per_s, 2) for lt in rows[: len(jobs)]}
        for peer in rows[len(jobs) :]
        if peer.mb_per_s > 0
    }
    for peer, by_tool in ratios.items():
        print(f"leaktrace / {peer}: " + ", ".join(f"{t}: {r}x" for t, r in by_tool.items()))
    per_cpu = cpu_ratios(rows[len(jobs) :], rows[0])
    for peer in rows[len(jobs) :]:
        if peer.tool in per_cpu:
            print(
                f"per CPU second, {rows[0].tool} / {peer.tool}: {per_cpu[peer.tool]}x "
                f"({rows[0].cpu_s:.1f} against {peer.cpu_s:.1f} CPU s)"
            )
    bound = tenfold_bound(rows)
    if bound is not None:
        print(
            f"10x the tshark peer would be {bound['mb_per_s']} MB/s: "
            f"{bound['of_bare_reader']}x the speed of the bare Python reader"
        )
    return {
        "capture": capture.name,
        "manifest": manifest,
        "rows": [r.record() for r in shown],
        "mb_per_s": by_jobs,
        "speedup": speedups,
        "side_by_side": {"copies": copies, "speedup": ceiling} if side is not None else None,
        "ratio_vs_peers": ratios,
        "cpu_ratio_vs_peers": per_cpu,
        "tenfold_tshark": bound,
    }


def parse_jobs(text: str) -> list[int]:
    values = list(dict.fromkeys(int(x) for x in text.split(",") if x.strip()))
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("--jobs takes a list of counts such as 1,2")
    return values


def compile_sources() -> None:
    """Write leaktrace's bytecode, as an ordinary install does, so each timed run
    reads it instead of compiling every module from source: an editable install
    under ``PYTHONDONTWRITEBYTECODE=1`` never writes it, and that costs 0.1 s a run."""
    import compileall

    src = Path(__file__).resolve().parent.parent / "src"
    compileall.compile_dir(str(src), quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=parse_jobs, default=[1, 2], help="e.g. 1,2")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per tool, main capture (median shown)"
    )
    parser.add_argument("--skip-tshark", action="store_true")
    parser.add_argument("--skip-scapy", action="store_true")
    parser.add_argument(
        "--skip-bare", action="store_true", help="leave out the bare Python reader's row"
    )
    parser.add_argument("--scapy-mb", type=float, default=10.0, help="slice scapy reads")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also 1 GB, 5 GB, a SYN flood, unfinished uploads, DNS lookups and keyed HTTPS",
    )
    parser.add_argument(
        "--scale-repeat", type=int, default=1, help="timed runs per tool, 1 GB and 5 GB captures"
    )
    parser.add_argument(
        "--keyed",
        action="store_true",
        help="HTTPS opened with a key log (bench/keyed.py) instead of the main capture",
    )
    parser.add_argument(
        "--keyed-copies",
        type=int,
        default=KEYED_COPIES,
        help="copies of each of the six keyed flows (default %(default)s: 12,000 flows)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--proxy-load", action="store_true", help="run bench_proxy_load (60 s, 32 clients) instead"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.scale_repeat < 1:
        parser.error("--repeat and --scale-repeat must be at least 1")
    if not 1 <= args.keyed_copies <= keyed.MAX_COPIES:
        parser.error(f"--keyed-copies must be between 1 and {keyed.MAX_COPIES} ({keyed.WHY_MAX})")
    if args.proxy_load:
        from bench.bench_proxy_load import main as proxy_load

        return proxy_load(["--no-save"] if args.no_save else [])

    compile_sources()
    machine = machine_info()
    keyed_run = functools.partial(
        bench_capture,
        0,
        args.seed,
        args.jobs,
        args,
        repeat=args.repeat,
        keyed_copies=args.keyed_copies,
    )
    if args.keyed:
        runs = [keyed_run()]
    else:
        runs = [bench_capture(args.size_mb, args.seed, args.jobs, args, repeat=args.repeat)]
    if args.scale:
        for size in SCALE_SIZES_MB:
            runs.append(
                bench_capture(
                    size, args.seed, args.jobs, args, peers=False, repeat=args.scale_repeat
                )
            )
        flood = bench_capture(SYN_FLOOD_BASE_MB, args.seed, [1], args, SYN_FLOOD_FLOWS, False)
        runs.append(flood)
        runs.append(
            bench_capture(UPLOADS_BASE_MB, args.seed, [1], args, peers=False, uploads=UPLOADS)
        )
        runs.append(bench_capture(0, args.seed, [1], args, lookups=LOOKUPS, repeat=args.repeat))
        if not args.keyed:
            runs.append(keyed_run())
    machine["load_avg_1m_after"] = machine_info()["load_avg_1m"]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": (
            "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        ).strip(),
        "machine": machine,
        "runs": runs,
    }
    print(
        f"\nmachine: {machine['cpu']}, {machine['cores_usable']} cores, python "
        f"{machine['python']}, leaktrace {machine['leaktrace']} at {machine['commit']}, load "
        f"{machine['load_avg_1m']:.2f} before / {machine['load_avg_1m_after']:.2f} after"
    )
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = "keyed" if args.keyed else f"{args.size_mb:g}mb"
        path = RESULTS / f"{stamp}-{name}{'-scale' if args.scale else ''}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {path.relative_to(ROOT)}")
    failed = [r for run in runs for r in run["rows"] if str(r["check"]).startswith("FAIL")]
    return 1 if failed else 0
