"""Start-up stays light: the ``leaktrace`` command loads what the command it runs needs.

Each check runs a fresh interpreter, since this test process has imported
everything long ago.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leaktrace.cli import app

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "captures" / "demo.pcap"

# Libraries no command needs at start-up, and that ``analyze`` of a capture
# without HTTP/2, QUIC or key logs never needs.
NEVER_AT_START = (
    "mitmproxy",
    "dask",
    "distributed",
    "duckdb",
    "pyarrow",
    "requests",
    "urllib3",
    "tldextract",
    "hpack",
    "hyperframe",
    "h2",
    "aioquic",
    "cryptography",
    "pyshark",
    "scapy",
)
# leaktrace's own modules that only other commands (or other flows) use.
NOT_FOR_ANALYZE = (
    "leaktrace.policy.engine",
    "leaktrace.diff",
    "leaktrace.report",
    "leaktrace.corpus.runner",
    "leaktrace.proxy",
    "leaktrace.signatures.exodus",
    "leaktrace.protocols.http2",
    "leaktrace.protocols.quic",
    "leaktrace.tls.decrypt",
    "leaktrace.parallel",  # only captures big enough to split fork workers
    "phonenumbers",  # only numbers written with a leading "+" need it
    "zstandard",  # only zstd-compressed bodies need it
)
# What a quiet run writing JSON lines never needs: rich draws only tables,
# progress bars and the stderr summary.
NOT_FOR_QUIET_JSONL = ("rich", "leaktrace.sinks.table")


def _loaded_after(
    code: str, names: tuple[str, ...], env: dict[str, str] | None = None
) -> list[str]:
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"names = {names!r}\n"
        "print(json.dumps(sorted(n for n in names if n in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_heavy_library() -> None:
    heavy = (*NEVER_AT_START, *NOT_FOR_ANALYZE, "rich", "yaml", "phonenumbers", "hyperscan")
    heavy += ("leaktrace.pipeline", "leaktrace.analyze", "leaktrace.signatures.schema")
    assert _loaded_after("import leaktrace.cli", heavy) == []


def _callbacks(typer_app: typer.Typer) -> list[Callable[..., object]]:
    found = [info.callback for info in typer_app.registered_commands if info.callback]
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        found += _callbacks(group.typer_instance)
    return found


def test_command_annotations_are_not_strings() -> None:
    """typer compiles and evaluates a string annotation twice a command at every start
    (75 M instructions): the CLI modules do not postpone their annotations."""
    callbacks = _callbacks(app)
    assert len(callbacks) >= len(COMMANDS) + len(SUBCOMMANDS) - 2  # corpus, signatures
    postponed = {
        f"{cb.__module__}.{cb.__qualname__}: {name}"
        for cb in callbacks
        for name, hint in inspect.get_annotations(cb).items()
        if isinstance(hint, str)
    }
    assert postponed == set()


def test_the_probe_sees_imports() -> None:
    """The check above is only worth something if a loaded module does show up."""
    assert _loaded_after("import leaktrace.cli, leaktrace.diff", ("leaktrace.diff",)) == [
        "leaktrace.diff"
    ]


def test_analyze_loads_only_what_the_capture_needs(tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    code = (
        "import sys\n"
        "from leaktrace.cli import app\n"
        f"sys.argv = ['leaktrace', 'analyze', {str(DEMO)!r}, '--quiet', '--out', {str(out)!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    heavy = (*NEVER_AT_START, *NOT_FOR_ANALYZE, *NOT_FOR_QUIET_JSONL)
    assert _loaded_after(code, heavy) == []
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5  # the demo's findings


def _analyze_code(capture: Path, out: Path) -> str:
    return (
        "import sys\n"
        "from leaktrace.cli import app\n"
        f"sys.argv = ['leaktrace', 'analyze', {str(capture)!r}, '--quiet', '--out', {str(out)!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )


# What only validating a file needs: YAML, pydantic and the schemas.
VALIDATING = (
    "pydantic",
    "yaml",
    "leaktrace.signatures.schema",
    "leaktrace.profile_schema",
    "leaktrace.declaration_schema",
)


@pytest.mark.parametrize("sidecars", [False, True], ids=["bare", "device+app"])
def test_a_run_with_files_read_before_never_imports_pydantic(
    tmp_path: Path, sidecars: bool
) -> None:
    """Importing pydantic and YAML and building validators took longer than the rest of
    a start-up; they are loaded only to validate a file not seen before: a signature
    set, a device or an app file. Later runs read what it validated to from the cache."""
    capture = tmp_path / "demo.pcap"
    shutil.copyfile(DEMO, capture)
    if sidecars:  # device.yaml and app.yaml beside the capture, as the demo has them
        for name in ("device.yaml", "app.yaml"):
            shutil.copyfile(DEMO.parent / name, tmp_path / name)
    out = tmp_path / "findings.jsonl"
    code = _analyze_code(capture, out)
    env = {**os.environ, "LEAKTRACE_CACHE_DIR": str(tmp_path / "cache")}
    cold = ["pydantic", "yaml", "leaktrace.signatures.schema"]
    if sidecars:
        cold += ["leaktrace.profile_schema", "leaktrace.declaration_schema"]
    assert _loaded_after(code, VALIDATING, env) == sorted(cold)  # an empty cache
    first = out.read_text(encoding="utf-8")
    assert _loaded_after(code, VALIDATING, env) == []  # everything from the cache
    assert out.read_text(encoding="utf-8") == first
    # The demo's fifth finding needs its device file.
    assert len(first.splitlines()) == (5 if sidecars else 4)


@pytest.mark.parametrize(
    ("sidecars", "expected"),
    [
        ((), []),
        (("app.yaml",), ["leaktrace.declaration"]),
        (("device.yaml",), ["leaktrace.profile"]),
    ],
    ids=["bare", "app", "device"],
)
def test_the_app_and_device_modules_load_with_their_files_only(
    tmp_path: Path, sidecars: tuple[str, ...], expected: list[str]
) -> None:
    """Importing them (building their record classes) was about 44 M instructions of
    every start-up, 5% of a run on the demo capture."""
    capture = tmp_path / "demo.pcap"
    shutil.copyfile(DEMO, capture)
    for name in sidecars:
        shutil.copyfile(DEMO.parent / name, tmp_path / name)
    code = _analyze_code(capture, tmp_path / "findings.jsonl")
    assert _loaded_after(code, ("leaktrace.declaration", "leaktrace.profile")) == expected


def test_an_edited_device_file_is_validated_again(tmp_path: Path) -> None:
    capture = tmp_path / "demo.pcap"
    shutil.copyfile(DEMO, capture)
    device = tmp_path / "device.yaml"
    shutil.copyfile(DEMO.parent / "device.yaml", device)
    out = tmp_path / "findings.jsonl"
    code = _analyze_code(capture, out)
    env = {**os.environ, "LEAKTRACE_CACHE_DIR": str(tmp_path / "cache")}
    assert "leaktrace.profile_schema" in _loaded_after(code, VALIDATING, env)
    assert _loaded_after(code, VALIDATING, env) == []
    device.write_text(device.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert _loaded_after(code, VALIDATING, env) == ["leaktrace.profile_schema", "pydantic", "yaml"]


def test_http2_and_quic_parsers_load_on_first_use() -> None:
    code = (
        "from leaktrace.sources.appstream import AppStream\n"
        "AppStream().feed(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n')\n"
    )
    assert _loaded_after(code, ("hpack", "leaktrace.protocols.http2")) == [
        "hpack",
        "leaktrace.protocols.http2",
    ]


COMMANDS = ["analyze", "version", "report", "declare", "diff", "proxy", "corpus", "query"]
COMMANDS.append("signatures")
SUBCOMMANDS = ["corpus run", "corpus report", "signatures lint", "signatures list"]
SUBCOMMANDS += ["signatures show", "signatures match", "signatures import-exodus"]


def test_every_command_is_still_listed() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for command in COMMANDS:
        assert f" {command} " in result.output, command


@pytest.mark.parametrize(
    "argv",
    [[c, "--help"] for c in [*COMMANDS, *SUBCOMMANDS]],
    ids=lambda argv: argv[0],
)
def test_every_command_help_still_works(argv: list[str]) -> None:
    args = [*argv[0].split(), *argv[1:]]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_corpus_run_never_imports_duckdb(tmp_path: Path) -> None:
    """Only ``query`` and ``report`` read the store with DuckDB (60 ms to import)."""
    code = (
        "import sys\n"
        "from leaktrace.cli import app\n"
        f"sys.argv = ['leaktrace', 'corpus', {str(DEMO)!r}, '--out', {str(tmp_path / 's')!r},"
        " '-j', '1']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    assert _loaded_after(code, ("duckdb", "pyarrow")) == ["pyarrow"]
