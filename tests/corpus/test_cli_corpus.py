"""``leaktrace corpus``, ``corpus report`` and ``query`` through the real command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leaktrace.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "store"
    result = runner.invoke(
        app, ["corpus", str(corpus / "shop"), str(corpus / "gen"), "--out", str(out), "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "3 captures: 3 ok, 0 skipped" in result.output
    return out


def test_failed_captures_give_exit_3_and_are_listed(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    result = runner.invoke(app, ["corpus", "--out", str(out), str(corpus / "broken"), "-j", "1"])
    assert result.exit_code == 3, result.output
    assert "failed   " in result.output and "corrupt.pcap" in result.output
    assert "damaged  " in result.output
    again = runner.invoke(
        app, ["corpus", "run", str(corpus / "broken"), "--out", str(out), "-j", "1"]
    )
    assert "1 skipped" in again.output


def test_query_json(store: Path) -> None:
    result = runner.invoke(
        app,
        [
            "query",
            str(store),
            "SELECT app, count(*) AS n FROM findings GROUP BY app ORDER BY app",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["app"] for r in records] == ["com.example.demoshop", "unknown"]
    assert all(r["n"] > 0 for r in records)


def test_query_csv_and_table(store: Path) -> None:
    sql = "SELECT status, count(*) AS n FROM captures GROUP BY status"
    csv_out = runner.invoke(app, ["query", str(store), sql, "--format", "csv"])
    assert csv_out.stdout.splitlines()[:2] == ["status,n", "ok,3"]
    table = runner.invoke(app, ["query", str(store), sql])
    assert table.exit_code == 0 and "ok" in table.stdout


def test_bad_sql_and_bad_store_exit_2(store: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["query", str(store), "SELEC nonsense"]).exit_code == 2
    assert runner.invoke(app, ["query", str(tmp_path), "SELECT 1"]).exit_code == 2


def test_report_command(store: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["corpus", "report", str(store), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file()
    assert "baidu_mobads" in result.output


def test_usage_errors(corpus: Path, tmp_path: Path) -> None:
    no_match = runner.invoke(
        app, ["corpus", str(tmp_path / "none-*.pcap"), "--out", str(tmp_path / "s")]
    )
    assert no_match.exit_code == 2 and "no captures" in no_match.output
    scheduler = runner.invoke(
        app,
        [
            "corpus",
            str(corpus / "gen"),
            "--out",
            str(tmp_path / "s"),
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert scheduler.exit_code == 2 and "--engine dask" in scheduler.output
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.txt").write_text("x")
    foreign = runner.invoke(
        app, ["corpus", str(corpus / "gen"), "--out", str(tmp_path / "foreign")]
    )
    assert foreign.exit_code == 2
    bad_device = tmp_path / "device.yaml"
    bad_device.write_text("imei: [not, valid: {\n")
    config = runner.invoke(
        app,
        ["corpus", str(corpus / "gen"), "--out", str(tmp_path / "s2"), "--device", str(bad_device)],
    )
    assert config.exit_code == 2, config.output


def test_missing_extra_is_a_clear_error(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if the corpus extra were absent
    result = runner.invoke(app, ["query", str(store), "SELECT 1"])
    assert result.exit_code == 2
    assert "corpus mode needs duckdb: pip install 'leaktrace[corpus]'" in result.output


@pytest.mark.parametrize(("missing", "engine"), [("pyarrow", "local"), ("distributed", "dask")])
def test_corpus_run_names_the_missing_library(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, engine: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)
    argv = ["corpus", str(corpus / "gen"), "--out", str(tmp_path / "s"), "--engine", engine]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert f"corpus mode needs {missing}: pip install 'leaktrace[corpus]'" in result.output
    assert not (tmp_path / "s").exists()  # refused before anything was written
