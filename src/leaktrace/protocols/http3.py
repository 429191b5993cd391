"""HTTP/3 requests from a client's QUIC stream data (RFC 9114, QPACK RFC 9204).

Each client-initiated bidirectional stream carries one request: a HEADERS
frame (a QPACK field section), DATA frames, then the end of the stream. The
client's QPACK encoder stream fills the dynamic table that field sections
may refer to; ``pylsqpack`` decodes both. The decoder must know the table
size the server announced in its SETTINGS, on the server's control stream:
given the server's stream data (``server``), it reads them there, which
the client cannot act on before them. Without them it assumes the 4,096
bytes common stacks announce (with 0 the table is never used); a client
told it may use more is then refused when it sets that size (an
``h3_qpack_error``), and requests whose headers need the table are lost.
Bounded like the HTTP/1 reader: a body is kept up to ``max_body`` bytes,
data past a hole in a stream waits within ``max_buffer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pylsqpack import (
    Decoder,
    DecoderStreamError,
    DecompressionFailed,
    EncoderStreamError,
    StreamBlocked,
)

from leaktrace.protocols.quic import read_varint
from leaktrace.protocols.quic_app import StreamChunk
from leaktrace.types import Diagnostic, HttpRequest

FRAME_DATA: Final = 0x00
FRAME_HEADERS: Final = 0x01
FRAME_SETTINGS: Final = 0x04
STREAM_CONTROL: Final = 0x00
STREAM_QPACK_ENCODER: Final = 0x02
SETTING_QPACK_MAX_TABLE_CAPACITY: Final = 0x01
SETTING_QPACK_BLOCKED_STREAMS: Final = 0x07
QPACK_TABLE_CAPACITY: Final = 4096  # what servers commonly announce (see the module doc)
QPACK_BLOCKED_STREAMS: Final = 100
MAX_BODY: Final = 8 << 20
MAX_BUFFER: Final = 1 << 20  # stream data held past a hole, per stream
MAX_FRAME: Final = 64 << 10  # a frame other than DATA (HEADERS above all), as HTTP/1 heads
MAX_STREAMS: Final = 1024  # request streams held open at once
MAX_SERVER_STREAM: Final = 15  # control, encoder and decoder streams come first: 3, 7, 11, 15

H3Item = HttpRequest | Diagnostic


@dataclass(slots=True)
class _Stream:
    """One stream's bytes in order, as far as they are contiguous."""

    data: bytearray = field(default_factory=bytearray)
    read: int = 0  # bytes of ``data`` consumed by the frame parser
    base: int = 0  # stream offset of data[0]
    pending: dict[int, bytes] = field(default_factory=dict)
    fin_at: int | None = None
    kind: int | None = None  # unidirectional stream type, once read
    headers: list[tuple[bytes, bytes]] | None = None
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    blocked: bytes | None = None  # a field section waiting for encoder instructions

    def add(self, chunk: StreamChunk) -> bool:
        """Take a chunk; False when the data past a hole would exceed the bound."""
        if chunk.fin:
            self.fin_at = chunk.offset + len(chunk.data)
        end = self.base + len(self.data)
        start = chunk.offset
        data = chunk.data
        if start + len(data) <= end:
            return True  # a retransmission of what is here
        if start > end:
            if sum(map(len, self.pending.values())) + len(data) > MAX_BUFFER:
                return False
            self.pending[start] = data
            return True
        self.data += data[end - start :]
        while self.pending:  # fill from data that arrived early
            end = self.base + len(self.data)
            ready = [s for s in self.pending if s <= end]
            if not ready:
                break
            for s in ready:
                piece = self.pending.pop(s)
                if s + len(piece) > end:
                    self.data += piece[end - s :]
                    end = self.base + len(self.data)
        return True

    @property
    def ended(self) -> bool:
        return self.fin_at is not None and self.base + len(self.data) >= self.fin_at

    def held(self) -> int:
        return len(self.data) - self.read + sum(map(len, self.pending.values())) + len(self.body)


