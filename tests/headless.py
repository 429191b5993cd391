"""Headless Chromium for the tests that need a real browser (Debian's ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_S = 60

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium is not installed (make tools, or scripts/install-tools.sh)",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run it once with a fresh profile under ``profile``, quiet about its own services."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile / 'profile'}",
        *args,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=True, cwd=profile
    )
