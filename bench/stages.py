"""Where one capture's time goes, stage by stage, in one process.

``python -m bench`` times whole runs against peers; this splits one run along
the pipeline (sources → messages → decoders → detectors → attribution) so a
change can be aimed at the stage that costs the most:

* ``source``: reading, the native record walk, flows, reassembly and the
  protocol readers, up to the messages (all of them are kept: mind the
  memory on a capture of many GB);
* ``decode``: ``extract_fields`` on every message;
* ``detect``: the detectors on every message's fields;
* ``attribute``: the attributor on every message;
* ``findings``: the rest of ``Pipeline.process`` (findings, masking, the
  summary).

The last four are one pass through ``Pipeline.process``, caches cold as in a
real run, with a timer around each of the three calls it makes.
Start-up (imports, signatures, building the scanner) is reported apart.
The counts let the stages be checked against ``leaktrace analyze``: the
findings equal its findings, the messages its summary's.

    python -m bench.stages CAPTURE.pcap [--signatures DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")


@dataclass(slots=True)
class Stage:
    name: str
    seconds: float
    items: int  # what the stage went through: messages, or fields for ``detect``
    unit: str


@dataclass(slots=True)
class Split:
    capture: str
    capture_bytes: int
    startup_s: float
    frames: int
    messages: int
    fields: int
    findings: int
    stages: list[Stage]

    @property
    def total_s(self) -> float:
        return sum(stage.seconds for stage in self.stages)


def _timed(work: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def split(capture: Path, signature_dirs: list[Path] | None = None) -> Split:
    """Run ``capture`` through the pipeline one stage at a time."""
    start = time.perf_counter()
    from leaktrace import pipeline as pipeline_module
    from leaktrace.collector import fewer_collections
    from leaktrace.decoders import DecodeLimits, extract_fields
    from leaktrace.pipeline import Pipeline, PipelineConfig
    from leaktrace.sources.capture import CaptureSource
    from leaktrace.types import Diagnostic, Field, Finding, Message

    config = PipelineConfig.load(signature_dirs=signature_dirs)
    pipeline = Pipeline(config)
    startup = time.perf_counter() - start

    spent = {"decode": 0.0, "detect": 0.0, "attribute": 0.0}
    field_count = 0

    def timer(name: str, work: Callable[..., _T]) -> Callable[..., _T]:
        def timed(*args: object) -> _T:
            begin = time.perf_counter()
            try:
                return work(*args)
            finally:
                spent[name] += time.perf_counter() - begin

        return timed

    # The name ``Pipeline.process`` calls, swapped for a timed one during the pass.
    names = vars(pipeline_module)
    original = names["extract_fields"]
    decode = timer("decode", extract_fields)  # the same function, typed

    def counted(msg: Message, limits: DecodeLimits) -> tuple[list[Field], list[Diagnostic]]:
        nonlocal field_count
        result = decode(msg, limits)
        field_count += len(result[0])
        return result

    with fewer_collections():
        source = CaptureSource(capture)
        items, source_s = _timed(lambda: list(source))
        messages = [item for item in items if isinstance(item, Message)]
        pipeline.detectors.run = timer("detect", pipeline.detectors.run)  # type: ignore[method-assign]
        pipeline.attributor.attribute = timer("attribute", pipeline.attributor.attribute)  # type: ignore[method-assign]
        names["extract_fields"] = counted
        try:
            out, process_s = _timed(lambda: [x for m in messages for x in pipeline.process(m)])
        finally:
            names["extract_fields"] = original
    findings = sum(1 for x in out if isinstance(x, Finding))
    findings_s = max(process_s - sum(spent.values()), 0.0)
    return Split(
        capture=str(capture),
        capture_bytes=source.size,
        startup_s=startup,
        frames=source.frames,
        messages=len(messages),
        fields=field_count,
        findings=findings,
        stages=[
            Stage("source", source_s, len(messages), "message"),
            Stage("decode", spent["decode"], len(messages), "message"),
            Stage("detect", spent["detect"], field_count, "field"),
            Stage("attribute", spent["attribute"], len(messages), "message"),
            Stage("findings", findings_s, len(messages), "message"),
        ],
    )


def render(result: Split) -> str:
    total = result.total_s or 1e-9
    lines = [
        f"{result.capture}: {result.capture_bytes / 1e6:.0f} MB, {result.frames} frames, "
        f"{result.messages} messages, {result.fields} fields, {result.findings} findings",
        f"{'stage':<10} {'s':>7} {'share':>6} {'us each':>8}  per",
    ]
    for stage in result.stages:
        each = stage.seconds / stage.items * 1e6 if stage.items else 0.0
        lines.append(
            f"{stage.name:<10} {stage.seconds:7.3f} {stage.seconds / total:6.1%} "
            f"{each:8.1f}  {stage.unit}"
        )
    rate = result.capture_bytes / 1e6 / total
    lines.append(f"{'stages':<10} {result.total_s:7.3f} {'':>6} {'':>8}  ({rate:.1f} MB/s)")
    lines.append(f"start-up {result.startup_s:.3f} s (imports, signatures, scanner), not above")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("capture", type=Path)
    parser.add_argument("--signatures", type=Path, action="append", help="extra signature dir")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    if not args.capture.is_file():
        parser.error(f"{args.capture}: no such file")
    result = split(args.capture, args.signatures)
    if args.json:
        print(json.dumps({**asdict(result), "total_s": result.total_s}))
    else:
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
