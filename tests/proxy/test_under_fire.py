"""The real proxy under fire: broken clients, half-open and idle connections, refused
certificates, upstreams that reset. Each fault becomes a ``proxy_error`` event (or
``tls_refused``) in the timeline file, and the proxy then still intercepts an HTTPS
request and finds its identifier. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.proxy import server as mitm_server

from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy.session import ProxySession
from leaktrace.timeline import read_timeline
from leaktrace.types import TimelineEvent

from .lab import VALUES, Upstream, opener, self_signed
from .test_cli_proxy import LEAKTRACE

MAX_CONNECTIONS = 128
IMEI = str(VALUES["imei"])  # the device's own value: found in any form, never written in full


def luhn_imei(n: int) -> str:
    body = f"86{n:012d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


class Misbehaving:
    """A plain-HTTP upstream on 127.0.0.1 whose request path picks how it fails."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger 0: the kernel sends RST

    def _handle(self, conn: socket.socket) -> None:
        head = b""
        with conn:
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data or data.startswith(b"\x16"):
                    return  # no TLS here: a handshake meets a closed connection
                head += data
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/close"):
                return  # closed without a response
            if path.startswith(b"/rstmid"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
                time.sleep(0.05)
                self._reset(conn)
            elif path.startswith(b"/rst"):
                self._reset(conn)
            elif path.startswith(b"/garbage"):
                conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self._stop = True
        self.sock.close()


class Route:
    """Upstream connections: TLS to the HTTPS server, plain to the misbehaving one,
    ``refused.example.com`` to a port nothing listens on, ``plain.example.com`` always to
    the plain one. No name is ever resolved."""

    def __init__(self, tls_port: int, plain_port: int, closed_port: int) -> None:
        self.tls_port, self.plain_port, self.closed_port = tls_port, plain_port, closed_port

    def server_connect(self, data: Any) -> None:
        host = str(data.server.address[0]) if data.server.address else ""
        port = self.tls_port if data.server.tls else self.plain_port
        if host == "refused.example.com":
            port = self.closed_port
        elif host == "plain.example.com":
            port = self.plain_port  # TLS towards a server that speaks none
        data.server.address = ("127.0.0.1", port)


@dataclass
class Lab:
    session: ProxySession
    timeline: Path
    served: list[str] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        return self.session.address


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, device_config: PipelineConfig) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("under_fire")
    tls_up = Upstream(self_signed(tmp, ["ulogs.umeng.com"]))
    plain_up = Misbehaving()
    timeline = tmp / "timeline.jsonl"
    session = ProxySession(
        config=device_config,
        timeline=timeline,
        addons=[Route(tls_up.port, plain_up.port, closed_port())],
        mitm_options={
            "ssl_insecure": True,
            "connection_strategy": "lazy",
            "leaktrace_max_connections": MAX_CONNECTIONS,
        },
    )
    with session:
        yield Lab(session, timeline)
    tls_up.close()
    plain_up.close()


# -- helpers -------------------------------------------------------------------


def exchange(
    address: tuple[str, int], data: bytes, *, shut: bool = False, timeout: float = 5
) -> bytes:
    """Send raw bytes, optionally close the write side, read until the proxy closes."""
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(data)
        if shut:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def wait_events(lab: Lab, reason: str, count: int = 1, timeout: float = 10) -> list[TimelineEvent]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in lab.session.events() if dict(e.data).get("reason") == reason]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def file_events(lab: Lab, reason: str) -> list[dict[str, str]]:
    events = read_timeline(lab.timeline).events
    return [dict(e.data) for e in events if dict(e.data).get("reason") == reason]


def assert_still_serves(lab: Lab) -> None:
    """A normal HTTPS request through the proxy: answered, and its IMEI found."""
    n = len(lab.served) + 1
    imei = luhn_imei(900_000 + n)
    before = len(lab.session.findings())
    client = opener(lab.session.url, lab.session.ca_cert)
    with client.open(f"https://ulogs.umeng.com/track?imei={imei}&n={n}", timeout=10) as response:
        assert response.status == 200 and response.read() == b"ok"
    new = lab.session.findings(before)
    assert [(f.type, f.host, f.where, f.sdk) for f in new] == [
        ("imei", "ulogs.umeng.com", "query:imei", "umeng")
    ]
    assert new[0].value == imei[:2] + "*" * 10 + imei[-3:]
    lab.served.append(imei)


def assert_no_raw_value(lab: Lab) -> None:
    text = lab.timeline.read_text()
    assert IMEI not in text and IMEI.encode().hex() not in text


