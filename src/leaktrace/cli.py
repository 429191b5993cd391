"""The ``leaktrace`` command: argument parsing and output only; the work is in the library.

Exit codes: 0 analysis completed; 2 bad usage or configuration (device,
declaration or signature file); 3 capture unreadable; 4 capture damaged and
reading stopped there (the findings before the damage were still reported);
5 damaged records were skipped and reading went on to the end (the skipped
byte ranges are reported).
"""

# Annotations are not postponed (no ``from __future__ import annotations``): typer
# reads every command's when the CLI starts, and it compiles and evaluates a
# string annotation twice (75 M instructions a run; docs/scaling.md, start-up).
# Names imported only for type checking are quoted.

import contextlib
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from leaktrace import __version__
from leaktrace.engines import EngineName
from leaktrace.policy.failon import FailOn

# Start-up: the pipeline, its decoders and rich load when a command runs, and
# only what that command uses; ``leaktrace --help`` and ``version`` load none
# of it (docs/scaling.md, start-up; tests/test_imports.py keeps it so).
if TYPE_CHECKING:
    from rich.console import Console

    from leaktrace.analyze import AnalysisResult
    from leaktrace.declaration import AppDeclaration
    from leaktrace.profile import DeviceProfile
    from leaktrace.sources.capture import ProgressCallback

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNREADABLE = 3
EXIT_DAMAGED = 4
EXIT_SKIPPED = 5
PROGRESS_MIN_BYTES = 16 << 20  # smaller captures finish before a bar is worth drawing

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find which personal data an app sends over the network, to whom, "
    "and whether it declared it.",
)


class OutputFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    json = "json"


def _fail(code: int, message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _device(path: Path) -> "DeviceProfile":
    """The device file, read (and its module loaded) only when a run has one. Its
    errors are ``SignatureError``s, which the caller reports."""
    from leaktrace.profile import load_device

    return load_device(path)


def _declaration(path: Path) -> "AppDeclaration":
    """The app file, read (and its module loaded) only when a run has one."""
    from leaktrace.declaration import DeclarationError, load_declaration

    try:
        return load_declaration(path)
    except DeclarationError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None


def _console(stream: IO[str] | None = None, *, stderr: bool = False) -> "Console":
    """A console that does not cut host names when the output is a file or a pipe."""
    from rich.console import Console

    console = Console(file=stream, stderr=stderr)
    if not console.is_terminal:
        console = Console(file=stream, stderr=stderr, width=160)
    return console


def _format_for(out: Path | None, fmt: OutputFormat | None) -> OutputFormat:
    if fmt is not None:
        return fmt
    if out is not None and out.suffix == ".jsonl":
        return OutputFormat.jsonl
    if out is not None and out.suffix == ".json":
        return OutputFormat.json
    return OutputFormat.table


@app.command()
def analyze(
    capture: Annotated[Path, typer.Argument(help="pcap or pcapng file")],
    device: Annotated[
        Path | None, typer.Option(help="device.yaml: the test device's own identifier values")
    ] = None,
    app_decl: Annotated[
        Path | None,
        typer.Option("--app", help="app.yaml: the app's declaration (first-party domains, lists)"),
    ] = None,
    signatures: Annotated[
        list[Path] | None,
        typer.Option(help="extra signature directory (repeatable; later ones override)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the output here instead of standard output")
    ] = None,
    fmt: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="table (default), jsonl (one finding a line) or json"),
    ] = None,
    reveal: Annotated[
        bool, typer.Option(help="show identifier values in full instead of masked")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar and no summary on stderr")] = False,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="judge the findings; write the report here")
    ] = None,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            help="exit 1 when a verdict of this kind is found (violation|undisclosed|any)"
        ),
    ] = None,
    sidecars: Annotated[
        bool,
        typer.Option(
            help="use device.yaml and app.yaml from the capture's directory when not given"
        ),
    ] = True,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", min=1, help="worker processes for a large pcap (default: all cores)"
        ),
    ] = None,
    keylog: Annotated[
        list[Path] | None,
        typer.Option(help="TLS key log (NSS format, SSLKEYLOGFILE) to decrypt with (repeatable)"),
    ] = None,
    engine: Annotated[
        EngineName, typer.Option(help="native (fast, default) or tshark (Wireshark dissectors)")
    ] = EngineName.native,
) -> None:
    """Analyze a capture file: which identifiers left the device, to which host, in which form."""
    from leaktrace.analyze import analyze_capture, find_sidecars
    from leaktrace.cores import default_jobs
    from leaktrace.pipeline import PipelineConfig
    from leaktrace.signatures.loader import SignatureError
    from leaktrace.sinks.json_report import write_report
    from leaktrace.sinks.jsonl import JsonlSink
    from leaktrace.sources.pcap import CaptureError
    from leaktrace.tls.keylog import KeyLogError, load_keylog

    # A quiet run writes nothing to stderr but errors: it never needs rich.
    err = None if quiet else _console(stderr=True)
    if sidecars:
        found = find_sidecars(capture)
        if device is None and found.device is not None:
            device = found.device
            if err is not None:
                err.print(f"using device values from {device}", highlight=False)
        if app_decl is None and found.app is not None:
            app_decl = found.app
            if err is not None:
                err.print(f"using the app declaration {app_decl}", highlight=False)
    try:
        config = PipelineConfig.load(
            signature_dirs=signatures,
            device=_device(device) if device else None,
            app=_declaration(app_decl) if app_decl else None,
            reveal=reveal,
        )
        secrets = load_keylog(keylog) if keylog else None
    except (SignatureError, KeyLogError) as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None

    output_format = _format_for(out, fmt)
    with contextlib.ExitStack() as stack:
        progress = None if err is None else stack.enter_context(_progress_bar(capture, err))
        stream: IO[str] = (
            stack.enter_context(out.open("w", encoding="utf-8")) if out else sys.stdout
        )
        jsonl = JsonlSink(stream) if output_format is OutputFormat.jsonl else None
        try:
            result = analyze_capture(
                capture,
                config,
                lines=jsonl,
                progress=progress,
                jobs=jobs or default_jobs(),
                keylog=secrets,
                engine=engine.value,
                # Only the JSON document and the judgement need every finding at the end.
                keep_findings=(
                    output_format is OutputFormat.json
                    or report_dir is not None
                    or fail_on is not None
                ),
            )
        except CaptureError as exc:
            raise _fail(EXIT_UNREADABLE, str(exc)) from None

        if output_format is OutputFormat.json:
            write_report(result, stream)
        elif output_format is OutputFormat.table:
            from leaktrace.sinks.table import render_summary

            render_summary(result, _console(stream))
        if err is not None and (output_format is not OutputFormat.table or out is not None):
            from leaktrace.sinks.table import render_summary

            render_summary(result, err)
    gate_code = 0
    if report_dir is not None or fail_on is not None:
        from leaktrace.cli_policy import judge_analysis

        gate_code = judge_analysis(result, config, report_dir, fail_on, quiet=quiet)
    # Every file this run wrote is closed (the ExitStack above, the report's writers).
    _quick_exit.allowed = True
    _finish(result)
    if gate_code:
        raise typer.Exit(gate_code)