class Http3Reader:
    """Requests out of a client's stream chunks, in the order their streams end."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self._decoder = Decoder(QPACK_TABLE_CAPACITY, QPACK_BLOCKED_STREAMS)
        self.table_capacity = QPACK_TABLE_CAPACITY
        self._encoder_fed = False
        self._streams: dict[int, _Stream] = {}
        self._finished: set[int] = set()
        self._server_streams: dict[int, _Stream | None] = {}  # None: not the control stream
        self.server_settings: dict[int, int] | None = None
        self.requests = 0

    @property
    def held_bytes(self) -> int:
        return sum(s.held() for s in self._streams.values())

    def feed(self, chunks: list[StreamChunk]) -> list[H3Item]:
        out: list[H3Item] = []
        for chunk in chunks:
            sid = chunk.stream_id
            if sid & 0x01 or sid in self._finished:
                continue  # server-initiated, or a request already made
            stream = self._streams.get(sid)
            if stream is None:
                if len(self._streams) >= MAX_STREAMS:
                    out.append(Diagnostic("h3_stream_limit", f"more than {MAX_STREAMS} streams"))
                    continue
                stream = self._streams[sid] = _Stream()
            if not stream.add(chunk):
                out.append(
                    Diagnostic("h3_buffer_limit", f"stream {sid}: hole past {MAX_BUFFER} bytes")
                )
                self._drop(sid)
                continue
            if sid & 0x02:
                out += self._unidirectional(sid, stream)
            else:
                out += self._request(sid, stream)
        return out

    def server(self, chunks: list[StreamChunk]) -> list[H3Item]:
        """Read the server's SETTINGS from its control stream (one of its first
        unidirectional streams); once read, the server's data is of no more use."""
        out: list[H3Item] = []
        for chunk in chunks:
            sid = chunk.stream_id
            if sid & 0x03 != 0x03 or sid > MAX_SERVER_STREAM or self.server_settings is not None:
                continue  # its requests' answers, or past the streams a control one can be
            if sid not in self._server_streams:
                self._server_streams[sid] = _Stream()
            stream = self._server_streams[sid]
            if stream is None:
                continue  # a QPACK stream of the server's: what its own headers need
            if not stream.add(chunk):
                self._server_streams[sid] = None
                out.append(Diagnostic("h3_buffer_limit", f"server stream {sid}"))
                continue
            read = _settings(bytes(stream.data))
            if read is None:
                continue
            is_control, settings = read
            self._server_streams[sid] = None
            if is_control:
                self.server_settings = settings
                self._server_streams.clear()
                out += self._apply(settings)
        return out

    def _apply(self, settings: dict[int, int]) -> list[H3Item]:
        capacity = settings.get(SETTING_QPACK_MAX_TABLE_CAPACITY, 0)
        blocked = settings.get(SETTING_QPACK_BLOCKED_STREAMS, 0)
        if capacity == self.table_capacity:
            return []
        if self._encoder_fed:  # too late to change: the table has entries already
            detail = f"server announced a {capacity}-byte table after the client's encoder spoke"
            return [Diagnostic("h3_qpack_error", detail)]
        self._decoder = Decoder(capacity, min(blocked, QPACK_BLOCKED_STREAMS))
        self.table_capacity = capacity
        return []

    def close(self) -> list[H3Item]:
        """Requests whose streams never ended, as far as they got."""
        out: list[H3Item] = []
        for sid, stream in list(self._streams.items()):
            if not sid & 0x02 and stream.headers is not None:
                out.append(self._emit(sid, stream, cut=True))
        self._streams.clear()
        return out

    # -- streams --------------------------------------------------------------

    def _unidirectional(self, sid: int, stream: _Stream) -> list[H3Item]:
        if stream.kind is None:
            try:
                stream.kind, stream.read = read_varint(bytes(stream.data[:8]), 0)
            except IndexError:
                return []
        if stream.kind != STREAM_QPACK_ENCODER:
            stream.data.clear()  # control and other streams: nothing a request needs
            stream.base += stream.read
            stream.read = 0
            return []
        instructions = bytes(stream.data[stream.read :])
        stream.base += len(stream.data)
        stream.data.clear()
        stream.read = 0
        if not instructions:
            return []
        self._encoder_fed = True
        try:
            unblocked = self._decoder.feed_encoder(instructions)
        except (EncoderStreamError, DecompressionFailed) as exc:  # the table is lost
            return [Diagnostic("h3_qpack_error", f"encoder stream: {type(exc).__name__}")]
        out: list[H3Item] = []
        for blocked_sid in unblocked:
            request = self._streams.get(blocked_sid)
            if request is not None and request.blocked is not None:
                try:
                    _, headers = self._decoder.resume_header(blocked_sid)
                except (DecompressionFailed, DecoderStreamError, StreamBlocked) as exc:
                    out.append(
                        Diagnostic("h3_qpack_error", f"stream {blocked_sid}: {type(exc).__name__}")
                    )
                    self._drop(blocked_sid)
                    continue
                request.blocked = None
                request.headers = list(headers)
                out += self._request(blocked_sid, request)
        return out

    def _request(self, sid: int, stream: _Stream) -> list[H3Item]:
        out: list[H3Item] = []
        while stream.blocked is None:
            buf = stream.data
            pos = stream.read
            try:
                ftype, p = read_varint(buf, pos)
                length, p = read_varint(buf, p)
            except IndexError:
                break
            if ftype == FRAME_DATA:
                take = min(length, len(buf) - p)
                room = self.max_body - len(stream.body)
                if room > 0:
                    stream.body += buf[p : p + min(take, room)]
                if take > room:
                    stream.truncated = True
                if take < length:  # the rest comes later: a header for it stands in its place
                    end = stream.base + len(buf)
                    del buf[pos:]
                    buf += _varint(FRAME_DATA) + _varint(length - take)
                    stream.base = end - len(buf)  # so later chunks still land at their offsets
                    stream.read = pos
                    break
                stream.read = p + length
            else:
                if length > MAX_FRAME:
                    out.append(Diagnostic("h3_frame_limit", f"stream {sid}: {length}-byte frame"))
                    self._drop(sid)
                    return out
                if p + length > len(buf):
                    break
                payload = bytes(buf[p : p + length])
                stream.read = p + length
                if ftype == FRAME_HEADERS and stream.headers is None:
                    try:
                        _, headers = self._decoder.feed_header(sid, payload)
                    except StreamBlocked:
                        stream.blocked = payload
                        break
                    except (DecompressionFailed, DecoderStreamError) as exc:
                        out.append(
                            Diagnostic("h3_qpack_error", f"stream {sid}: {type(exc).__name__}")
                        )
                        self._drop(sid)
                        return out
                    stream.headers = list(headers)
            # what was read is let go; stream offsets keep counting from the start
            if stream.read > 1 << 16:
                del buf[: stream.read]
                stream.base += stream.read
                stream.read = 0
        if stream.blocked is None and stream.ended and stream.read >= len(stream.data):
            if stream.headers is not None:
                out.append(self._emit(sid, stream, cut=False))
            else:
                self._drop(sid)
        return out

    def _emit(self, sid: int, stream: _Stream, cut: bool) -> HttpRequest:
        headers = stream.headers or []
        pseudo = {k: v for k, v in headers if k.startswith(b":")}
        fields = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if not k.startswith(b":")
        ]
        authority = pseudo.get(b":authority")
        if authority and not any(k.lower() == "host" for k, _ in fields):
            fields.insert(0, ("Host", authority.decode("latin-1")))
        method = pseudo.get(b":method", b"GET").decode("latin-1")
        path = pseudo.get(b":path")
        target = (authority or path or b"") if method == "CONNECT" else (path or b"/")
        self._drop(sid)
        self.requests += 1
        return HttpRequest(
            method=method,
            target=target.decode("latin-1") or "/",
            version="HTTP/3",
            headers=tuple(fields),
            body=bytes(stream.body),
            body_truncated=stream.truncated or cut,
        )

    def _drop(self, sid: int) -> None:
        self._streams.pop(sid, None)
        self._finished.add(sid)


