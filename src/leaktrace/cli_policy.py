"""``leaktrace report``, ``declare`` and ``diff``: argument parsing and output only.

Exit codes follow ``leaktrace analyze``: 0 done, 2 bad usage or an unusable
declaration, signature or input file; and 1 when ``--fail-on`` trips, with one
line per verdict that tripped it, for release pipelines.
"""

# Annotations are not postponed, and names imported only for type checking are
# quoted: typer reads them at every start (why: the note at the top of cli.py).

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leaktrace.policy.failon import FailOn

# The policy engine, reports and diffs load when a command runs, not when the
# ``leaktrace`` command starts (see docs/scaling.md, start-up).
if TYPE_CHECKING:
    from rich.console import Console

    from leaktrace.analyze import AnalysisResult
    from leaktrace.declaration import AppDeclaration
    from leaktrace.diff import RunDiff
    from leaktrace.pipeline import PipelineConfig
    from leaktrace.policy.engine import Evaluation
    from leaktrace.signatures.loader import SignatureSet

EXIT_GATE = 1
EXIT_CONFIG = 2


def _err() -> "Console":
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(code: int, message: str) -> typer.Exit:
    _err().print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _load(
    app_decl: Path | None, signatures: list[Path] | None
) -> tuple["AppDeclaration | None", "SignatureSet"]:
    from leaktrace.declaration import DeclarationError, load_declaration
    from leaktrace.signatures.loader import SignatureError, load_signatures

    try:
        decl = load_declaration(app_decl) if app_decl is not None else None
        sigs = load_signatures(list(signatures) if signatures else None)
    except (DeclarationError, SignatureError) as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    return decl, sigs


def verdict_counts_line(evaluation: "Evaluation") -> str:
    counts = evaluation.counts()
    by_rule = ", ".join(f"{k} {n}" for k, n in evaluation.counts_by_rule().items() if n)
    unchecked = [r.rule.id for r in evaluation.results if not r.checked]
    line = f"verdicts: {counts['violation']} violations, {counts['warning']} warnings"
    if by_rule:
        line += f" ({by_rule})"
    if unchecked:
        line += f"; not checked: {', '.join(unchecked)}"
    return line


def publish(
    evaluation: "Evaluation",
    out: Path,
    fail_on: FailOn | None,
    *,
    diff: "RunDiff | None" = None,
    quiet: bool = False,
) -> int:
    """Write the report directory, print where and the counts, and apply the gate.

    Returns the exit code the gate asks for (0 when it passes or is not set).
    """
    from leaktrace.policy.engine import gate
    from leaktrace.report.files import write_report

    files = write_report(out, evaluation, diff=diff)
    err = _err()
    if not quiet:
        err.print(f"report: {files.html}")
        err.print(verdict_counts_line(evaluation))
    if fail_on is None:
        return 0
    reasons = gate(evaluation, fail_on)
    for reason in reasons:
        err.print(f"FAIL {reason}", markup=False)
    if reasons:
        err.print(f"gate --fail-on {fail_on.value}: {len(reasons)} verdict(s) trip it")
        return EXIT_GATE
    return 0


AppOption = Annotated[
    Path | None, typer.Option("--app", help="app.yaml: the declaration to judge against")
]
SignaturesOption = Annotated[
    list[Path] | None, typer.Option(help="extra signature directory (repeatable)")
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help="exit 1 when a verdict of this kind is found: violation, undisclosed or any",
    ),
]


