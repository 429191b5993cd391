"""``ProxySession`` with no upstream at all: sinkhole, blocking, pinning, marks, attaching."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
from collections.abc import Iterator

import pytest
import yaml

from leaktrace.declaration import parse_declaration
from leaktrace.policy.engine import evaluate
from leaktrace.proxy.runner import ProxyStartError
from leaktrace.proxy.session import ControlError, ProxySession
from leaktrace.signatures.loader import load_signatures
from leaktrace.sinks.records import finding_record
from leaktrace.timeline import Timeline
from leaktrace.types import TimelineEvent

from .lab import APP, DEVICE, REQUESTS, VALUES, opener


@pytest.fixture(scope="module")
def session() -> Iterator[ProxySession]:
    # no RouteTo addon and no upstream: any forwarded request would fail with 502
    with ProxySession(
        device=DEVICE, app=APP, sinkhole=True, block_undeclared=True, control=True
    ) as running:
        yield running


def fetch(session: ProxySession, url: str, body: bytes | None = None) -> tuple[int, bytes, str]:
    client = opener(session.url, session.ca_cert)
    try:
        with client.open(url, data=body, timeout=10) as response:
            return response.status, response.read(), response.headers.get("X-Leaktrace", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("X-Leaktrace", "")


def test_sinkhole_answers_locally_with_no_upstream(session: ProxySession) -> None:
    before = len(session.findings())
    status, body, mark = fetch(session, f"https://api.example.com/v1/login?phone={VALUES['phone']}")
    assert (status, body, mark) == (200, b"", "sinkhole")
    new = session.findings(before)
    assert [(f.type, f.host, f.party) for f in new] == [("phone", "api.example.com", "first")]


def test_undeclared_sharing_is_blocked_and_declared_passes(session: ProxySession) -> None:
    imei = REQUESTS[0]
    status, body, mark = fetch(session, f"https://{imei.host}{imei.path}")
    assert (status, mark) == (403, "blocked")
    assert b"undeclared" in body
    # location to Baidu's location SDK is declared in app.yaml
    status, _, mark = fetch(
        session, "https://loc.map.baidu.com/sdk.php?lat=39.908722&lng=116.397499"
    )
    assert (status, mark) == (200, "sinkhole")
    undeclared = {(f.type, f.sdk) for f in session.undeclared()}
    assert ("imei", "umeng") in undeclared
    assert ("location", "baidu_location") not in undeclared


def test_client_refusing_the_ca_is_recorded_as_pinning(session: ProxySession) -> None:
    ctx = ssl.create_default_context()  # system roots only: mitmproxy's CA is not trusted
    host, port = session.address
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"CONNECT sdk.open.phone.igexin.com:443 HTTP/1.1\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="sdk.open.phone.igexin.com")
    refused = _wait_events(session, "tls_refused")
    assert len(refused) == 1
    data = dict(refused[0].data)
    assert data["sni"] == "sdk.open.phone.igexin.com"
    assert (data["sdk"], data["party"]) == ("getui", "third")
    assert "does not trust" in data["error"]
    cov = session.summary()["coverage"]
    assert cov["opaque_reasons"] == {"tls_refused": 1}


def _wait_events(session: ProxySession, name: str) -> list[TimelineEvent]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [e for e in session.events() if e.name == name]
        if found:
            return found
        time.sleep(0.02)
    return []


def test_marks_findings_and_summary(session: ProxySession) -> None:
    event = session.mark("screen:Settings", step=3)
    assert event.name == "screen:Settings" and dict(event.data) == {"step": "3"}
    assert session.events()[-1] == event
    summary = session.summary()
    assert summary["findings"] == len(session.findings())
    assert summary["events"] == len(session.events())
    assert session.ca_cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_attached_session_sees_the_same_session(session: ProxySession) -> None:
    assert session.control is not None
    attached = ProxySession.attach(session.control.url, session.control.token)
    assert attached.url == session.url
    assert attached.ca_cert == session.ca_cert
    attached.mark("login", user="tester")
    assert session.events()[-1].name == "login"
    # records as the JSONL contract writes them (timestamps to the microsecond)
    assert [finding_record(f) for f in attached.findings()] == [
        finding_record(f) for f in session.findings()
    ]
    assert attached.summary()["findings"] == session.summary()["findings"]
    with pytest.raises(ControlError, match="401"):
        ProxySession.attach(session.control.url, "wrong-token")


def test_a_second_proxy_in_the_same_process_is_refused(session: ProxySession) -> None:
    with pytest.raises(ProxyStartError, match="already runs"):
        ProxySession(config=session.config).start()


def test_a_harness_that_withdraws_consent_sees_what_was_sent_after(
    session: ProxySession,
) -> None:
    """The harness marks consent and its withdrawal through the proxy's timeline; a
    request after the withdrawal trips LT-AFTER-WITHDRAWAL, one before it does not."""
    doc = yaml.safe_load(APP.read_text())
    decl = parse_declaration(
        {**doc, "consent": {"event": "agree"}, "withdrawal": {"event": "revoke"}}
    )
    session.mark("agree")
    url = "https://loc.map.baidu.com/sdk.php?lat=39.908722&lng=116.397499"  # declared: not blocked
    assert fetch(session, url)[0] == 200
    session.mark("revoke")
    time.sleep(0.01)  # the marks and the requests are timed by the same clock
    assert fetch(session, url)[0] == 200
    ev = evaluate(Timeline(session.findings(), session.events()), decl, load_signatures())
    late = [v for v in ev.verdicts if v.rule == "LT-AFTER-WITHDRAWAL"]
    assert [(v.type, v.count, v.recipient.key) for v in late] == [("location", 1, "baidu_location")]