def _settings(data: bytes) -> tuple[bool, dict[int, int]] | None:
    """Whether a server stream's bytes so far are its control stream, and its SETTINGS;
    None until that is known (and the frame whole)."""
    try:
        kind, pos = read_varint(data, 0)
        if kind != STREAM_CONTROL:
            return False, {}
        ftype, pos = read_varint(data, pos)
        length, pos = read_varint(data, pos)
    except IndexError:
        return None
    if ftype != FRAME_SETTINGS:
        return True, {}  # the first frame must be SETTINGS (RFC 9114 §6.2.1)
    if pos + length > len(data):
        return None
    settings: dict[int, int] = {}
    end = pos + length
    try:
        while pos < end:
            ident, pos = read_varint(data, pos)
            value, pos = read_varint(data, pos)
            settings[ident] = value
    except IndexError:
        return True, {}
    return True, settings


def read_request_stream(data: bytes) -> list[H3Item]:
    """The request one client stream holds, read whole (its headers from the static
    table alone, as without an encoder stream)."""
    reader = Http3Reader()
    return reader.feed([StreamChunk(0, 0, data, True)]) + reader.close()


def _varint(value: int) -> bytes:
    if value < 1 << 6:
        return value.to_bytes(1, "big")
    if value < 1 << 14:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 1 << 30:
        return (value | 0x80000000).to_bytes(4, "big")
    return (value | 0xC000000000000000).to_bytes(8, "big")
