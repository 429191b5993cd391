"""The Parquet store: layout, partitions, atomic files, manifest rows."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.corpus.store import (
    FINDING_SCHEMA,
    CaptureRow,
    Store,
    StoreError,
    partition_value,
)
from leaktrace.testing import finding

SHA = "ab" * 32
DAY1 = 1_763_900_000.0  # 2025-11-23 12:13 UTC
DAY2 = DAY1 + 86_400


@given(st.text())
def test_partition_values_are_safe_directory_names(text: str) -> None:
    value = partition_value(text)
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value)
    assert value not in (".", "..") or text in (".", "..")


def test_partition_value_keeps_app_ids() -> None:
    assert partition_value("com.example.demoshop") == "com.example.demoshop"
    assert partition_value(None) == "unknown"
    assert partition_value("a/b=c") == "a_b_c"


def test_findings_are_split_by_day_under_their_app(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    items = [finding(ts=DAY1), finding(ts=DAY2, type="phone"), finding(ts=DAY1 + 5)]
    paths = store.write_findings(SHA, "x.pcap", "com.example.app", "App", items, [True] * 3)
    rel = sorted(str(p.relative_to(store.root)) for p in paths)
    assert rel == [
        f"findings/day=2025-11-23/app=com.example.app/{SHA}.parquet",
        f"findings/day=2025-11-24/app=com.example.app/{SHA}.parquet",
    ]
    first = pq.read_table(paths[0])
    assert first.schema.equals(FINDING_SCHEMA)
    assert first.num_rows == 2
    assert first.column("value").to_pylist() == ["86**********190"] * 2
    assert first.column("evidence").to_pylist()[0] == ["luhn_ok", "key:imei"]


def test_rewriting_a_capture_replaces_its_fragments(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    store.write_findings(SHA, "x.pcap", "old.app", None, [finding(ts=DAY1)], [None])
    store.write_findings(SHA, "x.pcap", "new.app", None, [finding(ts=DAY1)], [None])
    files = store.finding_files()
    assert [p.parent.name for p in files] == ["app=new.app"]
    assert not list(store.root.rglob("*.tmp"))


def test_a_capture_done_again_finds_its_old_fragments_without_listing_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s").create()
    store.write_findings(SHA, "x.pcap", "old.app", None, [finding(ts=DAY2)], [None])
    store.write_capture(CaptureRow(sha256=SHA, capture="x.pcap", status="ok", findings=1))
    (store.captures_dir / f"{SHA}.parquet").unlink()  # to have it analyzed again

    def no_walk(self: Path, pattern: str) -> list[Path]:
        raise AssertionError(f"the store was listed: {self}/{pattern}")

    monkeypatch.setattr(Path, "glob", no_walk)
    monkeypatch.setattr(Path, "rglob", no_walk)
    store.write_findings(SHA, "x.pcap", "new.app", None, [finding(ts=DAY1)], [None])
    monkeypatch.undo()
    assert [(p.parent.parent.name, p.parent.name) for p in store.finding_files()] == [
        ("day=2025-11-23", "app=new.app")
    ]


def test_a_fragment_record_removes_nothing_but_that_capture_s_fragments(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    other = "cd" * 32
    kept = store.write_findings(other, "y.pcap", "app", None, [finding(ts=DAY1)], [None])
    outside = tmp_path / "outside.parquet"
    outside.write_text("not the store's")
    (store.captures_dir / f"{SHA}.fragments").write_text(
        f"{kept[0].relative_to(store.root).as_posix()}\n../outside.parquet\nstore.json\n"
    )
    store.write_findings(SHA, "x.pcap", "app", None, [finding(ts=DAY1)], [None])
    assert kept[0].is_file() and outside.is_file() and (store.root / "store.json").is_file()


def test_manifest_row_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    row = CaptureRow(sha256=SHA, capture="x.pcap", status="damaged", error="cut", findings=3)
    store.write_capture(row)
    assert store.capture_row(SHA) == row
    assert store.is_done(SHA)
    store.write_capture(CaptureRow(sha256=SHA, capture="x.pcap", status="failed"))
    assert not store.is_done(SHA)
    assert store.capture_row("cd" * 32) is None


def test_damaged_manifest_row_counts_as_not_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    (store.captures_dir / f"{SHA}.parquet").write_bytes(b"PAR1 half a file")
    assert store.capture_row(SHA) is None
    assert not store.is_done(SHA)


def test_a_manifest_row_cut_short_counts_as_not_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    path = store.write_capture(CaptureRow(sha256=SHA, capture="x.pcap", status="ok"))
    whole = path.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 9):
        path.write_bytes(whole[:cut])
        assert store.capture_row(SHA) is None
        assert not store.is_done(SHA)


def test_store_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        Store(tmp_path).create()
    with pytest.raises(StoreError, match=r"no store\.json"):
        Store(tmp_path).open()


def test_store_refuses_another_format(tmp_path: Path) -> None:
    Store(tmp_path / "s").create()
    (tmp_path / "s" / "store.json").write_text('{"format": 99}')
    with pytest.raises(StoreError, match="format"):
        Store(tmp_path / "s").open()


def test_create_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s").create()
    store.write_capture(CaptureRow(sha256=SHA, capture="x", status="ok"))
    Store(tmp_path / "s").create()
    assert [r.sha256 for r in store.capture_rows()] == [SHA]
