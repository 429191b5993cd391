"""One capture on several cores: each worker analyzes the flows its partition owns.

Every worker reads the whole file (reading is the cheap part) but keeps only
the packets of flows whose 5-tuple hash falls in its partition, so a flow and
all its messages stay on one worker and the findings are those of a single
pass. DNS reaches every worker because its answers name the other workers'
flows. The calling process is the worker of partition 0; it then merges
findings in timestamp order and adds up summary and coverage. File-wide
records (damage, skipped ranges, frame count) come from partition 0 alone,
which reports them once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import multiprocessing as mp
import operator
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from leaktrace.analyze import (
    MAX_KEPT_DIAGNOSTICS,
    AnalysisResult,
    FindingCallback,
    LineSink,
    collect,
    line_writer,
)
from leaktrace.cores import MIN_PARALLEL_BYTES, default_jobs
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.sources.capture import CaptureSource, ProgressCallback
from leaktrace.summary import Destination, Summary
from leaktrace.tls.keylog import KeyLog
from leaktrace.types import Coverage, Diagnostic, Finding

__all__ = [
    "MIN_PARALLEL_BYTES",
    "PartitionResult",
    "analyze_parallel",
    "default_jobs",
    "merge_coverage",
    "merge_summaries",
    "run_partition",
]

# Findings a spill pickle holds: one pickle each cost a load call per finding (half
# the parent's time merging 6,547 findings), one pickle for all would hold them all
# in memory and make the unpickler remember every object in it.
SPILL_BATCH = 256


@dataclass(slots=True)
class PartitionResult:
    """What one worker sends back: everything ``AnalysisResult`` needs, for its flows."""

    index: int
    capture_bytes: int
    frames: int
    findings: list[Finding]
    summary: Summary
    coverage: Coverage
    diagnostics: list[Diagnostic]
    setup_diagnostics: tuple[Diagnostic, ...]
    damage: Diagnostic | None = None
    skipped: list[Diagnostic] = field(default_factory=list)
    spill: str | None = None  # findings were written here instead of kept in ``findings``


def run_partition(
    path: str,
    config: PipelineConfig,
    index: int,
    count: int,
    progress: ProgressCallback | None = None,
    spill: str | None = None,
    keylog: KeyLog | None = None,
    render: Callable[[Finding], str] | None = None,
) -> PartitionResult:
    """Analyze the flows of one partition; the unit of work of a worker process.

    With ``spill`` the findings go to that file as they are made (pickled in
    batches of ``SPILL_BATCH``) rather than back through the pool in one list,
    which would hold them all in memory twice; with ``render`` as well, each goes
    as its merge key and its line of text, formatted here. ``keylog`` is this
    worker's own copy of the TLS secrets: a TLS flow and the keys it needs stay
    together, and secrets in the file's pcapng blocks reach every worker, as each
    reads the whole file.
    """
    source = CaptureSource(path, partition=(index, count), progress=progress, keylog=keylog)
    pipeline = Pipeline(config)
    if spill is None:
        findings, diagnostics = collect(pipeline, source)
    else:
        with open(spill, "wb") as stream:
            batch: list[tuple[Any, ...]] = []
            fields_of = _spill_fields if render is None else _line_record(render)

            def write(finding: Finding) -> None:
                batch.append(fields_of(finding))
                if len(batch) >= SPILL_BATCH:
                    pickle.dump(batch, stream, protocol=pickle.HIGHEST_PROTOCOL)
                    batch.clear()

            findings, diagnostics = collect(pipeline, source, write, keep=False)
            if batch:
                pickle.dump(batch, stream, protocol=pickle.HIGHEST_PROTOCOL)
    return PartitionResult(
        index=index,
        capture_bytes=source.size,
        frames=source.frames,
        findings=findings,
        summary=pipeline.summary,
        coverage=source.coverage,
        diagnostics=diagnostics,
        setup_diagnostics=pipeline.setup_diagnostics,
        damage=source.damage,
        skipped=list(source.anomalies),
        spill=spill,
    )


# Handed to forked workers by inheritance rather than by pickling per task.
_shared: dict[str, Any] = {}
_fork_lock = threading.Lock()


def _worker(index: int, count: int, progress: ProgressCallback | None = None) -> PartitionResult:
    spill_dir = _shared.get("spill_dir")
    spill = os.path.join(spill_dir, f"part-{index}.pickle") if spill_dir else None
    return run_partition(
        _shared["path"],
        _shared["config"],
        index,
        count,
        progress,
        spill,
        _shared["keylog"],
        _shared["render"],
    )


def analyze_parallel(
    path: str | os.PathLike[str],
    config: PipelineConfig,
    jobs: int,
    *,
    on_finding: FindingCallback | None = None,
    progress: ProgressCallback | None = None,
    keep_findings: bool = True,
    keylog: KeyLog | None = None,
    lines: LineSink | None = None,
) -> AnalysisResult:
    """Analyze one pcap/pcapng with ``jobs`` worker processes; the result equals a single pass.

    Findings reach ``on_finding`` (or ``lines``) after all workers finish, in
    timestamp order. With ``keep_findings=False`` the workers write them to
    temporary files that are streamed to ``on_finding`` (merged by time, each
    worker's in the order it made them), or their lines, rendered by the
    workers, to ``lines``; the result's ``findings`` stays empty: memory does
    not grow with the number of findings.
    Raises ``CaptureError`` (before any worker starts) when the file cannot be read.
    """
    if lines is not None and on_finding is not None:
        raise ValueError("give on_finding or lines, not both")
    probe = CaptureSource(path)  # fails early, in this process, on an unreadable file
    size = probe.size
    spill: contextlib.AbstractContextManager[str | None] = (
        contextlib.nullcontext() if keep_findings else tempfile.TemporaryDirectory()
    )
    render = lines.render if lines is not None and not keep_findings else None
    with spill as spill_dir:
        parts = _run_workers(str(path), config, jobs, progress, spill_dir, keylog, render)
        if progress is not None:
            progress(size, size)
        result = merge_partitions(str(path), parts)
        if lines is not None and render is not None:
            write_line = lines.write_line
            for line in _spilled_lines(parts):
                write_line(line)
        else:
            callback = line_writer(lines) if lines is not None else on_finding
            if callback is not None:
                for finding in result.findings if keep_findings else _spilled(parts):
                    callback(finding)
    return result


def _run_workers(
    path: str,
    config: PipelineConfig,
    jobs: int,
    progress: ProgressCallback | None,
    spill_dir: str | None,
    keylog: KeyLog | None,
    render: Callable[[Finding], str] | None = None,
) -> list[PartitionResult]:
    """Partition 0 runs in this process, the others in forked workers.

    This process would only wait otherwise; working itself spares a process
    start and sending its share of the results back through a pipe, and its
    progress reaches ``progress`` directly (the others read the same file).
    """
    ctx = mp.get_context("fork")
    with _fork_lock:
        _shared.update(path=path, config=config, spill_dir=spill_dir, keylog=keylog, render=render)
        try:
            with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=ctx) as pool:
                futures = [pool.submit(_worker, i, jobs) for i in range(1, jobs)]
                try:
                    mine = _worker(0, jobs, progress)
                except BaseException:
                    # Workers already running cannot be cancelled; they are waited for,
                    # since they write into the spill directory the caller removes next.
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                return [mine, *(f.result() for f in futures)]
        finally:
            _shared.clear()


def _spilled(parts: Sequence[PartitionResult]) -> Iterator[Finding]:
    """The workers' spill files merged by time, read one batch at a time."""
    streams = [_read_spill(Path(p.spill)) for p in parts if p.spill is not None]
    yield from heapq.merge(*streams, key=_merge_key)


_merge_key = operator.attrgetter("ts", "flow", "trans_depth")


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))

