"""Suite-wide setup: the start-up cache lives in a private temporary directory.

Set before collection so that modules which load signatures at import time,
and every ``leaktrace`` subprocess a test starts, use it too; the user's own
cache (``~/.cache/leaktrace``) is never read or written by the tests.

Ctrl-C is made deliverable: the proxy's tests interrupt it, and a suite started
with SIGINT ignored (under ``nohup``, or as a background job of a shell without
job control) would pass that on to every process it starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from leaktrace.cache import ENV_VAR

_created: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A handler, unlike SIG_IGN, is reset by exec: the subprocesses get the
        # default again, and Python turns that into KeyboardInterrupt.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if ENV_VAR not in os.environ:
        path = tempfile.mkdtemp(prefix="leaktrace-cache-")  # mode 0700: a usable cache dir
        _created.append(path)
        os.environ[ENV_VAR] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _created:
        if os.environ.get(ENV_VAR) == path:
            del os.environ[ENV_VAR]
        shutil.rmtree(path, ignore_errors=True)
    _created.clear()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own, not yet created: what a test counts in it is its own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder
