"""Native engine against the tshark engine on the committed captures: same findings, and times.

    python bench/bench_engines.py                  # every committed capture, 3 rounds each
    python bench/bench_engines.py --rounds 5 CAPTURE.pcap [--keylog FILE]

Each engine's time covers reading the file and turning it into findings with
one shared, already compiled pipeline, so signature compilation (paid once
per run by either engine) is left out. A capture's ``<name>.keys`` beside it
is used as its key log. The best of the rounds is reported, per capture and
in total, with whether both engines found the same (type, host, flow) set.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from leaktrace.engines.tshark import TsharkSource
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.profile import load_device
from leaktrace.sources.capture import CaptureSource
from leaktrace.tls.keylog import KeyLog, load_keylog
from leaktrace.types import Finding, Message

ROOT = Path(__file__).resolve().parent.parent


def committed() -> list[Path]:
    data = ROOT / "tests" / "data"
    found = [*data.glob("*.pcap"), *data.glob("*.pcapng"), *(data / "tls").glob("*.pcap*")]
    return [*sorted(found), ROOT / "captures" / "demo.pcap"]


def run(source: CaptureSource | TsharkSource, pipe: Pipeline) -> set[tuple[str, str | None, str]]:
    found: set[tuple[str, str | None, str]] = set()
    for item in source:
        if isinstance(item, Message):
            for out in pipe.process(item):
                if isinstance(out, Finding):
                    found.add((out.type, out.host, out.flow))
    return found


def best_time(
    make: Callable[[], CaptureSource | TsharkSource], pipe: Pipeline, rounds: int
) -> tuple[float, set[tuple[str, str | None, str]]]:
    best: float = float("inf")
    found: set[tuple[str, str | None, str]] = set()
    for _ in range(rounds):
        started = time.perf_counter()
        found = run(make(), pipe)
        best = min(best, time.perf_counter() - started)
    return best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("captures", nargs="*", type=Path)
    parser.add_argument("--keylog", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    captures: list[Path] = args.captures or committed()
    plain = Pipeline(PipelineConfig.load())
    with_device = Pipeline(
        PipelineConfig.load(device=load_device(ROOT / "captures" / "device.yaml"))
    )
    totals = {"native": 0.0, "tshark": 0.0}
    same_everywhere = True
    print(f"{'capture':34} {'native ms':>10} {'tshark ms':>10} {'ratio':>7}  findings")
    for capture in captures:
        keys = args.keylog or capture.with_suffix(".keys")
        keylog: KeyLog | None = load_keylog([keys]) if keys.exists() else None
        pipe = with_device if capture.parent.name == "captures" else plain
        native, n_found = best_time(
            partial(CaptureSource, capture, keylog=keylog), pipe, args.rounds
        )
        tshark, t_found = best_time(
            partial(TsharkSource, capture, keylog=keylog), pipe, args.rounds
        )
        totals["native"] += native
        totals["tshark"] += tshark
        same = n_found == t_found
        same_everywhere &= same
        print(
            f"{capture.name:34} {native * 1e3:10.1f} {tshark * 1e3:10.1f} {tshark / native:6.1f}x"
            f"  {len(n_found)} {'same' if same else 'DIFFERENT'}"
        )
    ratio = totals["tshark"] / totals["native"]
    print(
        f"{'total':34} {totals['native'] * 1e3:10.1f} {totals['tshark'] * 1e3:10.1f} {ratio:6.1f}x"
        f"  {'same findings on every capture' if same_everywhere else 'FINDINGS DIFFER'}"
    )


if __name__ == "__main__":
    main()