def report(
    findings: Annotated[Path, typer.Argument(help="findings or timeline JSONL file")],
    app_decl: AppOption = None,
    out: Annotated[
        Path | None, typer.Option(help="report directory (default: <findings>-report)")
    ] = None,
    signatures: SignaturesOption = None,
    capture: Annotated[
        Path | None,
        typer.Option(help="the capture the findings came from, to place consent: {url: ...}"),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(help="an earlier run (findings or verdicts.json): adds a re-test section"),
    ] = None,
    reveal: Annotated[
        bool, typer.Option(help="keep values the run revealed in full (never unmasks)")
    ] = False,
    fail_on: FailOnOption = None,
    quiet: Annotated[bool, typer.Option(help="print nothing but gate failures")] = False,
) -> None:
    """Judge a session against the app's declaration; write the HTML report, lists and verdicts."""
    from leaktrace.diff import DiffError, diff_runs, load_run
    from leaktrace.report.session import evaluate_file
    from leaktrace.sources.pcap import CaptureError
    from leaktrace.timeline import TimelineError

    decl, sigs = _load(app_decl, signatures)
    try:
        evaluation = evaluate_file(findings, decl, sigs, reveal=reveal, capture=capture)
        diff = None
        if compare is not None:
            diff = diff_runs(load_run(compare, decl, sigs), load_run(findings, decl, sigs))
    except (TimelineError, DiffError, CaptureError) as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    target = out or findings.with_name(findings.stem + "-report")
    code = publish(evaluation, target, fail_on, diff=diff, quiet=quiet)
    raise typer.Exit(code)


def declare(
    from_findings: Annotated[
        Path, typer.Option("--from-findings", help="findings or timeline JSONL file")
    ],
    out: Annotated[Path | None, typer.Option(help="write app.yaml here (default: stdout)")] = None,
    app_id: Annotated[str, typer.Option(help="the app's id")] = "TODO.app.id",
    app_name: Annotated[str | None, typer.Option(help="the app's name")] = None,
    first_party: Annotated[
        list[str] | None, typer.Option(help="first-party domain (repeatable)")
    ] = None,
    signatures: SignaturesOption = None,
) -> None:
    """Draft an app.yaml from what a session observed, for the app team to correct."""
    from leaktrace.policy.draft import draft_declaration, draft_yaml
    from leaktrace.timeline import TimelineError, read_timeline

    _, sigs = _load(None, signatures)
    try:
        timeline = read_timeline(from_findings)
    except TimelineError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    doc = draft_declaration(
        timeline.findings,
        sigs,
        app_id=app_id,
        app_name=app_name,
        first_party=first_party or (),
    )
    text = draft_yaml(doc)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        _err().print(f"draft declaration: {out}")


def diff(
    before: Annotated[Path, typer.Argument(help="earlier run: findings JSONL or verdicts.json")],
    after: Annotated[Path, typer.Argument(help="later run: findings JSONL or verdicts.json")],
    app_decl: AppOption = None,
    signatures: SignaturesOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    out: Annotated[Path | None, typer.Option(help="also write the JSON diff here")] = None,
) -> None:
    """Which flows of data stopped, remain or are new between two runs of the same app."""
    from rich.console import Console

    from leaktrace.diff import DiffError, diff_record, diff_runs, load_run, render_diff

    if fmt not in ("table", "json"):
        raise _fail(EXIT_CONFIG, f"--format must be table or json, not {fmt!r}")
    decl, sigs = _load(app_decl, signatures)
    try:
        result = diff_runs(load_run(before, decl, sigs), load_run(after, decl, sigs))
    except DiffError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    record = diff_record(result)
    if out is not None:
        out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if fmt == "json":
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        render_diff(result, console)


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(declare)
    app.command("diff")(diff)


def judge_analysis(
    result: "AnalysisResult",
    config: "PipelineConfig",
    report_dir: Path | None,
    fail_on: FailOn | None,
    *,
    quiet: bool = False,
) -> int:
    """``analyze --report DIR --fail-on X``: judge the analysis just made; the gate's exit code."""
    from leaktrace.policy.engine import gate
    from leaktrace.report.session import evaluate_analysis

    evaluation = evaluate_analysis(result, config.app, config.signatures, reveal=config.reveal)
    if report_dir is not None:
        return publish(evaluation, report_dir, fail_on, quiet=quiet)
    reasons = gate(evaluation, fail_on) if fail_on is not None else []
    err = _err()
    if not quiet:
        err.print(verdict_counts_line(evaluation))
    for reason in reasons:
        err.print(f"FAIL {reason}", markup=False)
    return EXIT_GATE if reasons else 0
