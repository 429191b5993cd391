"""WebSocket messages from the client half of an upgraded connection (RFC 6455).

Sans-IO. Clients must mask every frame, so each payload is unmasked here;
fragmented messages are joined; ``permessage-deflate`` (RSV1) payloads are
inflated with the shared window the extension keeps by default. Control
frames carry no app data worth scanning and are skipped. Messages over the
bound are cut and marked, never buffered whole.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

from leaktrace.types import Diagnostic

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
MAX_MESSAGE: Final = 8 << 20
MAX_FRAME: Final = 1 << 62
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"


@dataclass(frozen=True, slots=True)
class WsMessage:
    kind: str  # "text" or "binary"
    data: bytes
    truncated: bool = False
    compressed: bool = False


class WebSocketReader:
    """Turn client-to-server WebSocket bytes into messages.

    Frame payloads are consumed as they arrive (a frame claiming terabytes
    costs nothing beyond ``max_message``).
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self.diagnostics: list[Diagnostic] = []
        self.broken = False
        self.closed = False
        self._buf = bytearray()
        self._remaining = 0  # payload bytes of the current frame still to come
        self._in_frame = False
        self._fin = False
        self._opcode = 0
        self._key = b""
        self._key_pos = 0
        self._control = False
        self._msg = bytearray()
        self._msg_kind: str | None = None
        self._msg_compressed = False
        self._msg_truncated = False
        self._unmasked_reported = False
        self._inflater: zlib._Decompress | None = None

    @property
    def held_bytes(self) -> int:
        """Bytes kept for a frame or a message not yet complete."""
        return len(self._buf) + len(self._msg)

    def feed(self, data: bytes) -> list[WsMessage]:
        if self.broken or self.closed:
            return []
        out: list[WsMessage] = []
        self._buf += data
        while not self.broken and not self.closed:
            if not self._in_frame and not self._header(out):
                break
            if self._remaining:
                if not self._buf:
                    break
                chunk = bytes(self._buf[: self._remaining])
                del self._buf[: len(chunk)]
                self._remaining -= len(chunk)
                self._payload(chunk)
                if self._remaining:
                    break
            self._end_frame(out)
        return out

    def close(self) -> list[WsMessage]:
        """End of flow: a message cut short by it."""
        if self._msg_kind is None:
            return []
        self._msg_truncated = True
        return [self._take()]

    def _header(self, out: list[WsMessage]) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        opcode, masked, length = b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return False
            length, pos = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length, pos = int.from_bytes(buf[2:10], "big"), 10
            if length >= MAX_FRAME:
                self._break(f"frame length {length}")
                return False
        if opcode not in (0, 1, 2, 8, 9, 10):
            self._break(f"opcode {opcode}")
            return False
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return False
            key, pos = bytes(buf[pos : pos + 4]), pos + 4
        elif not self._unmasked_reported:
            self._unmasked_reported = True
            self.diagnostics.append(Diagnostic("ws_unmasked_frame", "client frame without a mask"))
        del buf[:pos]
        self._in_frame = True
        self._fin, self._opcode, self._remaining = bool(b0 & 0x80), opcode, length
        self._key, self._key_pos = key, 0
        self._control = opcode >= 8
        if self._control:
            return True
        if opcode in (OP_TEXT, OP_BINARY):
            if self._msg_kind is not None:
                self.diagnostics.append(
                    Diagnostic("ws_bad_frame", "new message inside a fragmented one")
                )
                out.append(self._take())
            self._msg_kind = "text" if opcode == OP_TEXT else "binary"
            self._msg_compressed = bool(b0 & 0x40)
        elif self._msg_kind is None:
            self.diagnostics.append(Diagnostic("ws_bad_frame", "continuation without a message"))
            self._control = True  # read past it like a control frame
        return True

    def _payload(self, chunk: bytes) -> None:
        if self._control:
            return
        room = self.max_message - len(self._msg)
        if len(chunk) > room:
            self._msg_truncated = True
            chunk = chunk[: max(room, 0)]
        if self._key:
            key = self._key[self._key_pos :] + self._key[: self._key_pos]
            chunk = _unmask(chunk, key)
        self._key_pos = (self._key_pos + len(chunk)) % 4
        self._msg += chunk

    def _end_frame(self, out: list[WsMessage]) -> None:
        self._in_frame = False
        if self._opcode == OP_CLOSE:
            self.closed = True
        elif not self._control and self._fin:
            out.append(self._take())

    def _take(self) -> WsMessage:
        data, kind = bytes(self._msg), self._msg_kind or "binary"
        truncated, compressed = self._msg_truncated, self._msg_compressed
        self._msg.clear()
        self._msg_kind = None
        self._msg_truncated = self._msg_compressed = False
        if compressed:
            data = self._inflate(data)
        return WsMessage(kind, data, truncated, compressed)

    def _inflate(self, data: bytes) -> bytes:
        if self._inflater is None:
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            return self._inflater.decompress(data + _DEFLATE_TAIL, self.max_message)
        except zlib.error as exc:
            self.diagnostics.append(Diagnostic("ws_inflate_error", str(exc)))
            self._inflater = None
            return data

    def _break(self, detail: str) -> None:
        self.broken = True
        self._buf.clear()
        self.diagnostics.append(Diagnostic("ws_bad_frame", detail))


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    reps = (len(payload) + 3) // 4
    mask = int.from_bytes((key * reps)[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ mask).to_bytes(len(payload), "big")


def read_messages(data: bytes) -> list[WsMessage]:
    """Every message in one whole client-to-server WebSocket byte stream."""
    reader = WebSocketReader()
    return reader.feed(data) + reader.close()
