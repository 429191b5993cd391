"""Timing through the real proxy and in a capture of the same traffic.

Policy rules compare a finding's time with the moments a harness marks (consent
given, withdrawn), so the proxy and a capture must time the same request alike.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from leaktrace.analyze import analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device
from leaktrace.proxy.session import ProxySession

from .lab import DEVICE, VALUES, RouteTo, Tcpdump, Upstream, keys


def test_a_slow_upload_is_timed_by_its_first_byte_live_and_in_the_capture(tmp_path: Path) -> None:
    """The proxy times a request by its first byte; the capture of the same request must
    too, or an upload that began before consent would be judged as sent after it."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed: the parity capture needs it")
    pause_s = 1.0
    plain = Upstream()
    session = ProxySession(device=DEVICE, addons=[RouteTo(plain.port)])
    pcap = tmp_path / "slow.pcap"
    body = f"imei={VALUES['imei']}".encode()
    head = (
        "POST http://ulogs.umeng.com/up HTTP/1.1\r\nHost: ulogs.umeng.com\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with session, Tcpdump(pcap, session.address[1]):
            with socket.create_connection(session.address, timeout=10) as client:
                client.sendall(head)
                time.sleep(pause_s)  # the head and the body in segments a second apart
                client.sendall(body)
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
            live = session.findings()
    except PermissionError:
        pytest.skip("capturing on lo needs root")
    finally:
        plain.close()
    offline = analyze_capture(pcap, PipelineConfig.load(device=load_device(DEVICE))).findings
    expected = {("imei", "ulogs.umeng.com", "body>form:imei", "plain")}
    assert keys(live) == keys(offline) == expected
    assert abs(live[0].ts - offline[0].ts) < pause_s / 4
