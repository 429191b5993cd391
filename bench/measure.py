"""Wall time, CPU time and peak memory of a command, a shell-style pipeline of
commands, or commands run side by side.

Peak RSS is read per process with ``wait4`` (the kernel's own high-water
mark, as ``/usr/bin/time -f %M`` reports it): ``RUSAGE_CHILDREN`` would give
the largest of all children ever waited for, not this command's. Processes
of one pipeline run at the same time, so their peaks add up. The kernel
carries the starting process's own peak into its children's figure, so the
measuring process must stay small (it streams what it checks).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class Measured:
    wall_s: float
    cpu_s: float  # user + system, all processes
    peak_rss_mb: float  # sum of the processes' peaks
    returncodes: list[int]
    stderr: str

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.returncodes)


def run_measured(
    commands: Sequence[Sequence[str]],
    *,
    stdout: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    together: bool = False,
) -> Measured:
    """Run ``commands`` as a pipeline (each one's stdout into the next one's stdin),
    or with ``together`` all at once and unconnected (no input, output discarded):
    the wall time is then that of the last to finish."""
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as errors:
        out = stdout.open("wb") if stdout is not None else None
        try:
            started = time.perf_counter()
            previous: subprocess.Popen[bytes] | None = None
            for i, command in enumerate(commands):
                if together:
                    stdin, stdout_to = subprocess.DEVNULL, subprocess.DEVNULL
                else:
                    last = i == len(commands) - 1
                    stdin = previous.stdout if previous is not None else subprocess.DEVNULL
                    stdout_to = (out or subprocess.DEVNULL) if last else subprocess.PIPE
                proc = subprocess.Popen(
                    list(command),
                    stdin=stdin,
                    stdout=stdout_to,
                    stderr=errors,
                    cwd=cwd,
                    env=env,
                )
                if previous is not None and previous.stdout is not None:
                    previous.stdout.close()  # the next process owns it now
                procs.append(proc)
                previous = proc
            cpu = 0.0
            peak_kb = 0
            codes = []
            for proc in procs:
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                codes.append(proc.returncode)
                cpu += usage.ru_utime + usage.ru_stime
                peak_kb += usage.ru_maxrss
            wall = time.perf_counter() - started
        finally:
            if out is not None:
                out.close()
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    return Measured(wall, cpu, peak_kb / 1024, codes, text)
