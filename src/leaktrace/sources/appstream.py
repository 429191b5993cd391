"""The application protocol inside one client byte stream, whatever carried it.

Plain TCP and decrypted TLS both end up here: HTTP/1.x requests, and what an
HTTP/1 upgrade switches to (WebSocket, h2c); HTTP/2 from its preface; MQTT
from its CONNECT; anything else kept as raw bytes for the scanners. Items
come out in stream order; the session turns them into Messages. Bytes are
accounted as decoded or opaque so coverage stays honest when a stream
switches to something that is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from leaktrace.protocols import mqtt
from leaktrace.protocols.http1 import RequestParser
from leaktrace.protocols.sniff import HTTP2_PREFACE as PREFACE
from leaktrace.protocols.sniff import sniff_stream
from leaktrace.protocols.websocket import WebSocketReader, WsMessage
from leaktrace.types import Diagnostic, HttpRequest

if TYPE_CHECKING:  # loaded when a stream turns out to be HTTP/2
    from leaktrace.protocols.http2 import Http2RequestParser

Mode = Literal["sniff", "http", "http2", "websocket", "mqtt", "raw", "opaque", "tunnel"]
SNIFF_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class ChannelParts:
    """One message of a non-HTTP channel as named values: (chain step, value)."""

    parts: tuple[tuple[str, bytes], ...]
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class RawBytes:
    data: bytes


AppItem = HttpRequest | ChannelParts | RawBytes | Diagnostic


def sniff_mode(data: bytes) -> Mode | None:
    """Which reader a stream's first bytes call for; None while they cannot tell yet."""
    if PREFACE.startswith(data[: len(PREFACE)]):
        return "http2" if len(data) >= len(PREFACE) else None
    if mqtt.looks_like_connect(data):
        return "mqtt"
    verdict = sniff_stream(data, 6, 0, 0)
    if verdict == "http":
        return "http"
    if verdict == "need_more" and len(data) < SNIFF_BYTES:
        return None
    return "raw"