# A finding as the tuple of its fields, in constructor order: unpickled and rebuilt
# through the constructor several times faster than a slotted dataclass's own state.
_spill_fields: Callable[[Finding], tuple[Any, ...]] = operator.attrgetter(*_FINDING_FIELDS)


def _read_spill(path: Path) -> Iterator[Finding]:
    for batch in _spill_batches(path):
        yield from itertools.starmap(Finding, batch)


def _spill_batches(path: Path) -> Iterator[list[tuple[Any, ...]]]:
    # Written by this run's own workers into a private temporary directory.
    with path.open("rb") as stream:
        while True:
            try:
                yield pickle.load(stream)
            except EOFError:
                return


def _line_record(render: Callable[[Finding], str]) -> Callable[[Finding], tuple[Any, ...]]:
    """A finding as its merge key and its rendered line: all the merge needs of it."""

    def record(finding: Finding) -> tuple[Any, ...]:
        return (finding.ts, finding.flow, finding.trans_depth, render(finding))

    return record


def _spilled_lines(parts: Sequence[PartitionResult]) -> Iterator[str]:
    """The workers' rendered lines merged by time, as ``_spilled`` merges findings."""
    streams = [
        itertools.chain.from_iterable(_spill_batches(Path(p.spill)))
        for p in parts
        if p.spill is not None
    ]
    for record in heapq.merge(*streams, key=_line_key):
        yield record[3]


