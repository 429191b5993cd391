"""SQL over a corpus store with DuckDB, reading the Parquet files where they lie.

Two views: ``findings`` (one row per finding, with the ``day`` and ``app``
partition columns from the directory names) and ``captures`` (one row per
capture: status, error, counts). DuckDB prunes partitions by ``day`` and
``app`` from the paths, so a query about one week reads one week's files.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from leaktrace.corpus.store import CAPTURE_SCHEMA, FINDING_SCHEMA, Store

__all__ = ["QueryError", "QueryResult", "connect", "run_query"]


class QueryError(Exception):
    """The SQL could not be run (syntax, unknown column, ...); the message is DuckDB's."""


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float  # wall time of the query alone, connection set-up excluded


def _literal(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def connect(
    store: str | os.PathLike[str], *, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the store's views; raises ``StoreError``."""
    opened = Store(store).open()
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if opened.finding_files():
        pattern = _literal(str(opened.findings_dir / "day=*" / "app=*" / "*.parquet"))
        con.execute(
            "CREATE VIEW findings AS SELECT * FROM read_parquet("
            f"{pattern}, hive_partitioning = true, union_by_name = true)"
        )
    else:
        empty = FINDING_SCHEMA.append(pa.field("day", pa.date32())).append(
            pa.field("app", pa.string())
        )
        con.register("_empty_findings", empty.empty_table())
        con.execute("CREATE VIEW findings AS SELECT * FROM _empty_findings")
    if any(opened.captures_dir.glob("*.parquet")):
        pattern = _literal(str(opened.captures_dir / "*.parquet"))
        con.execute(
            f"CREATE VIEW captures AS SELECT * FROM read_parquet({pattern}, union_by_name = true)"
        )
    else:
        con.register("_empty_captures", CAPTURE_SCHEMA.empty_table())
        con.execute("CREATE VIEW captures AS SELECT * FROM _empty_captures")
    return con


def run_query(store: str | os.PathLike[str], sql: str) -> QueryResult:
    """Run one SQL statement over the store's ``findings`` and ``captures`` views."""
    con = connect(store)
    try:
        started = time.perf_counter()
        try:
            cursor = con.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        seconds = time.perf_counter() - started
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return QueryResult(columns, rows, seconds)
    finally:
        con.close()
