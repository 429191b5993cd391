"""What the figures were measured on: they mean little without the machine and versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _tshark() -> str | None:
    exe = shutil.which("tshark")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0] if out.stdout else None


ROOT = Path(__file__).resolve().parents[1]


def source_commit(root: Path = ROOT) -> str | None:
    """The checkout's commit, ``+changes`` when tracked files differ from it; None
    outside a git checkout. A figure is only reproducible with the code that made it."""
    git = shutil.which("git")
    if git is None:
        return None

    def output(*args: str) -> str:
        command = [git, "-C", str(root), *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        head = output("rev-parse", "--short", "HEAD")
        dirty = output("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+changes" if dirty else head or None


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, load (other work on a shared machine skews every figure) and versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_mb": _memory_mb(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "leaktrace": _version("leaktrace"),
        "commit": source_commit(),
        "hyperscan": _version("hyperscan"),
        "scapy": _version("scapy"),
        "tshark": _tshark(),
    }
