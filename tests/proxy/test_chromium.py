"""A real browser through the real proxy: headless Chromium (the network stack Android
apps embed as Cronet) speaks HTTP/2 over TLS to mitmproxy on 127.0.0.1.

Its page POSTs JSON to its own host and sends a cross-site GET, as an app's web view
would. The proxy's live findings, and the findings of the same traffic captured on
loopback and opened with Chromium's own key log, are the same.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from headless import chromium, needs_chromium, spki_pin
from leaktrace.analyze import analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device
from leaktrace.proxy.session import ProxySession
from leaktrace.sources.capture import CaptureSource
from leaktrace.tls.keylog import load_keylog
from leaktrace.types import Message

from .lab import APP, DEVICE, VALUES, RouteTo, Tcpdump, Upstream, keys, self_signed

pytestmark = needs_chromium

PAGE = (
    "<html><head><link rel=icon href='data:,'></head><body><script>"
    "fetch('/v1/login', {method: 'POST', headers: {'content-type': 'application/json'}, "
    f"body: JSON.stringify({json.dumps({'device': {'android_id': VALUES['android_id']}})})}})"
    ".then(r => r.text())"
    f".then(a => fetch('https://ulogs.umeng.com/track?imei={VALUES['imei']}&v=3', "
    "{mode: 'no-cors'}).then(() => a))"
    ".then(t => document.body.setAttribute('data-sent', t));"
    "</script></body></html>"
).encode()
EXPECTED = {
    ("android_id", "api.example.com", "body>json:$.device.android_id", "plain"),
    ("imei", "ulogs.umeng.com", "query:imei", "plain"),
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[int]:
    """The page's sites, all one server on 127.0.0.1 that the proxy routes every host to."""
    cert = self_signed(tmp_path, ["api.example.com", "ulogs.umeng.com"])
    upstream = Upstream(cert, pages={"/page": PAGE})
    yield upstream.port
    upstream.close()


def test_chromium_through_the_proxy_and_its_capture_give_the_same_findings(
    site: int, tmp_path: Path
) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed: the parity capture needs it")
    pcap, secrets = tmp_path / "chromium.pcap", tmp_path / "chromium.keys"
    session = ProxySession(
        device=DEVICE,
        app=APP,
        addons=[RouteTo(site)],  # every host is this site on 127.0.0.1: nothing is resolved
        mitm_options={"ssl_insecure": True, "connection_strategy": "lazy"},
    )
    with session:
        try:
            with Tcpdump(pcap, session.address[1]):
                dom = chromium(
                    tmp_path,
                    f"--proxy-server={session.url}",
                    f"--ignore-certificate-errors-spki-list={spki_pin(session.ca_cert)}",
                    f"--ssl-key-log-file={secrets}",
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    "https://api.example.com/page",
                ).stdout
        except PermissionError:
            pytest.skip("capturing on lo needs root")
        live = session.findings()
    assert 'data-sent="ok"' in dom  # the page's script ran to its end
    assert keys(live) == EXPECTED
    assert {(f.host, f.transport) for f in live} == {
        ("api.example.com", "https"),
        ("ulogs.umeng.com", "https"),
    }
    config = PipelineConfig.load(device=load_device(DEVICE))
    offline = analyze_capture(pcap, config, keylog=load_keylog([secrets]))
    assert keys(offline.findings) == EXPECTED
    assert offline.coverage.flows_opaque == 0
    # What the capture holds: a CONNECT per host, then HTTP/2 inside each tunnel.
    read = CaptureSource(pcap, keylog=load_keylog([secrets]))
    requests = {
        (m.host, m.http.version, m.http.method, m.http.target)
        for m in read
        if isinstance(m, Message) and m.http is not None and m.host == "api.example.com"
    }
    assert requests >= {
        ("api.example.com", "HTTP/1.1", "CONNECT", "api.example.com:443"),
        ("api.example.com", "HTTP/2", "GET", "/page"),
        ("api.example.com", "HTTP/2", "POST", "/v1/login"),
    }
