"""Start-up stays light: the ``leaktrace`` command loads what the command it runs needs.

Each check runs a fresh interpreter, since this test process has imported
everything long ago.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_a_run_without_device_or_app_file_never_imports_pydantic(tmp_path: Path) -> None:
    """Importing pydantic and building its validators took longer than the rest of a
    start-up; it is imported only to validate a file: a signature set that is not in
    the cache yet, a device or an app file."""
    bare = tmp_path / "demo.pcap"
    shutil.copyfile(DEMO, bare)  # no device.yaml or app.yaml beside it
    out = tmp_path / "findings.jsonl"
    code = (
        "import sys\n"
        "from leaktrace.cli import app\n"
        f"sys.argv = ['leaktrace', 'analyze', {str(bare)!r}, '--quiet', '--out', {str(out)!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    env = {**os.environ, "LEAKTRACE_CACHE_DIR": str(tmp_path / "cache")}
    validating = ("pydantic", "leaktrace.signatures.schema")
    assert _loaded_after(code, validating, env) == sorted(validating)  # an empty cache
    first = out.read_text(encoding="utf-8")
    assert _loaded_after(code, validating, env) == []  # the set now comes from the cache
    assert out.read_text(encoding="utf-8") == first
    assert len(first.splitlines()) == 4  # the demo's fifth finding needs its device file


def _models_built_after_analyze(capture: Path) -> list[bool]:
    """Whether the declaration and device models were built (validators made) in a run."""
    code = (
        "import sys\n"
        "from leaktrace.cli import app\n"
        f"sys.argv = ['leaktrace', 'analyze', {str(capture)!r}, '--quiet', '--format', 'jsonl']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "from leaktrace.declaration import AppDeclaration\n"
        "from leaktrace.profile import DeviceProfile\n"
        "print([AppDeclaration.__pydantic_complete__, DeviceProfile.__pydantic_complete__])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    built: list[bool] = json.loads(done.stdout.strip().splitlines()[-1].lower())
    return built


def test_declaration_and_device_models_are_built_only_for_files_that_need_them(
    tmp_path: Path,
) -> None:
    """Building them costs a tenth of a start-up (and pydantic's plugin scan with it)."""
    bare = tmp_path / "demo.pcap"
    shutil.copyfile(DEMO, bare)  # no device.yaml or app.yaml beside it
    assert _models_built_after_analyze(bare) == [False, False]
    assert _models_built_after_analyze(DEMO) == [True, True]  # its sidecars are read


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
