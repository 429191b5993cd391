"""mitmproxy in its thread: started, waited for and stopped from the caller's thread."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from leaktrace.proxy.runner import ProxyRunner


class _SlowDone:
    """An addon whose done hook takes a while, as the --save file's flush can under load."""

    def __init__(self) -> None:
        self.finished = threading.Event()

    def done(self) -> None:
        time.sleep(0.5)
        self.finished.set()


def test_ctrl_c_while_waiting_does_not_cut_the_shutdown_short(tmp_path: Path) -> None:
    """The CLI waits for the proxy until Ctrl-C. The interrupt must leave the runner
    knowing that the proxy still runs, so that stop() waits for mitmproxy's shutdown
    and every addon's done hook (on Python 3.11 an interrupted Thread.join marked the
    thread stopped, and a --save file was left empty now and then)."""
    slow = _SlowDone()
    runner = ProxyRunner(
        {"listen_host": "127.0.0.1", "listen_port": 0, "confdir": str(tmp_path)}, [slow]
    )
    runner.start()
    try:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            runner.wait(10)
        timer.join()
        assert runner.running
        assert not slow.finished.is_set()
    finally:
        runner.stop()
    assert slow.finished.is_set()
    assert not runner.running


def test_wait_times_out_while_the_proxy_runs_and_returns_once_stopped(tmp_path: Path) -> None:
    runner = ProxyRunner({"listen_host": "127.0.0.1", "listen_port": 0, "confdir": str(tmp_path)})
    assert runner.wait(0) and not runner.running  # never started
    runner.start()
    try:
        assert not runner.wait(0.05) and runner.running
    finally:
        runner.stop()
    assert runner.wait(0) and not runner.running
