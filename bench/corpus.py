"""Corpus mode at lab scale: many small captures, local process pool versus a Dask cluster.

    python -m bench.corpus                     # 200 captures of 1 MB, 2 workers
    python -m bench.corpus --captures 50 --size-mb 2 --jobs 2

Generates the captures once (gencap, one seed each) in ``bench/work/``,
spread over 20 apps, each app's directory with an ``app.yaml`` (some declare
an SDK, most declare nothing they share, as the findings of regulators
suggest). Then, each into a fresh store: ``leaktrace corpus`` with the local
engine, with ``--engine dask`` (a LocalCluster of the same number of worker
processes), a resumed run (everything skipped), and ``leaktrace query`` for
the SDKs that received IMEIs across apps. Wall time includes starting the
workers or the cluster.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.gencap import VERSION, generate
from bench.machine import machine_info
from bench.measure import run_measured
from bench.run import RESULTS, WORK, compile_sources, leaktrace_exe

APPS = 20
QUERY = (
    "SELECT sdk, count(DISTINCT app) AS apps, count(*) AS findings FROM findings "
    "WHERE type = 'imei' AND party = 'third' GROUP BY sdk ORDER BY apps DESC, findings DESC"
)
_ROWS_LINE = re.compile(r"(\d+) rows in ([0-9.]+) ms")


def app_yaml(n: int) -> str:
    shares = ""
    if n % 4 == 0:  # a quarter of the apps declare one SDK for IMEIs
        shares = "shares:\n- party: umeng\n  company: Umeng\n  types: [imei]\n"
    return (
        f"app: {{id: com.example.app{n:02d}, name: App {n:02d}}}\n"
        "first_party: [shop.example.com]\n"
        "collects:\n- type: phone\n  purpose: login\n" + shares
    )


def ensure_corpus(count: int, size_mb: float) -> tuple[Path, int]:
    folder = WORK / f"corpus-{count}x{size_mb:g}mb"
    stamp = folder / "done.json"
    if stamp.is_file():
        done = json.loads(stamp.read_text())
        if done.get("version") == VERSION:
            return folder, int(done["bytes"])
    if folder.exists():
        shutil.rmtree(folder)
    total = 0
    for i in range(count):
        app_dir = folder / f"app{i % APPS:02d}"
        if not app_dir.is_dir():
            app_dir.mkdir(parents=True)
            (app_dir / "app.yaml").write_text(app_yaml(i % APPS))
        manifest = generate(app_dir / f"session{i:04d}.pcap", size_mb, seed=1000 + i)
        (app_dir / f"session{i:04d}.manifest.json").unlink()
        total += int(manifest["bytes"])  # type: ignore[call-overload]
    stamp.write_text(json.dumps({"captures": count, "bytes": total, "version": VERSION}))
    return folder, total


def corpus_run(folder: Path, store: Path, engine: str, jobs: int) -> dict[str, Any]:
    command = [leaktrace_exe(), "corpus", str(folder), "--out", str(store), "--quiet"]
    command += ["--engine", engine, "--jobs", str(jobs)]
    measured = run_measured([command])
    last = measured.stderr.strip().splitlines()[-1] if measured.stderr.strip() else ""
    return {
        "command": " ".join(["leaktrace", *command[1:]]),
        "wall_s": round(measured.wall_s, 2),
        "cpu_s": round(measured.cpu_s, 2),
        "peak_rss_mb": round(measured.peak_rss_mb),
        "ok": measured.ok,
        "summary": last,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__)
    parser.add_argument("--captures", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    compile_sources()
    machine = machine_info()
    folder, total = ensure_corpus(args.captures, args.size_mb)
    runs: dict[str, Any] = {}
    for engine in ("local", "dask"):
        store = WORK / f"store-{engine}"
        shutil.rmtree(store, ignore_errors=True)
        print(f"corpus --engine {engine} ...", file=sys.stderr, flush=True)
        runs[engine] = corpus_run(folder, store, engine, args.jobs)
        runs[engine]["mb_per_s"] = round(total / 1e6 / runs[engine]["wall_s"], 1)
        runs[engine]["captures_per_s"] = round(args.captures / runs[engine]["wall_s"], 1)
    runs["resume"] = corpus_run(folder, WORK / "store-local", "local", args.jobs)
    query = run_measured(
        [[leaktrace_exe(), "query", str(WORK / "store-local"), QUERY, "--format", "csv"]]
    )
    found = _ROWS_LINE.search(query.stderr)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": ("python -m bench.corpus " + " ".join(argv or sys.argv[1:])).strip(),
        "machine": machine,
        "captures": args.captures,
        "bytes": total,
        "jobs": args.jobs,
        "runs": runs,
        "query": {
            "sql": QUERY,
            "rows": int(found.group(1)) if found else None,
            "duckdb_ms": float(found.group(2)) if found else None,
            "command_wall_s": round(query.wall_s, 2),
        },
    }
    print(f"\n{args.captures} captures, {total / 1e6:.0f} MB, {args.jobs} workers")
    print(f"{'run':<8} {'wall s':>7} {'MB/s':>7} {'capt/s':>7} {'RSS MB':>7}  summary")
    for name, run in runs.items():
        rate = f"{run.get('mb_per_s', 0):>7.1f} {run.get('captures_per_s', 0):>7.1f}"
        if name == "resume":
            rate = f"{'-':>7} {'-':>7}"
        print(f"{name:<8} {run['wall_s']:>7.1f} {rate} {run['peak_rss_mb']:>7}  {run['summary']}")
    q = result["query"]
    print(
        f"query: {q['rows']} rows, DuckDB {q['duckdb_ms']} ms "
        f"({q['command_wall_s']} s for the whole command)"
    )
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = RESULTS / f"{stamp}-corpus-{args.captures}x{args.size_mb:g}mb.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {path.relative_to(RESULTS.parent.parent)}")
    return 0 if all(r["ok"] for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