# -- malformed HTTP from a client ------------------------------------------------

GARBAGE_LINE = f"\x16\x03garbage imei={IMEI} \xff\r\n\r\n".encode("latin-1")
MALFORMED = {
    "garbage request line": (GARBAGE_LINE, False, "bad_request_line", b"400"),
    "header line without a colon": (
        f"GET http://a.example.com/?imei={IMEI} HTTP/1.1\r\nHost a.example.com\r\n\r\n".encode(),
        False,
        "bad_request_head",
        b"400",
    ),
    "content-length not a number": (
        b"POST http://a.example.com/ HTTP/1.1\r\nHost: a.example.com\r\n"
        b"Content-Length: 12abc\r\n\r\n",
        False,
        "bad_request_head",
        b"400",
    ),
    "bad chunked encoding": (
        b"POST http://a.example.com/u HTTP/1.1\r\nHost: a.example.com\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        False,
        "bad_chunked_body",
        b"",
    ),
    "content-length that lies": (
        f"POST http://a.example.com/u?imei={IMEI} HTTP/1.1\r\nHost: a.example.com\r\n"
        "Content-Length: 100000\r\n\r\nshort".encode(),
        True,
        "incomplete_body",
        b"",
    ),
    "oversized unterminated headers": (
        b"GET http://a.example.com/ HTTP/1.1\r\n"
        + b"X-Pad: " + f"{IMEI}-".encode() * 60_000 + b"\r\n",
        True,
        "incomplete_request_head",
        b"",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_client_request_is_answered_recorded_and_survived(
    lab: Lab, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload, shut, reason, answer = MALFORMED[case]
    before = len(wait_events(lab, reason, 0, 0))
    reply = exchange(lab.address, payload, shut=shut)
    assert reply.startswith(b"HTTP/1.1 " + answer) if answer else reply == b""
    events = wait_events(lab, reason, before + 1)
    assert len(events) == before + 1, f"no {reason} event"
    data = dict(events[-1].data)
    assert data["side"] == "client" and data["client"].startswith("127.0.0.1:")
    assert file_events(lab, reason)[-1] == data  # on disk, flushed
    assert IMEI not in json.dumps(data)
    if case != "content-length that lies":  # mitmproxy quotes the peer's bytes: withheld
        assert "withheld" in data["detail"]
    assert any(
        r.name == "leaktrace" and f"proxy_error client {reason}" in r.getMessage()
        for r in caplog.records
    ), "not logged"
    assert all(IMEI not in r.getMessage() for r in caplog.records if r.name == "leaktrace")
    assert_still_serves(lab)
    assert_no_raw_value(lab)


def test_request_cut_short_is_still_scanned(lab: Lab) -> None:
    events = wait_events(lab, "incomplete_body")
    assert events and dict(events[0].data)["findings"] == "1"
    cut = [f for f in lab.session.findings() if f.host == "a.example.com" and f.type == "imei"]
    assert [f.where for f in cut] == ["query:imei"]


# -- half-open and idle connections ------------------------------------------------


def test_half_request_then_silence_is_closed_at_the_idle_timeout(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mitm_server, "TCP_TIMEOUT", 1)  # read when a connection is accepted
    with socket.create_connection(lab.address, timeout=10) as conn:
        conn.sendall(b"POST http://a.example.com/ HTTP/1.1\r\nHost: a.exa")
        assert_still_serves(lab)  # while this one hangs
        assert conn.recv(1024) == b""  # the proxy closed it
    (event,) = wait_events(lab, "idle_timeout")
    assert dict(event.data)["side"] == "client"
    assert_still_serves(lab)


def test_many_idle_and_half_open_connections_do_not_stop_the_proxy(lab: Lab) -> None:
    held: list[socket.socket] = []
    try:
        for i in range(MAX_CONNECTIONS - 16):
            conn = socket.create_connection(lab.address, timeout=10)
            if i % 2:
                conn.sendall(b"GET http://a.example.com/ HTTP/1.1\r\nHost: a.ex")
            if i % 4 == 1:
                conn.shutdown(socket.SHUT_WR)  # half-closed: the proxy sees EOF, answers nothing
            held.append(conn)
        assert_still_serves(lab)
    finally:
        for conn in held:
            conn.close()
    assert_still_serves(lab)


def test_connections_over_the_bound_are_refused_and_recorded(lab: Lab) -> None:
    time.sleep(0.3)  # connections of earlier tests are gone
    before = len(wait_events(lab, "too_many_connections", 0, 0))
    held = [socket.create_connection(lab.address, timeout=10) for _ in range(MAX_CONNECTIONS + 8)]
    try:
        events = wait_events(lab, "too_many_connections", before + 8)
        time.sleep(0.2)
        readable, _, _ = select.select(held, [], [], 0.5)
        refused = [c for c in readable if c.recv(1) == b""]  # closed at once, nothing said
        assert 8 <= len(refused) < len(held)
        assert len(wait_events(lab, "too_many_connections", 0, 0)) == before + len(refused)
        assert dict(events[-1].data)["limit"] == str(MAX_CONNECTIONS)
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.3)
    assert_still_serves(lab)


# -- TLS refused by the client ------------------------------------------------------------


def test_client_refusing_the_proxy_certificate_is_recorded_and_survived(lab: Lab) -> None:
    ctx = ssl.create_default_context()  # the system's roots: the proxy's CA is not among them
    with socket.create_connection(lab.address, timeout=10) as raw:
        raw.sendall(b"CONNECT ulogs.umeng.com:443 HTTP/1.1\r\nHost: ulogs.umeng.com:443\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="ulogs.umeng.com")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        refused = [e for e in lab.session.events() if e.name == "tls_refused"]
        if refused:
            break
        time.sleep(0.02)
    data = dict(refused[-1].data)
    assert (data["sni"], data["sdk"], data["party"]) == ("ulogs.umeng.com", "umeng", "third")
    assert_still_serves(lab)


# -- upstream faults ------------------------------------------------------------------

UPSTREAM = {
    "closes without a response": ("/close", "upstream_closed"),
    "resets before answering": ("/rst", "upstream_closed"),
    "resets mid-response": ("/rstmid", "upstream_incomplete_response"),
    "answers garbage": ("/garbage", "bad_upstream_response"),
}


@pytest.mark.parametrize("case", list(UPSTREAM), ids=list(UPSTREAM))
def test_upstream_fault_is_answered_502_recorded_and_survived(lab: Lab, case: str) -> None:
    path, reason = UPSTREAM[case]
    before = len(wait_events(lab, reason, 0, 0))
    request = f"GET http://api.example.com{path}?imei={IMEI} HTTP/1.1\r\n"
    reply = exchange(lab.address, f"{request}Host: api.example.com\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 502")
    events = wait_events(lab, reason, before + 1)
    assert len(events) == before + 1
    data = dict(events[-1].data)
    assert (data["side"], data["host"]) == ("upstream", "api.example.com")
    assert data["server"].startswith("127.0.0.1:") and data["flow"].startswith("1:")
    assert "findings" not in data  # the request itself was read and scanned as usual
    assert_still_serves(lab)
    assert_no_raw_value(lab)


def test_upstream_refusing_the_connection_is_recorded_once(lab: Lab) -> None:
    reply = exchange(lab.address, b"GET http://refused.example.com/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 502")
    events = wait_events(lab, "upstream_connect_failed")
    time.sleep(0.2)
    assert len(wait_events(lab, "upstream_connect_failed", 2, 0)) == 1  # not again per flow
    data = dict(events[0].data)
    assert (data["side"], data["host"]) == ("upstream", "refused.example.com")
    assert_still_serves(lab)


def test_upstream_tls_failure_is_recorded_once(lab: Lab) -> None:
    client = opener(lab.session.url, lab.session.ca_cert)
    with pytest.raises(urllib.error.HTTPError) as failed:
        client.open("https://plain.example.com/x", timeout=10)
    assert failed.value.code == 502
    events = wait_events(lab, "upstream_tls_failed")
    time.sleep(0.2)
    assert len(wait_events(lab, "upstream_tls_failed", 2, 0)) == 1
    about = [e for e in lab.session.events() if dict(e.data).get("host") == "plain.example.com"]
    assert len(about) == 1
    assert dict(events[0].data)["side"] == "upstream"
    assert_still_serves(lab)


# -- the timeline as the report reads it ---------------------------------------------------


def test_timeline_with_proxy_errors_reads_back_and_reports(lab: Lab, tmp_path: Path) -> None:
    timeline = read_timeline(lab.timeline)  # every line parses
    names = {e.name for e in timeline.events}
    assert {"proxy_error", "tls_refused"} <= names
    assert len(timeline.findings) >= len(lab.served)
    done = subprocess.run(
        [LEAKTRACE, "report", str(lab.timeline), "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert IMEI not in (tmp_path / "report" / "report.html").read_text()
