"""Corpus runs: local pool and Dask cluster equal per-file ``analyze``; resume; failures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leaktrace.analyze import analyze_capture, find_sidecars
from leaktrace.corpus.query import run_query
from leaktrace.corpus.runner import (
    CorpusOptions,
    Engine,
    TaskOutcome,
    find_captures,
    run_corpus,
    sha256_file,
)
from leaktrace.corpus.store import Store
from leaktrace.declaration import load_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device

ROOT = Path(__file__).resolve().parents[2]
FINDING_COLUMNS = (
    'capture, ts, flow, trans_depth, type, "where", value, form, method, sdk, party, host, '
    "transport, src, dst, origin, confidence"
)
CAPTURE_COLUMNS = (
    "capture, sha256, status, error, attempts, app_id, device, declaration, capture_bytes, "
    "frames, messages, findings, flows, flows_decoded, flows_opaque"
)


def store_findings(store: Path) -> list[tuple[Any, ...]]:
    return run_query(store, f"SELECT {FINDING_COLUMNS} FROM findings ORDER BY ALL").rows


def store_captures(store: Path) -> list[tuple[Any, ...]]:
    return run_query(store, f"SELECT {CAPTURE_COLUMNS} FROM captures ORDER BY ALL").rows


def expected_findings(captures: list[Path]) -> list[tuple[Any, ...]]:
    """What ``analyze`` says, file by file, with the sidecars it would use."""
    rows = []
    for capture in captures:
        sidecars = find_sidecars(capture)
        config = PipelineConfig.load(
            device=load_device(sidecars.device) if sidecars.device else None,
            app=load_declaration(sidecars.app) if sidecars.app else None,
        )
        try:
            result = analyze_capture(capture, config)
        except Exception:
            continue  # unreadable: no findings, a failed row instead
        for f in result.findings:
            rows.append(
                (
                    str(capture), f.ts, f.flow, f.trans_depth, f.type, f.where, f.value,
                    f.form, f.method, f.sdk, f.party, f.host, f.transport, f.src, f.dst,
                    f.origin, f.confidence,
                )
            )  # fmt: skip
    return sorted(rows, key=lambda r: tuple((x is None, x) for x in r))


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((x is None, x) for x in r))


@pytest.fixture(scope="module")
def local_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("local") / "store"
    outcomes: list[TaskOutcome] = []
    run = run_corpus(
        find_captures(corpus), CorpusOptions(str(store)), jobs=2, on_outcome=outcomes.append
    )
    assert run.captures == len(outcomes) == 8
    return store


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local_cluster:
        yield local_cluster


def test_local_engine_store_equals_per_file_analyze(corpus: Path, local_store: Path) -> None:
    found = store_findings(local_store)
    assert len(found) > 30
    assert _sorted(found) == expected_findings(find_captures(corpus))


def test_dask_cluster_store_equals_local_engine(
    corpus: Path, local_store: Path, cluster: Any, tmp_path: Path
) -> None:
    info = cluster.scheduler_info
    addresses = [cluster.scheduler_address, *info["workers"]]
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    assert len(info["workers"]) == 2
    store = tmp_path / "dask-store"
    run = run_corpus(
        find_captures(corpus),
        CorpusOptions(str(store)),
        engine=Engine.dask,
        scheduler=cluster.scheduler_address,
    )
    assert run.statuses == {"ok": 6, "damaged": 1, "failed": 1}
    assert store_findings(store) == store_findings(local_store)
    assert store_captures(store) == store_captures(local_store)
    workers = {row[0] for row in run_query(store, "SELECT DISTINCT worker FROM captures").rows}
    assert len(workers) >= 1 and all(":" in w for w in workers)


def test_corrupt_capture_is_recorded_with_its_error(corpus: Path, local_store: Path) -> None:
    rows = run_query(
        local_store,
        "SELECT capture, status, error, attempts FROM captures WHERE status <> 'ok' ORDER BY 1",
    ).rows
    assert [(Path(r[0]).name, r[1]) for r in rows] == [
        ("corrupt.pcap", "failed"),
        ("truncated.pcap", "damaged"),
    ]
    corrupt, truncated = rows
    assert "not a pcap" in corrupt[2] and corrupt[3] == 2  # tried, retried, recorded
    assert "cut short" in truncated[2] or "truncat" in truncated[2]
    # The damaged capture's findings before the damage are kept.
    n = run_query(
        local_store, "SELECT count(*) FROM findings WHERE capture LIKE '%truncated.pcap'"
    ).rows[0][0]
    assert n >= 1


def test_resumed_run_skips_finished_captures(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    options = CorpusOptions(str(store))
    captures = find_captures(corpus)
    first = run_corpus(captures, options, jobs=1)
    assert first.skipped == 0 and sum(first.statuses.values()) == 8
    stamps = {p: p.stat().st_mtime_ns for p in Store(store).finding_files()}

    again: list[TaskOutcome] = []
    second = run_corpus(captures, options, jobs=1, on_outcome=again.append)
    assert second.skipped == 7  # all but the failed one, which is tried again
    assert [Path(o.row.capture).name for o in again if not o.skipped] == ["corrupt.pcap"]
    assert {p: p.stat().st_mtime_ns for p in Store(store).finding_files()} == stamps

    # A capture whose manifest row is gone (the run stopped before it) is done again.
    one = corpus / "gen" / "one.pcap"
    (store / "captures" / f"{sha256_file(one)}.parquet").unlink()
    third = run_corpus(captures, options, jobs=1)
    assert third.skipped == 6 and third.statuses == {"ok": 1, "failed": 1}
    assert len(store_findings(store)) == len(expected_findings(captures))


def test_same_bytes_under_two_names_are_analyzed_once(corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.pcap"
    shutil.copy(corpus / "gen" / "one.pcap", copy)
    store = tmp_path / "store"
    run = run_corpus([corpus / "gen" / "one.pcap", copy], CorpusOptions(str(store)), jobs=1)
    assert run.skipped == 1 and run.statuses == {"ok": 1}
    assert len(Store(store).capture_rows()) == 1


def test_given_once_files_apply_where_no_sidecar_is(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    device = ROOT / "captures" / "device.yaml"
    options = CorpusOptions(str(store), device=str(device))
    run_corpus([corpus / "gen" / "one.pcap", corpus / "shop" / "demo.pcap"], options, jobs=1)
    rows = dict(run_query(store, "SELECT capture, device FROM captures").rows)
    assert rows[str(corpus / "gen" / "one.pcap")] == str(device)
    assert rows[str(corpus / "shop" / "demo.pcap")] == str(corpus / "shop" / "device.yaml")


def test_bad_sidecar_fails_that_capture_only(corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    shutil.copy(corpus / "gen" / "two.pcap", folder / "two.pcap")
    (folder / "device.yaml").write_text("imei: [not, valid: {\n")
    store = tmp_path / "store"
    run = run_corpus(
        [folder / "two.pcap", corpus / "gen" / "one.pcap"], CorpusOptions(str(store)), jobs=1
    )
    assert run.statuses == {"failed": 1, "ok": 1}
    assert "device.yaml" in (run.failed[0].error or "")


def test_missing_file_is_recorded(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = run_corpus([tmp_path / "gone.pcap"], CorpusOptions(str(store)))
    assert run.statuses == {"failed": 1}
    assert "cannot read" in (Store(store).capture_rows()[0].error or "")


def test_find_captures_by_directory_glob_and_file(corpus: Path) -> None:
    everything = find_captures(corpus)
    assert len(everything) == 8
    assert [p.name for p in find_captures(str(corpus / "gen" / "*.pcap"))] == [
        "one.pcap",
        "two.pcap",
    ]
    assert find_captures(corpus / "shop" / "demo.pcap") == [corpus / "shop" / "demo.pcap"]
    assert find_captures(corpus / "nothing-*.pcap") == []


def die(task: object) -> TaskOutcome:
    """Stands in for the task in a worker that is killed (out of memory, a crash in C)."""
    os._exit(9)


def test_a_capture_whose_worker_dies_is_retried_then_recorded(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leaktrace.corpus import runner

    monkeypatch.setattr(runner, "run_capture", die)
    store = tmp_path / "store"
    capture = corpus / "gen" / "one.pcap"
    run = run_corpus([capture, corpus / "gen" / "two.pcap"], CorpusOptions(str(store)), jobs=2)
    assert run.statuses == {"failed": 2}
    row = Store(store).capture_row(sha256_file(capture))
    assert row is not None and row.status == "failed" and row.attempts == 2
    assert (row.error or "").startswith("worker lost")
