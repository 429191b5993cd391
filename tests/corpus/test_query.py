"""DuckDB over the store: the two views, partition columns, errors."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from leaktrace.corpus.query import QueryError, connect, run_query
from leaktrace.corpus.store import CaptureRow, Store, StoreError
from leaktrace.testing import finding

DAY1 = 1_763_900_000.0


def _store(root: Path) -> Store:
    store = Store(root).create()
    store.write_findings(
        "a" * 64,
        "one.pcap",
        "com.one",
        None,
        [finding(ts=DAY1), finding(ts=DAY1 + 1, sdk="jpush", type="imsi")],
        [False, True],
    )
    store.write_findings("b" * 64, "two.pcap", "com.two", None, [finding(ts=DAY1)], [None])
    store.write_capture(CaptureRow(sha256="a" * 64, capture="one.pcap", status="ok", findings=2))
    store.write_capture(CaptureRow(sha256="b" * 64, capture="two.pcap", status="ok", findings=1))
    store.write_capture(CaptureRow(sha256="c" * 64, capture="bad.pcap", status="failed"))
    return store


def test_which_sdks_received_imeis_across_apps(tmp_path: Path) -> None:
    _store(tmp_path / "s")
    result = run_query(
        tmp_path / "s",
        "SELECT sdk, count(DISTINCT app) AS apps FROM findings WHERE type = 'imei' "
        "GROUP BY sdk ORDER BY sdk",
    )
    assert result.columns == ["sdk", "apps"]
    assert result.rows == [("umeng", 2)]
    assert result.seconds >= 0


def test_partition_columns_come_from_the_paths(tmp_path: Path) -> None:
    _store(tmp_path / "s")
    rows = run_query(tmp_path / "s", "SELECT DISTINCT day, app FROM findings ORDER BY app").rows
    day = datetime.date(2025, 11, 23)
    assert rows == [(day, "com.one"), (day, "com.two")]
    declared = run_query(
        tmp_path / "s", "SELECT declared FROM findings WHERE app = 'com.one' ORDER BY ts"
    ).rows
    assert declared == [(False,), (True,)]


def test_captures_view_joins_findings(tmp_path: Path) -> None:
    _store(tmp_path / "s")
    rows = run_query(
        tmp_path / "s",
        "SELECT c.capture, c.status, count(f.type) FROM captures c "
        "LEFT JOIN findings f ON f.capture_sha256 = c.sha256 GROUP BY ALL ORDER BY 1",
    ).rows
    assert rows == [("bad.pcap", "failed", 0), ("one.pcap", "ok", 2), ("two.pcap", "ok", 1)]


def test_empty_store_has_both_views(tmp_path: Path) -> None:
    Store(tmp_path / "s").create()
    assert run_query(tmp_path / "s", "SELECT count(*) FROM findings").rows == [(0,)]
    assert run_query(tmp_path / "s", "SELECT count(*) FROM captures").rows == [(0,)]
    con = connect(tmp_path / "s")
    names = [d[0] for d in con.execute("SELECT * FROM findings").description]
    assert {"day", "app", "type", "sdk", "declared"} <= set(names)


def test_bad_sql_is_a_query_error(tmp_path: Path) -> None:
    _store(tmp_path / "s")
    with pytest.raises(QueryError):
        run_query(tmp_path / "s", "SELECT nope FROM findings")


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        run_query(tmp_path, "SELECT 1")


def test_store_path_with_a_quote(tmp_path: Path) -> None:
    _store(tmp_path / "it's here")
    assert run_query(tmp_path / "it's here", "SELECT count(*) FROM findings").rows == [(3,)]
