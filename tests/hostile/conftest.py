"""Shared pieces for the hostile-input tests: the signature set and a CLI runner."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leaktrace.pipeline import PipelineConfig

ROOT = Path(__file__).resolve().parents[2]
LEAKTRACE = shutil.which("leaktrace", path=str(Path(sys.executable).parent)) or "leaktrace"


@pytest.fixture(scope="session")
def config() -> PipelineConfig:
    return PipelineConfig.load()


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEAKTRACE, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )
