"""Importing leaktrace (CLI, analyze, the pytest plugin) must not import mitmproxy."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import leaktrace, leaktrace.analyze, leaktrace.cli, leaktrace.pytest_plugin
assert "mitmproxy" not in sys.modules, "mitmproxy imported too early"
from leaktrace import ProxySession
from leaktrace.proxy.session import ProxySession as Direct
assert ProxySession is Direct and "mitmproxy" in sys.modules
"""


def test_proxy_session_is_exported_lazily() -> None:
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