_line_key = operator.itemgetter(0, 1, 2)


def merge_partitions(capture: str, parts: Sequence[PartitionResult]) -> AnalysisResult:
    """One ``AnalysisResult`` from the partitions of a capture, as a single pass would give."""
    parts = sorted(parts, key=lambda p: p.index)
    first = parts[0]
    findings = sorted(
        (f for p in parts for f in p.findings), key=lambda f: (f.ts, f.flow, f.trans_depth)
    )
    diagnostics = list(first.setup_diagnostics)
    for part in parts:
        for diag in part.diagnostics:
            if len(diagnostics) >= MAX_KEPT_DIAGNOSTICS:
                break
            diagnostics.append(diag)
    summary = merge_summaries([p.summary for p in parts])
    for diag in first.setup_diagnostics:  # every worker counted the setup problems once
        summary.diagnostics[diag.name] -= len(parts) - 1
    return AnalysisResult(
        capture=capture,
        capture_bytes=first.capture_bytes,
        frames=first.frames,
        findings=findings,
        summary=summary,
        coverage=merge_coverage([p.coverage for p in parts]),
        diagnostics=diagnostics,
        damage=first.damage,
        skipped=list(first.skipped),
    )


def merge_summaries(summaries: Sequence[Summary]) -> Summary:
    """Add up per-worker summaries; a destination seen by several keeps its earliest time."""
    out = Summary()
    for part in summaries:
        out.findings += part.findings
        out.messages += part.messages
        out.types.update(part.types)
        out.diagnostics.update(part.diagnostics)
        for key, dest in part.destinations.items():
            mine = out.destinations.get(key)
            if mine is None:
                mine = Destination(
                    dest.host, dest.party, dest.sdk, dest.basis, first_ts=dest.first_ts
                )
                out.destinations[key] = mine
            mine.absorb(dest)
    return out


def merge_coverage(parts: Sequence[Coverage]) -> Coverage:
    out = Coverage()
    for cov in parts:
        out.flows += cov.flows
        out.flows_decoded += cov.flows_decoded
        out.flows_opaque += cov.flows_opaque
        out.bytes_outbound += cov.bytes_outbound
        out.bytes_decoded += cov.bytes_decoded
        out.bytes_opaque += cov.bytes_opaque
        for reason, n in cov.opaque_reasons.items():
            out.opaque_reasons[reason] = out.opaque_reasons.get(reason, 0) + n
    return out
