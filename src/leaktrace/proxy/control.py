"""The control endpoint: a small HTTP API for harnesses that are not written in Python.

``POST /events`` marks the timeline, ``GET /findings?since=N`` pages through
findings, ``GET /summary`` and ``GET /events`` report the session, ``GET /info``
says where the proxy listens and where its CA certificate is. Every request
needs ``Authorization: Bearer <token>``; the server binds to loopback unless
told otherwise, because findings describe a person's device. Values are as the
recorder keeps them: masked unless the session reveals.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leaktrace.proxy.recorder import Recorder
from leaktrace.sinks.records import finding_record
from leaktrace.timeline import event_record

MAX_REQUEST_BYTES = 64 << 10
MAX_PAGE = 1000  # findings per GET /findings


def new_token() -> str:
    return secrets.token_urlsafe(24)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder
    token: str
    info: Mapping[str, Any]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "leaktrace-control"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the proxy's terminal shows findings, not access logs

    def do_GET(self) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        recorder = self.server.recorder
        if url.path == "/findings":
            try:
                since = int(parse_qs(url.query).get("since", ["0"])[0])
            except ValueError:
                self._send(400, {"error": "since must be an integer"})
                return
            page = recorder.findings(since)[:MAX_PAGE]
            since = max(since, 0)
            self._send(
                200,
                {"findings": [finding_record(f) for f in page], "next": since + len(page)},
            )
        elif url.path == "/summary":
            self._send(200, recorder.summary_record())
        elif url.path == "/events":
            self._send(200, {"events": [event_record(e) for e in recorder.events()]})
        elif url.path == "/info":
            self._send(200, dict(self.server.info))
        else:
            self._send(404, {"error": f"no such endpoint: {url.path}"})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        if urlsplit(self.path).path != "/events":
            self._send(404, {"error": "POST goes to /events"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_REQUEST_BYTES:
            self._send(413 if length > 0 else 400, {"error": "body of 1 to 65536 bytes needed"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            name = body["event"]
            data = body.get("data") or {}
            if not isinstance(name, str) or not name or not isinstance(data, dict):
                raise TypeError("event must be a non-empty string and data an object")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._send(400, {"error": f'expected {{"event": "...", "data": {{...}}}}: {exc}'})
            return
        event = self.server.recorder.mark(name, data)
        self._send(201, event_record(event))

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.token}"
        if hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            return True
        self._send(401, {"error": "missing or wrong bearer token"}, auth_challenge=True)
        return False

    def _send(self, status: int, body: Mapping[str, Any], auth_challenge: bool = False) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if auth_challenge:
            self.send_header("WWW-Authenticate", 'Bearer realm="leaktrace"')
        self.end_headers()
        self.wfile.write(data)


class ControlServer:
    """The endpoint in a thread; ``url`` and ``token`` are what a harness needs."""

    def __init__(
        self,
        recorder: Recorder,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.token = token or new_token()
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.recorder = recorder
        self._server.token = self.token
        self._server.info = dict(info or {})
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="leaktrace-control", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