class AppStream:
    """Client bytes in, application items out; ``mode`` says what is being read."""

    def __init__(self, mode: Mode = "sniff", *, tunnels: bool = False) -> None:
        """``tunnels``: a CONNECT hands the rest of the stream back (``take_tunneled``)
        instead of leaving it opaque; for a plain stream, whose session can read it."""
        self.mode: Mode = mode
        self._tunnels = tunnels
        self.opaque_reason: str | None = None
        self.bytes_decoded = 0
        self.bytes_opaque = 0
        self._pending = b""
        self._http: RequestParser | None = None
        self._h2: Http2RequestParser | None = None
        self._ws: WebSocketReader | None = None
        self._mqtt: mqtt.MqttReader | None = None
        self._upgrade: str | None = None  # Upgrade header of the last HTTP/1 request
        self._connect = False  # the last HTTP/1 request was a CONNECT
        # A CONNECT tunnel's bytes, for the session to read as a stream of its own.
        self._tunneled = bytearray()
        self._start(mode)

    @property
    def decoded(self) -> bool:
        return self.mode in ("http", "http2", "websocket", "mqtt") and self.opaque_reason is None

    @property
    def held_bytes(self) -> int:
        """Bytes kept for items not yet complete, by whichever reader holds them."""
        held = len(self._pending) + len(self._tunneled)
        for reader in (self._http, self._h2, self._ws, self._mqtt):
            if reader is not None:
                held += reader.held_bytes
        return held

    def feed(self, data: bytes) -> list[AppItem]:
        out: list[AppItem] = []
        if self.mode == "tunnel":
            self._tunneled += data
            return out
        if self.mode == "sniff":
            self._pending += data
            mode = sniff_mode(self._pending)
            if mode is None:
                return out
            data, self._pending = self._pending, b""
            self._start(mode)
        self._read(data, out)
        return out

    def take_tunneled(self) -> bytes:
        """The bytes a CONNECT tunnel carried so far (mode ``tunnel``), handed over once.

        What a client sends through an HTTP proxy's tunnel is a stream of its own,
        usually TLS to the host it named: the session reads it as it would read a
        new connection, with its key log."""
        data = bytes(self._tunneled)
        self._tunneled.clear()
        return data

    def close(self) -> list[AppItem]:
        out: list[AppItem] = []
        if self.mode == "sniff" and self._pending:
            self._start("raw")
            data, self._pending = self._pending, b""
            self._read(data, out)
        if self._http is not None:
            out += self._http.close()
            out += self._http.diagnostics
            self._http.diagnostics.clear()
        if self._h2 is not None:
            out += self._h2.close()
            out += self._h2.diagnostics
            self._h2.diagnostics.clear()
        if self._ws is not None:
            out += [self._ws_item(m) for m in self._ws.close()]
        return out

    # -- internals ----------------------------------------------------------------

    def _start(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "http":
            self._http = RequestParser()
        elif mode == "http2":
            from leaktrace.protocols.http2 import Http2RequestParser  # hpack/hyperframe: on use

            self._h2 = Http2RequestParser()
        elif mode == "websocket":
            self._ws = WebSocketReader()
        elif mode == "mqtt":
            self._mqtt = mqtt.MqttReader()
        elif mode == "raw":
            self.opaque_reason = "unknown_protocol"

    def _read(self, data: bytes, out: list[AppItem]) -> None:
        if not data:
            return
        mode = self.mode
        if mode == "http":
            self._read_http1(data, out)
        elif mode == "http2":
            assert self._h2 is not None
            out += self._h2.feed(data)
            self._account(data, self._h2.broken, "http2_unreadable")
            out += self._h2.diagnostics
            self._h2.diagnostics.clear()
        elif mode == "websocket":
            assert self._ws is not None
            out += [self._ws_item(m) for m in self._ws.feed(data)]
            self._account(data, self._ws.broken, "websocket_unreadable")
            out += self._ws.diagnostics
            self._ws.diagnostics.clear()
        elif mode == "mqtt":
            assert self._mqtt is not None
            for packet in self._mqtt.feed(data):
                parts = tuple((f"mqtt:{packet.kind}:{name}", value) for name, value in packet.parts)
                out.append(ChannelParts(parts))
            self._account(data, self._mqtt.broken, "mqtt_unreadable")
            out += self._mqtt.diagnostics
            self._mqtt.diagnostics.clear()
        elif mode == "raw":
            self.bytes_opaque += len(data)
            out.append(RawBytes(data))
        else:
            self.bytes_opaque += len(data)

    def _account(self, data: bytes, broken: bool, reason: str) -> None:
        if broken:
            self.bytes_opaque += len(data)
            self.opaque_reason = self.opaque_reason or reason
        else:
            self.bytes_decoded += len(data)

    def _read_http1(self, data: bytes, out: list[AppItem]) -> None:
        parser = self._http
        assert parser is not None
        for req in parser.feed(data):
            self._upgrade = (req.header("upgrade") or "").strip().lower() or None
            self._connect = req.method == "CONNECT"
            out.append(req)
        if parser.diagnostics:
            out += parser.diagnostics
            parser.diagnostics.clear()
        if not parser.upgraded:
            self.bytes_decoded += len(data)
            return
        # Bytes after a protocol switch in the same segment belong to the new protocol.
        after = parser.leftover
        self.bytes_decoded += len(data) - len(after)
        upgrade = self._upgrade or ""
        if self._connect and self._tunnels:
            self.mode = "tunnel"
            self._tunneled += after
            return
        if upgrade.startswith("websocket"):
            self._start("websocket")
        elif upgrade.startswith("h2c"):
            self._start("http2")
        else:
            self.mode = "opaque"
            self.opaque_reason = "upgraded_protocol"
        self._read(after, out)

    @staticmethod
    def _ws_item(message: WsMessage) -> ChannelParts:
        return ChannelParts(((f"ws:{message.kind}", message.data),), message.truncated)


def read_stream(data: bytes) -> list[AppItem]:
    """Everything in one whole client byte stream, read from its first bytes on."""
    stream = AppStream()
    return stream.feed(data) + stream.close()