@contextlib.contextmanager
def _progress_bar(capture: Path, console: "Console") -> Iterator["ProgressCallback | None"]:
    """A progress bar on a terminal, for captures big enough to take a while."""
    size = capture.stat().st_size if capture.is_file() else 0
    if not console.is_terminal or size < PROGRESS_MIN_BYTES:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"reading {capture.name}", total=size)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _finish(result: "AnalysisResult") -> None:
    if result.damage is not None:
        raise typer.Exit(EXIT_DAMAGED)
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"leaktrace {__version__}")


# Sub-commands, each in its own module: one import and one register(app) call per module.
from leaktrace.cli_policy import register as register_policy  # noqa: E402

register_policy(app)
from leaktrace.cli_proxy import register as register_proxy  # noqa: E402

register_proxy(app)
from leaktrace.cli_corpus import register as register_corpus  # noqa: E402

register_corpus(app)
from leaktrace.cli_signatures import register as register_signatures  # noqa: E402

register_signatures(app)


class _QuickExit:
    """Whether the command that ran may end the process without tearing it down."""

    allowed = False


_quick_exit = _QuickExit()


def main() -> None:
    """The ``leaktrace`` command.

    After a command that has closed everything it wrote (``analyze``), the
    process ends without freeing its objects one by one: the interpreter's
    teardown took 0.08 to 0.11 s after a 200 MB capture (the run's tables,
    memos and caches), a share of a run that the benchmark sees. Exit handlers still
    run and standard output and error are flushed first.
    """
    try:
        app()
    except SystemExit as done:
        if _quick_exit.allowed and (done.code is None or isinstance(done.code, int)):
            exit_now(done.code or 0)
        raise


def exit_now(status: int) -> None:
    """End the process with ``status`` after the exit handlers and a flush of
    stdout and stderr, skipping the interpreter's teardown; a normal exit while
    another thread still runs (the teardown would wait for it)."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        raise SystemExit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
