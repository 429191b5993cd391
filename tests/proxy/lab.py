"""A loopback test lab: self-signed upstream servers, a route addon, a client, a sniffer.

Every socket here is on 127.0.0.1; the route addon makes the proxy connect to
the local upstream whatever host name a request names, so no name is ever
resolved and no packet leaves the machine.
"""

from __future__ import annotations

import gzip
import json
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from leaktrace.testing import self_signed_cert

ROOT = Path(__file__).resolve().parents[2]
DEVICE = ROOT / "captures" / "device.yaml"
APP = ROOT / "captures" / "app.yaml"
VALUES: dict[str, Any] = yaml.safe_load(DEVICE.read_text())

KEY = ("type", "host", "where", "form")


@dataclass(frozen=True)
class Req:
    method: str
    host: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


REQUESTS = (
    Req("GET", "ulogs.umeng.com", f"/track?imei={VALUES['imei']}&v=3"),
    Req(
        "POST",
        "api.example.com",
        "/v1/login",
        json.dumps(
            {"device": {"android_id": VALUES["android_id"]}, "phone": VALUES["phone"]}
        ).encode(),
        (("Content-Type", "application/json"),),
    ),
    Req(
        "POST",
        "loc.map.baidu.com",
        "/sdk.php",
        gzip.compress(
            json.dumps({"imsi": VALUES["imsi"], "lat": 39.908722, "lng": 116.397499}).encode(),
            mtime=0,
        ),
        (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
    ),
)


def self_signed(tmp: Path, names: list[str]) -> tuple[Path, Path]:
    """A certificate and key for the given names, made for this test run only."""
    return self_signed_cert(tmp, names)


@dataclass
class Upstream:
    """An HTTP(S) server on 127.0.0.1 that answers 200 and remembers what it got.

    It answers "ok", or for a path in ``pages`` that page (an HTML page's scripts
    make a browser send more requests)."""

    cert: tuple[Path, Path] | None = None
    received: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    pages: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        received, pages = self.received, self.pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                received.append((self.command, self.headers.get("Host", ""), self.path, body))
                page = pages.get(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain" if page is None else "text/html")
                self.send_header("Content-Length", "2" if page is None else str(len(page)))
                self.end_headers()
                self.wfile.write(b"ok" if page is None else page)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.cert)
            ctx.set_alpn_protocols(["http/1.1"])
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RouteTo:
    """A mitmproxy addon: every upstream connection goes to one local port."""

    def __init__(self, port: int) -> None:
        self.port = port

    def server_connect(self, data: Any) -> None:
        data.server.address = ("127.0.0.1", self.port)


def opener(
    proxy_url: str | None, ca_file: Path | None, keylog: Path | None = None
) -> urllib.request.OpenerDirector:
    """``keylog``: where the client writes its TLS secrets (NSS format, as SSLKEYLOGFILE)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    handlers: list[Any] = [urllib.request.HTTPSHandler(context=ctx)]
    handlers.append(
        urllib.request.ProxyHandler({"http": proxy_url, "https": proxy_url} if proxy_url else {})
    )
    return urllib.request.build_opener(*handlers)


def send(
    proxy_url: str | None,
    ca_file: Path | None,
    scheme: str,
    port: int | None = None,
    keylog: Path | None = None,
) -> list[int]:
    """Send REQUESTS; through the proxy by host name, or straight to 127.0.0.1:port."""
    client = opener(proxy_url, ca_file, keylog)
    statuses = []
    for req in REQUESTS:
        if port is None:
            url = f"{scheme}://{req.host}{req.path}"
            headers = dict(req.headers)
        else:
            url = f"{scheme}://127.0.0.1:{port}{req.path}"
            headers = {"Host": req.host, **dict(req.headers)}
        request = urllib.request.Request(
            url, data=req.body or None, method=req.method, headers=headers
        )
        with client.open(request, timeout=10) as response:
            response.read()
            statuses.append(response.status)
    return statuses


def keys(findings: list[Any]) -> set[tuple[str, ...]]:
    return {tuple(getattr(f, k) for k in KEY) for f in findings}


def expected_keys() -> set[tuple[str, ...]]:
    """What REQUESTS carry, written out by hand from the requests above."""
    return {
        ("imei", "ulogs.umeng.com", "query:imei", "plain"),
        ("android_id", "api.example.com", "body>json:$.device.android_id", "plain"),
        ("phone", "api.example.com", "body>json:$.phone", "plain"),
        ("imsi", "loc.map.baidu.com", "body>gzip>json:$.imsi", "plain"),
        ("location", "loc.map.baidu.com", "body>gzip>json:$.lat", "wgs84"),
    }


# packets are written as they arrive, and the file stays root's (no privilege drop)
TCPDUMP = ("tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root")


class Tcpdump:
    """tcpdump on the loopback interface for one port, stopped with SIGINT so it flushes."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port

    def __enter__(self) -> Tcpdump:
        self.proc = subprocess.Popen(
            [*TCPDUMP, "-w", str(self.path), "tcp", "port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and "listening on" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("tcpdump did not start")
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        # -U writes each packet as it is captured: once the file has stopped growing for
        # 0.3 s, tcpdump has caught up with the traffic (a fixed pause of 0.3 s was not
        # always enough on a busy machine, and the last request went missing).
        deadline = time.monotonic() + 5
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = self.path.stat().st_size if self.path.exists() else 0
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= 0.3:
                break
            time.sleep(0.05)
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=10)
        self.stderr = err
