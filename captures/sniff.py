"""Run a packet capture process so that the file it writes is complete.

A capture started "in the background" is not ready when the process exists: the
first packets are lost unless we wait for the tool to say it is listening. And a
capture killed hard loses its buffered tail. This wrapper waits for the ready line,
and stops the tool with SIGINT so it flushes and prints its drop counters.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from types import TracebackType


class CaptureError(RuntimeError):
    pass


class Sniffer:
    """Context manager around tcpdump or dumpcap; raises if the tool fails or drops packets."""

    def __init__(
        self,
        argv: list[str],
        ready_marker: str = "listening on",
        settle_s: float = 0.3,
        timeout_s: float = 15.0,
    ) -> None:
        self.argv = argv
        self.ready_marker = ready_marker
        self.settle_s = settle_s
        self.timeout_s = timeout_s
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            if self.ready_marker in line:
                self._ready.set()
        self._ready.set()  # EOF: the tool exited; __enter__ notices via poll()

    def __enter__(self) -> Sniffer:
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.timeout_s) or self._proc.poll() is not None:
            self._kill()
            raise CaptureError(f"{self.argv[0]} did not start: {self.stderr_text()}")
        time.sleep(self.settle_s)  # the ready line is printed just before the socket is bound
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        if exc_type is None:
            time.sleep(self.settle_s)  # let the last FIN/ACK reach the capture
        self._proc.send_signal(signal.SIGINT)
        try:
            rc = self._proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self._kill()
            raise CaptureError(f"{self.argv[0]} did not stop on SIGINT") from None
        if self._reader is not None:
            self._reader.join(timeout=self.timeout_s)
        if exc_type is not None:
            return
        if rc != 0:
            raise CaptureError(f"{self.argv[0]} exited {rc}: {self.stderr_text()}")
        dropped = self.dropped()
        if dropped:
            raise CaptureError(f"{self.argv[0]} dropped {dropped} packets: {self.stderr_text()}")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stderr_text(self) -> str:
        return " | ".join(self.stderr_lines)

    def dropped(self) -> int:
        """Packets the kernel or the tool could not keep, from the tool's own summary."""
        total = 0
        for line in self.stderr_lines:
            tcpdump = re.search(r"(\d+) packets? dropped by (kernel|interface)", line)
            dumpcap = re.search(r"received/dropped on interface '[^']*': \d+/(\d+)", line)
            for match in (tcpdump, dumpcap):
                if match:
                    total += int(match.group(1))
        return total
