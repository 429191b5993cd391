"""Connection faults the live proxy meets, as ``proxy_error`` timeline events.

A hostile or broken client, or an upstream that resets, must leave a trace in
the session: a test run whose traffic the proxy could not read is not a clean
run. mitmproxy reports these faults in two ways: through a flow's ``error``
hook once a request head was parsed, and, for connections that never got that
far (a garbage request line, headers cut short, an idle timeout), only as log
records of its connection handler. This module turns both into one event
shape with a stable ``reason`` code, and never copies the peer's bytes into
the event unless values are revealed: mitmproxy quotes them (``b'...'``) in
its messages, and they may hold identifiers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mitmproxy.utils import human

EVENT = "proxy_error"
SERVER_LOGGER = "mitmproxy.proxy.server"  # the logger of mitmproxy's connection handlers
MAX_DETAIL = 240  # characters of mitmproxy's message kept in the event

Side = Literal["client", "upstream", "proxy"]

# A Python bytes literal as repr() writes it: the quote it opens with, escapes allowed.
_BYTES_REPR = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\"""", re.DOTALL)
_BYTES_HEAD = re.compile(r"""b['"]""")
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|.)", re.DOTALL)  # one escaped byte in a repr


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, classified. ``message`` is mitmproxy's own: ``sanitize`` it before writing."""

    side: Side
    reason: str
    message: str


def sanitize(text: str, *, reveal: bool = False) -> str:
    """mitmproxy's message with the peer's quoted bytes replaced by their length.

    A message cut inside a quote (mitmproxy's own truncation) loses the rest:
    an unterminated quote is still the peer's bytes.
    """
    if not reveal:
        text = _BYTES_REPR.sub(lambda m: f"<{_repr_len(m.group(0))} bytes withheld>", text)
        cut = _BYTES_HEAD.search(text)
        if cut is not None:
            text = text[: cut.start()] + "<bytes withheld>"
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _repr_len(literal: str) -> int:
    """Bytes in a repr'd literal, without evaluating it (it can be megabytes of escapes)."""
    body = literal[2:-1]
    return len(body) - sum(len(m.group(0)) - 1 for m in _ESCAPE.finditer(body))


# Flow errors: (side when the request head was read but not its body, reason, pattern).
_FLOW_CLIENT = (
    ("client_disconnected", re.compile(r"^Client disconnected", re.I)),
    ("incomplete_body", re.compile(r"without sending complete message body", re.I)),
    ("bad_chunked_body", re.compile(r"chunk", re.I)),
    ("bad_request_head", re.compile(r"header|content-length|transfer-encoding", re.I)),
)
_FLOW_UPSTREAM = (
    ("upstream_closed", re.compile(r"^server closed connection", re.I)),
    ("upstream_incomplete_response", re.compile(r"without sending complete message body", re.I)),
    ("upstream_reset", re.compile(r"reset by peer|connection reset|broken pipe", re.I)),
    ("bad_upstream_response", re.compile(r"cannot parse http response|bad http response", re.I)),
    ("upstream_tls_failed", re.compile(r"\btls\b|ssl|certificate", re.I)),
    ("upstream_connect_failed", re.compile(r"connect|refused|unreachable|name or service", re.I)),
    ("upstream_timeout", re.compile(r"timed? ?out", re.I)),
)


def classify_flow_error(message: str, *, request_complete: bool) -> tuple[Side, str]:
    """Whose fault a flow's error is, and which.

    A request that never completed failed on the client's side; once it did,
    the error came from the upstream or the way to it (mitmproxy words both
    sides' framing errors alike, so the request's state decides).
    """
    if message.startswith("Client disconnected"):
        return "client", "client_disconnected"
    if message.startswith("Connection killed"):
        return "proxy", "killed"
    if not request_complete:
        for reason, pattern in _FLOW_CLIENT:
            if pattern.search(message):
                return "client", reason
        return "client", "bad_request"
    for reason, pattern in _FLOW_UPSTREAM:
        if pattern.search(message):
            return "upstream", reason
    return "upstream", "upstream_error"


def classify_log(message: str, client: str | None, level: int) -> tuple[Side, str] | None:
    """The faults mitmproxy only logs (no flow exists yet); None for ordinary chatter."""
    if message.startswith("Client closed connection before completing request headers"):
        return "client", "incomplete_request_head"
    if message.startswith("Closing connection due to inactivity"):
        return "client", "idle_timeout"
    if client is not None and message.startswith(f"{client}: "):
        # the request head did not parse: the handler logs "<peer>: <why>"
        if message[len(client) + 2 :].startswith("Bad HTTP request line"):
            return "client", "bad_request_line"
        return "client", "bad_request_head"
    if message.startswith("Unexpected data from server"):
        return "upstream", "unexpected_upstream_data"
    if level >= logging.ERROR and "crashed" in message:
        return "proxy", "handler_crashed"
    return None


def format_address(address: object) -> str | None:
    """The ``host:port`` form mitmproxy puts in front of its per-peer messages."""
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    return str(human.format_address(address))


FaultCallback = Callable[[Fault, str | None], None]


class ServerLogWatch(logging.Handler):
    """Reads mitmproxy's connection-handler log for the faults no hook reports.

    Installed on that one logger while the proxy runs; its level is lowered
    to INFO if need be (those records are INFO), and put back afterwards.
    """

    def __init__(self, on_fault: FaultCallback) -> None:
        super().__init__(logging.INFO)
        self._on_fault = on_fault
        self._logger = logging.getLogger(SERVER_LOGGER)
        self._saved_level: int | None = None

    def install(self) -> None:
        if self in self._logger.handlers:
            return
        self._logger.addHandler(self)
        if not self._logger.isEnabledFor(logging.INFO):
            self._saved_level = self._logger.level
            self._logger.setLevel(logging.INFO)

    def uninstall(self) -> None:
        self._logger.removeHandler(self)
        if self._saved_level is not None:
            self._logger.setLevel(self._saved_level)
            self._saved_level = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            client = format_address(getattr(record, "client", None))
            found = classify_log(message, client, record.levelno)
            if found is None:
                return
            side, reason = found
            if client is not None and message.startswith(f"{client}: "):
                message = message[len(client) + 2 :]
            self._on_fault(Fault(side, reason, message), client)
        except Exception:  # a log handler must never break the proxy that logs
            self.handleError(record)
