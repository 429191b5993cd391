"""``leaktrace corpus``, ``corpus report`` and ``query``: argument parsing and output only.

Exit codes: 0 every capture is in the store (analyzed now or before, damaged
ones read up to their damage); 2 bad usage, configuration or store; 3 some
captures failed and are recorded in the store with their error.
"""

# Annotations are not postponed, and names imported only for type checking are
# quoted: typer reads them at every start (why: the note at the top of cli.py).

import csv
import importlib.util
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from leaktrace.corpus import Engine

# Output and configuration libraries load when a command runs, not when the
# ``leaktrace`` command starts.
if TYPE_CHECKING:
    from rich.console import Console

    from leaktrace.corpus.runner import CorpusRun, TaskOutcome

EXIT_CONFIG = 2
EXIT_FAILED = 3


class _DefaultRun(TyperGroup):
    """``corpus DIR`` means ``corpus run DIR``; ``corpus report STORE`` is the other command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors click
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


corpus_app = typer.Typer(
    cls=_DefaultRun,
    no_args_is_help=True,
    help="Analyze many captures into a Parquet store (corpus DIR_OR_GLOB --out STORE), "
    "or write the cross-app report (corpus report STORE).",
)


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _err() -> "Console":
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(code: int, message: str) -> typer.Exit:
    from rich.markup import escape

    _err().print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code)


def _need_extra(*modules: str) -> None:
    """Corpus mode's libraries are an extra: say so instead of failing on an import.

    Found without importing them: importing duckdb takes 60 ms, and ``corpus
    run`` never uses it.
    """
    for name in modules:
        if importlib.util.find_spec(name) is None:
            raise _fail(
                EXIT_CONFIG,
                f"corpus mode needs {name}: pip install 'leaktrace[corpus]'",
            )


def _check_config(
    device: Path | None, app_decl: Path | None, signatures: list[Path] | None
) -> None:
    """Load the given-once files here, so a typo fails the command, not every capture."""
    from leaktrace.declaration import DeclarationError, load_declaration
    from leaktrace.profile import DeviceProfileError, load_device
    from leaktrace.signatures.loader import SignatureError, load_signatures, with_user_dirs

    try:
        if device is not None:
            load_device(device)
        if app_decl is not None:
            load_declaration(app_decl)
        load_signatures(with_user_dirs(signatures))
    except (DeviceProfileError, DeclarationError, SignatureError) as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None


@corpus_app.command("run")
def corpus_run(
    captures: Annotated[
        list[str], typer.Argument(help="capture files, directories (searched) or glob patterns")
    ],
    out: Annotated[Path, typer.Option("--out", help="the store directory (created if absent)")],
    engine: Annotated[Engine, typer.Option(help="local (process pool) or dask")] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler, tcp://HOST:PORT (default: a local cluster)"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="worker processes here (default: all cores)"),
    ] = None,
    device: Annotated[
        Path | None, typer.Option(help="device.yaml for captures without one beside them")
    ] = None,
    app_decl: Annotated[
        Path | None, typer.Option("--app", help="app.yaml for captures without one beside them")
    ] = None,
    signatures: Annotated[
        list[Path] | None, typer.Option(help="extra signature directory (repeatable)")
    ] = None,
    reveal: Annotated[
        bool, typer.Option(help="store identifier values in full instead of masked")
    ] = False,
    sidecars: Annotated[
        bool, typer.Option(help="use device.yaml and app.yaml beside each capture")
    ] = True,
    quiet: Annotated[bool, typer.Option(help="print only the final line")] = False,
) -> None:
    """Analyze every capture into a Parquet store; a resumed run skips what the store has."""
    if scheduler and engine is not Engine.dask:
        raise _fail(EXIT_CONFIG, "--scheduler needs --engine dask")
    _need_extra("pyarrow", *(["distributed"] if engine is Engine.dask else []))
    from leaktrace.corpus.runner import CorpusOptions, find_captures, run_corpus
    from leaktrace.corpus.store import Store, StoreError

    _check_config(device, app_decl, signatures)
    found = [p for spec in captures for p in find_captures(spec)]
    if not found:
        raise _fail(EXIT_CONFIG, f"no captures match {' '.join(captures)}")
    try:
        Store(out).create()
    except StoreError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    options = CorpusOptions(
        store=str(out),
        device=str(device) if device else None,
        app=str(app_decl) if app_decl else None,
        signature_dirs=tuple(str(s) for s in signatures or ()),
        reveal=reveal,
        sidecars=sidecars,
    )
    err = _err()

    def show(outcome: "TaskOutcome") -> None:
        row = outcome.row
        if quiet:
            return
        if outcome.skipped:
            err.print(f"skipped  {row.capture} (in the store: {row.status})")
        elif row.status == "ok":
            err.print(f"ok       {row.capture}: {row.findings} findings, {row.duration_s:.2f} s")
        else:
            err.print(f"{row.status:<8} {row.capture}: {row.error}")

    try:
        run = run_corpus(
            found, options, engine=engine, jobs=jobs, scheduler=scheduler, on_outcome=show
        )
    except OSError as exc:  # an unreachable scheduler, an unwritable store
        raise _fail(EXIT_CONFIG, str(exc)) from None
    err.print(run_line(run, out))
    if run.statuses.get("failed"):
        raise typer.Exit(EXIT_FAILED)


def run_line(run: "CorpusRun", store: Path) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(run.statuses.items())) or "none analyzed"
    rate = run.bytes_analyzed / 1e6 / run.seconds if run.seconds > 0 else 0.0
    return (
        f"{run.captures} captures: {statuses}, {run.skipped} skipped (already in the store); "
        f"{run.findings} findings; {run.bytes_analyzed / 1e6:.1f} MB in {run.seconds:.1f} s "
        f"({rate:.1f} MB/s) -> {store}"
    )


@corpus_app.command("report")
def corpus_report(
    store: Annotated[Path, typer.Argument(help="a store written by leaktrace corpus")],
    out: Annotated[
        Path | None, typer.Option("--out", help="report directory (default: STORE/report)")
    ] = None,
) -> None:
    """Write the cross-app view: per SDK, which identifiers it received in which apps."""
    from rich.console import Console
    from rich.table import Table

    _need_extra("duckdb")
    from leaktrace.corpus.report import build_report
    from leaktrace.corpus.store import StoreError

    target = out or store / "report"
    try:
        report = build_report(store, target)
    except StoreError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    err = _err()
    for path in report.files:
        err.print(f"wrote {path}")
    top = report.recipients.rows[:10]
    if top:
        table = Table("recipient", "kind", "apps", "types", "findings", title="top recipients")
        for recipient, kind, apps, types, findings, _ in top:
            table.add_row(str(recipient), kind, str(apps), ", ".join(types), str(findings))
        Console().print(table)


def query(
    store: Annotated[Path, typer.Argument(help="a store written by leaktrace corpus")],
    sql: Annotated[str, typer.Argument(help="SQL over the views findings and captures")],
    fmt: Annotated[
        QueryFormat, typer.Option("--format", help="table, csv or json (one object a line)")
    ] = QueryFormat.table,
) -> None:
    """Run DuckDB SQL over a corpus store (views: findings, captures)."""
    _need_extra("duckdb")
    from leaktrace.corpus.query import QueryError, run_query
    from leaktrace.corpus.store import StoreError

    try:
        result = run_query(store, sql)
    except StoreError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    except QueryError as exc:
        raise _fail(EXIT_CONFIG, f"query failed: {exc}") from None
    if fmt is QueryFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_plain(v) for v in row] for row in result.rows])
    elif fmt is QueryFormat.json:
        for row in result.rows:
            record = {c: _plain(v) for c, v in zip(result.columns, row, strict=True)}
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    else:
        _print_table(result.columns, result.rows)
    _err().print(f"{len(result.rows)} rows in {result.seconds * 1000:.1f} ms")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(_plain(v)) for v in row))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
    app.command("query")(query)
