"""The addon on its own: options validated once, and loaded by a user's ``mitmdump -s``."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow

from leaktrace.cli_proxy import addon_path
from leaktrace.proxy.addon import LeaktraceAddon

from .lab import APP, DEVICE, VALUES, opener

MITMDUMP = shutil.which("mitmdump", path=str(Path(sys.executable).parent)) or "mitmdump"


def run(coro_fn: object) -> None:
    async def main() -> None:
        await coro_fn()  # type: ignore[operator]

    asyncio.run(main())


def test_options_configure_the_pipeline_and_flows_get_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"

    async def body() -> None:
        addon = LeaktraceAddon()
        with taddons.context(addon) as tctx:
            tctx.configure(
                addon,
                leaktrace_device=str(DEVICE),
                leaktrace_app=str(APP),
                leaktrace_out=str(out),
                leaktrace_block_undeclared=True,
            )
            flow = tflow.tflow()
            flow.request.host = "ulogs.umeng.com"
            flow.request.headers["Host"] = "ulogs.umeng.com"
            flow.request.path = f"/t?imei={VALUES['imei']}"
            addon.request(flow)
            assert flow.response is not None and flow.response.status_code == 403
            meta = flow.metadata["leaktrace"]
            assert meta["types"] == ["imei"] and meta["undeclared"] == ["imei"]
            assert meta["sdk"] == "umeng" and meta["blocked"] is True
            addon.done()

    run(body)
    assert '"type": "imei"' in out.read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"leaktrace_block_undeclared": True}, "needs the app's declaration"),
        ({"leaktrace_device": "/nonexistent/device.yaml"}, "device.yaml"),
        ({"leaktrace_ignore_hosts": ["("]}, "leaktrace_ignore_hosts"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(
    options: dict[str, object], message: str
) -> None:
    async def body() -> None:
        addon = LeaktraceAddon()
        with taddons.context(addon) as tctx, pytest.raises(exceptions.OptionsError, match=message):
            tctx.configure(addon, **options)

    run(body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mitmdump_loads_the_addon_with_set_options(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(MITMDUMP, "-s", str(addon_path()), "--listen-host", "127.0.0.1", "-p", str(port)),
            *("--set", f"confdir={tmp_path}", "--set", f"leaktrace_device={DEVICE}"),
            *("--set", "leaktrace_sinkhole=true", "--set", "termlog_verbosity=info"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.1)
        client = opener(f"http://127.0.0.1:{port}", tmp_path / "mitmproxy-ca-cert.pem")
        with client.open(f"https://ulogs.umeng.com/a?imei={VALUES['imei']}", timeout=10) as r:
            assert r.status == 200 and r.headers["X-Leaktrace"] == "sinkhole"
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert "third umeng ulogs.umeng.com imei=86**********190 query:imei" in output


def test_mitmdump_refuses_blocking_without_a_declaration(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            MITMDUMP,
            "-s",
            str(addon_path()),
            "-p",
            "0",
            "--listen-host",
            "127.0.0.1",
            "--set",
            f"confdir={tmp_path}",
            "--set",
            "leaktrace_block_undeclared=true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "leaktrace_block_undeclared needs the app's declaration" in proc.stdout + proc.stderr
