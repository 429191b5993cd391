"""End to end: the real proxy between a real client and a real HTTPS server, all on 127.0.0.1.

The same requests sent in plain HTTP and captured with tcpdump give the same
findings through ``analyze``; the session saved with ``--save`` does too.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leaktrace.analyze import analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device
from leaktrace.proxy.session import ProxySession
from leaktrace.timeline import read_timeline
from leaktrace.tls.keylog import load_keylog

from .lab import (
    APP,
    DEVICE,
    REQUESTS,
    VALUES,
    RouteTo,
    Tcpdump,
    Upstream,
    expected_keys,
    keys,
    self_signed,
    send,
)

HOSTS = sorted({r.host for r in REQUESTS} | {"pinned.umeng.com", "h2.getui.net"})


@dataclass
class Lab:
    session: ProxySession
    upstream: Upstream
    upstream_cert: Path
    save: Path
    timeline: Path
    statuses: list[int]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("e2e")
    cert = self_signed(tmp, HOSTS)
    upstream = Upstream(cert)
    session = ProxySession(
        device=DEVICE,
        app=APP,
        save=tmp / "session.mitm",
        timeline=tmp / "timeline.jsonl",
        ignore_hosts=[r"^pinned\.umeng\.com$"],
        addons=[RouteTo(upstream.port)],
        # lazy: the client may speak HTTP/2 to the proxy while the upstream speaks HTTP/1.1
        mitm_options={"ssl_insecure": True, "connection_strategy": "lazy"},
    )
    with session:
        session.mark("consent", button="agree")
        statuses = send(session.url, session.ca_cert, "https")
        yield Lab(
            session, upstream, cert[0], tmp / "session.mitm", tmp / "timeline.jsonl", statuses
        )
    upstream.close()


def test_https_requests_through_the_proxy_give_the_findings(lab: Lab) -> None:
    assert lab.statuses == [200] * len(REQUESTS)
    # forwarded unchanged: the server got every request, bodies as sent
    assert [(m, h, p, b) for m, h, p, b in lab.upstream.received[: len(REQUESTS)]] == [
        (r.method, r.host, r.path, r.body) for r in REQUESTS
    ]
    findings = lab.session.findings()
    assert keys(findings) == expected_keys()
    for f in findings:
        assert f.transport == "https"
        assert f.origin == "proxy"
        assert f.flow.startswith("1:")
        assert "*" in f.value  # masked by default
    by_host = {f.host: f for f in findings}
    assert (by_host["ulogs.umeng.com"].party, by_host["ulogs.umeng.com"].sdk) == ("third", "umeng")
    assert by_host["api.example.com"].party == "first"


def test_http2_requests_are_read_like_http1(lab: Lab) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    before = len(lab.session.findings())
    proc = subprocess.run(
        [
            *("curl", "-sS", "--http2", "--proxy", lab.session.url),
            *("--cacert", str(lab.session.ca_cert), "-d", f"mac={VALUES['mac']}"),
            *("-w", "%{http_version}", "https://h2.getui.net/api.php"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert proc.stdout.endswith("2")  # the client spoke HTTP/2 to the proxy
    new = lab.session.findings(before)
    assert keys(new) == {("mac", "h2.getui.net", "body>form:mac", "plain")}
    assert new[0].sdk == "getui"


def test_passed_through_host_is_recorded_with_its_sdk(lab: Lab) -> None:
    ctx = ssl.create_default_context(cafile=str(lab.upstream_cert))  # trusts the server only
    host, port = lab.session.address
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"CONNECT pinned.umeng.com:443 HTTP/1.1\r\nHost: pinned.umeng.com:443\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        with ctx.wrap_socket(raw, server_hostname="pinned.umeng.com") as tls:
            # the server's own certificate arrived: the proxy did not intercept
            assert tls.getpeercert() is not None
            tls.sendall(b"GET /p HTTP/1.1\r\nHost: pinned.umeng.com\r\nConnection: close\r\n\r\n")
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
    events = [e for e in lab.session.events() if e.name == "tls_passthrough"]
    assert len(events) == 1
    data = dict(events[0].data)
    assert (data["sni"], data["sdk"], data["party"]) == ("pinned.umeng.com", "umeng", "third")
    dest = {d["host"]: d for d in lab.session.summary()["destinations"]}
    assert dest["pinned.umeng.com"]["transports"] == ["tls"]


def test_plain_http_capture_gives_the_same_findings(lab: Lab, tmp_path: Path) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed: the parity capture needs it")
    plain = Upstream()
    pcap = tmp_path / "plain.pcap"
    try:
        with Tcpdump(pcap, plain.port):
            send(None, None, "http", port=plain.port)
    except PermissionError:
        pytest.skip("capturing on lo needs root")
    finally:
        plain.close()
    config = PipelineConfig.load(device=load_device(DEVICE))
    offline = analyze_capture(pcap, config).findings
    proxy = [f for f in lab.session.findings() if f.host in {r.host for r in REQUESTS}]
    assert keys(offline) == keys(proxy) == expected_keys()


def test_https_through_the_proxy_captured_with_a_key_log_gives_the_same_findings(
    lab: Lab, tmp_path: Path
) -> None:
    """A capture taken between the device and its proxy: each request is a CONNECT,
    then TLS to the named host inside the tunnel, which the client's key log opens."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed: the parity capture needs it")
    pcap, secrets = tmp_path / "proxied.pcap", tmp_path / "client.keys"
    before = len(lab.session.findings())
    try:
        with Tcpdump(pcap, lab.session.address[1]):
            statuses = send(lab.session.url, lab.session.ca_cert, "https", keylog=secrets)
    except PermissionError:
        pytest.skip("capturing on lo needs root")
    assert statuses == [200] * len(REQUESTS)
    live = lab.session.findings(before)
    config = PipelineConfig.load(device=load_device(DEVICE))
    offline = analyze_capture(pcap, config, keylog=load_keylog([secrets]))
    assert keys(offline.findings) == keys(live) == expected_keys()
    assert {f.transport for f in offline.findings} == {"https"}
    assert offline.coverage.flows_opaque == 0
    assert not analyze_capture(pcap, config).findings  # without the keys: only names


def test_timeline_file_holds_events_and_findings(lab: Lab) -> None:
    timeline = read_timeline(lab.timeline)
    assert timeline.events[0].name == "consent"
    assert dict(timeline.events[0].data) == {"button": "agree"}
    assert timeline.events[0].mono is not None
    assert keys(timeline.findings) >= expected_keys()
    # findings after the consent mark are later on both clocks' common scale
    assert all(f.ts >= timeline.events[0].ts for f in timeline.findings)
    assert json.loads(lab.timeline.read_text().splitlines()[0])["record"] == "event"


def test_saved_session_analyzed_offline_gives_the_same_findings(lab: Lab) -> None:
    # runs last: the flow file is complete once the proxy has stopped
    lab.session.stop()
    config = PipelineConfig.load(device=load_device(DEVICE))
    offline = analyze_capture(lab.save, config)
    live = lab.session.findings()
    assert keys(offline.findings) == keys(live)
    assert offline.coverage.flows_decoded >= 1
    assert all(f.origin.startswith("mitm:session.mitm#") for f in offline.findings)
