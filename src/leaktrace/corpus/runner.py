"""Analyze a corpus of captures, one self-contained task per capture, on a chosen engine.

The task (:func:`run_capture`) takes only plain, picklable arguments, reads
the capture and its sidecar files itself and writes its own results into the
store, so the same function runs unchanged in this process, on a local
process pool or on any Dask worker that sees the same file system. Engines
only schedule tasks, retry a task whose worker was lost, and pass outcomes
back for progress display.

A capture is keyed by the SHA-256 of its bytes: a resumed run skips what the
store already holds, and renaming or copying a capture does not analyze it
twice.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import multiprocessing as mp
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaktrace import __version__
from leaktrace.analyze import APP_SIDECAR, DEVICE_SIDECAR, open_source
from leaktrace.attribution import SdkMatcher
from leaktrace.collector import fewer_collections
from leaktrace.corpus import Engine
from leaktrace.corpus.store import DONE_STATUSES, CaptureRow, Store
from leaktrace.declaration import AppDeclaration, load_declaration
from leaktrace.detectors import DetectorSet
from leaktrace.parallel import default_jobs
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.policy.parties import share_declared
from leaktrace.profile import DeviceProfile, load_device
from leaktrace.signatures.loader import SignatureSet, load_signatures, with_user_dirs
from leaktrace.sources import mitmfile
from leaktrace.types import Finding

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "CAPTURE_SUFFIXES",
    "CaptureTask",
    "CorpusOptions",
    "CorpusRun",
    "Engine",
    "TaskOutcome",
    "find_captures",
    "run_capture",
    "run_corpus",
    "sha256_file",
]

CAPTURE_SUFFIXES = frozenset({".pcap", ".pcapng", ".cap", ".har", *mitmfile.SUFFIXES})
#: Analyses per capture inside one task: the first try and one retry.
ATTEMPTS = 2
#: Scheduling rounds per capture when the worker running it is lost.
SUBMISSIONS = 2
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class CorpusOptions:
    """What every task needs besides its capture; plain values, so it pickles anywhere.

    ``device``/``app`` apply to captures without their own ``device.yaml`` /
    ``app.yaml`` beside them (when ``sidecars`` is on, the sidecar wins: a lab
    keeps the right files with each session).
    """

    store: str
    device: str | None = None
    app: str | None = None
    signature_dirs: tuple[str, ...] = ()
    reveal: bool = False
    sidecars: bool = True


@dataclass(frozen=True, slots=True)
class CaptureTask:
    capture: str
    options: CorpusOptions


@dataclass(slots=True)
class TaskOutcome:
    row: CaptureRow
    skipped: bool = False  # already in the store from an earlier run


@dataclass(slots=True)
class CorpusRun:
    """What one ``run_corpus`` call did."""

    captures: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    findings: int = 0
    bytes_analyzed: int = 0
    seconds: float = 0.0
    failed: list[CaptureRow] = field(default_factory=list)

    def add(self, outcome: TaskOutcome) -> None:
        if outcome.skipped:
            self.skipped += 1
            return
        row = outcome.row
        self.statuses[row.status] += 1
        self.findings += row.findings
        self.bytes_analyzed += row.capture_bytes
        if row.status == "failed":
            self.failed.append(row)


# -- discovery ----------------------------------------------------------------


def find_captures(spec: str | os.PathLike[str]) -> list[Path]:
    """Captures named by a directory (searched recursively), a glob pattern or one file."""
    path = Path(spec)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.suffix.lower() in CAPTURE_SUFFIXES]
    elif path.is_file():
        found = [path]
    else:
        found = [Path(p) for p in glob.glob(str(spec), recursive=True)]
        found = [p for p in found if p.is_file()]
    return sorted(p for p in found if p.is_file())


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# -- the task -------------------------------------------------------------------


def run_capture(task: CaptureTask) -> TaskOutcome:
    """Analyze one capture into the store, unless the store already has it.

    Never raises for a bad capture or a bad sidecar file: those end as a
    ``failed`` manifest row with the error, after one retry.
    """
    started = time.perf_counter()
    store = Store(task.options.store)
    path = Path(task.capture)
    try:
        sha = sha256_file(path)
    except OSError as exc:
        row = _failed_row(_path_key(path), task, f"cannot read: {exc}", ATTEMPTS, started)
        store.write_capture(row)
        return TaskOutcome(row)
    existing = store.capture_row(sha)
    if existing is not None and existing.status in DONE_STATUSES:
        return TaskOutcome(existing, skipped=True)
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with fewer_collections():
                row = _analyze_into(store, sha, task, started)
        except Exception as exc:  # one capture's failure must not end the corpus run
            error = f"{type(exc).__name__}: {exc}"
            continue
        row.attempts = attempt
        store.write_capture(row)
        return TaskOutcome(row)
    row = _failed_row(sha, task, error, ATTEMPTS, started)
    store.write_capture(row)
    return TaskOutcome(row)


def _analyze_into(store: Store, sha: str, task: CaptureTask, started: float) -> CaptureRow:
    path = Path(task.capture)
    device_path, app_path = _sidecars(path, task.options)
    pipeline = _pipeline(task.options, device_path, app_path)
    app = pipeline.config.app
    source = open_source(path)
    findings: list[Finding] = []
    first_ts: float | None = None
    for item in pipeline.run(source):
        if isinstance(item, Finding):
            findings.append(item)
            first_ts = item.ts if first_ts is None else min(first_ts, item.ts)
    app_id = app.app.id if app is not None else None
    app_name = app.app.name if app is not None else None
    declared = [_declared(app, f) for f in findings]
    store.write_findings(sha, str(path), app_id, app_name, findings, declared)
    cov = source.coverage
    return CaptureRow(
        sha256=sha,
        capture=str(path),
        status="ok" if source.damage is None else "damaged",
        app_id=app_id,
        device=str(device_path) if device_path else None,
        declaration=str(app_path) if app_path else None,
        error=source.damage.detail if source.damage is not None else None,
        duration_s=time.perf_counter() - started,
        capture_bytes=source.size,
        frames=source.frames,
        messages=pipeline.summary.messages,
        findings=len(findings),
        flows=cov.flows,
        flows_decoded=cov.flows_decoded,
        flows_opaque=cov.flows_opaque,
        first_ts=first_ts,
        analyzed_at=time.time(),
        worker=_worker_name(),
        version=__version__,
    )


def _declared(app: AppDeclaration | None, finding: Finding) -> bool | None:
    """Whether the declaration covers this finding: its ``collects`` for the first party,
    its ``shares`` for anyone else; ``None`` when the app declared nothing at all."""
    if app is None:
        return None
    if finding.party == "first":
        return any(item.type == finding.type for item in app.collects)
    return share_declared(app, finding)


def _sidecars(capture: Path, options: CorpusOptions) -> tuple[Path | None, Path | None]:
    device = Path(options.device) if options.device else None
    app = Path(options.app) if options.app else None
    if options.sidecars:
        near_device = capture.parent / DEVICE_SIDECAR
        near_app = capture.parent / APP_SIDECAR
        device = near_device if near_device.is_file() else device
        app = near_app if near_app.is_file() else app
    return device, app


def _failed_row(
    key: str, task: CaptureTask, error: str, attempts: int, started: float
) -> CaptureRow:
    return CaptureRow(
        sha256=key,
        capture=task.capture,
        status="failed",
        error=error or "unknown error",
        attempts=attempts,
        duration_s=time.perf_counter() - started,
        analyzed_at=time.time(),
        worker=_worker_name(),
        version=__version__,
    )


def _path_key(path: Path) -> str:
    """A stand-in key for a file that cannot be read (and so cannot be hashed)."""
    return hashlib.sha256(b"unreadable:" + os.fsencode(path.resolve())).hexdigest()


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- per-worker caches ----------------------------------------------------------
#
# Loading signatures and compiling the scanner take far longer than analyzing a
# small capture, so each worker process does it once per distinct
# configuration. Files are keyed by path and modification time so an edited
# device.yaml is picked up.


def _stamp(path: Path | None) -> tuple[str, int] | None:
    return None if path is None else (str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _signatures(dirs: tuple[str, ...]) -> SignatureSet:
    # As ``analyze`` does, in the worker's environment ($LEAKTRACE_SIGNATURES is read there).
    return load_signatures(with_user_dirs([Path(d) for d in dirs]))


@functools.lru_cache(maxsize=256)
def _device(stamp: tuple[str, int]) -> DeviceProfile:
    return load_device(Path(stamp[0]))


@functools.lru_cache(maxsize=1024)
def _declaration(stamp: tuple[str, int]) -> AppDeclaration:
    return load_declaration(Path(stamp[0]))


@functools.lru_cache(maxsize=16)
def _detectors(dirs: tuple[str, ...], device: tuple[str, int] | None) -> DetectorSet:
    return DetectorSet(_signatures(dirs), _device(device) if device is not None else None)


@functools.lru_cache(maxsize=8)
def _matcher(dirs: tuple[str, ...]) -> SdkMatcher:
    return SdkMatcher(_signatures(dirs))


def _pipeline(options: CorpusOptions, device: Path | None, app: Path | None) -> Pipeline:
    """A pipeline for one capture that shares the compiled scanner of its device and
    the SDK rules of its signatures.

    Those are the expensive parts (the SDK rules were a tenth of a 1 MB capture's
    time) and depend on signatures and device alone; everything else, the
    declaration's first-party domains included, is per capture.
    """
    device_stamp, app_stamp = _stamp(device), _stamp(app)
    config = PipelineConfig(
        signatures=_signatures(options.signature_dirs),
        device=_device(device_stamp) if device_stamp is not None else None,
        app=_declaration(app_stamp) if app_stamp is not None else None,
        reveal=options.reveal,
    )
    return Pipeline(
        config, _detectors(options.signature_dirs, device_stamp), _matcher(options.signature_dirs)
    )


# -- engines ----------------------------------------------------------------------

OutcomeCallback = Callable[[TaskOutcome], None]


def run_corpus(
    captures: Sequence[str | os.PathLike[str]],
    options: CorpusOptions,
    *,
    engine: Engine = Engine.local,
    jobs: int | None = None,
    scheduler: str | Client | None = None,
    on_outcome: OutcomeCallback | None = None,
) -> CorpusRun:
    """Analyze every capture into ``options.store``; returns what was done.

    ``engine`` local runs ``jobs`` worker processes here (1: in this process);
    dask runs the same tasks on the cluster at ``scheduler`` (an address or a
    ``distributed.Client``), or on a local cluster of ``jobs`` worker
    processes when none is given. A task whose worker dies is submitted once
    more, then recorded as failed.
    """
    started = time.perf_counter()
    Store(options.store).create()
    unique = list(dict.fromkeys(str(c) for c in captures))
    tasks = [CaptureTask(c, options) for c in unique]
    run = CorpusRun(captures=len(tasks))

    def record(outcome: TaskOutcome) -> None:
        run.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    workers = jobs or default_jobs()
    if engine is Engine.dask:
        _run_dask(tasks, workers, scheduler, record)
    elif workers == 1 or len(tasks) <= 1:
        for task in tasks:
            record(run_capture(task))
    else:
        _run_local(tasks, workers, record)
    run.seconds = time.perf_counter() - started
    return run


def _lost(task: CaptureTask, exc: BaseException) -> TaskOutcome:
    """The manifest row for a capture whose worker died twice while analyzing it."""
    started = time.perf_counter()
    try:
        key = sha256_file(task.capture)
    except OSError:
        key = _path_key(Path(task.capture))
    error = f"worker lost: {type(exc).__name__}: {exc}"
    row = _failed_row(key, task, error, SUBMISSIONS, started)
    Store(task.options.store).write_capture(row)
    return TaskOutcome(row)


def _run_local(tasks: Sequence[CaptureTask], jobs: int, record: OutcomeCallback) -> None:
    # spawn, not fork: the caller may hold threads (a progress bar, a Dask client).
    ctx = mp.get_context("spawn")
    pending = list(tasks)
    for submission in range(1, SUBMISSIONS + 1):
        retry: list[CaptureTask] = []
        with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=ctx) as pool:
            futures: dict[Future[TaskOutcome], CaptureTask] = {
                pool.submit(run_capture, task): task for task in pending
            }
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process died (killed, out of memory)
                    if submission < SUBMISSIONS:
                        retry.append(task)
                    else:
                        record(_lost(task, exc))
                    continue
                record(outcome)
        pending = retry
        if not pending:
            break


@contextlib.contextmanager
def _dask_client(scheduler: str | Client | None, jobs: int) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler:
        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    import dask

    # The workers' statistical profiler samples the task thread's stack every
    # 10 ms; on this pure-Python workload it cost a third of the throughput.
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def _run_dask(
    tasks: Sequence[CaptureTask],
    jobs: int,
    scheduler: str | Client | None,
    record: OutcomeCallback,
) -> None:
    from distributed import as_completed as dask_completed

    with _dask_client(scheduler, jobs) as client:
        futures: list[Any] = client.map(run_capture, list(tasks), pure=False)
        owner = {future.key: (task, 1) for future, task in zip(futures, tasks, strict=True)}
        completed = dask_completed(futures)  # type: ignore[no-untyped-call]
        for future in completed:
            task, submission = owner.pop(future.key)
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker and the like: the task never finished
                if submission < SUBMISSIONS:
                    again = client.submit(run_capture, task, pure=False)
                    owner[again.key] = (task, submission + 1)
                    completed.add(again)  # type: ignore[no-untyped-call]
                else:
                    record(_lost(task, exc))
                continue
            record(outcome)
