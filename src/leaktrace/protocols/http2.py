"""HTTP/2 requests from the client half of a connection (over decrypted TLS, or h2c).

Sans-IO: client bytes go in, finished requests come out as ``HttpRequest``
with ``version="HTTP/2"``. Frames are cut with ``hyperframe`` and header
blocks decoded with ``hpack``, the framing and header compression libraries
that ``h2`` is built on; only the client's direction is read, which is
enough because HPACK state is per direction.

Pseudo-headers become the request line: ``:method`` the method, ``:path``
the target and ``:authority`` the host (added as a ``host`` header when the
client sent none). Every stream is bounded (body, header block, number of
open streams); an HPACK error leaves the compression state unknowable, so
parsing stops there with a diagnostic.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from hpack import Decoder, HPACKError
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    HeadersFrame,
    RstStreamFrame,
)

from leaktrace.protocols.sniff import HTTP2_PREFACE
from leaktrace.types import Diagnostic, HttpRequest

PREFACE: Final = HTTP2_PREFACE
FRAME_HEADER: Final = 9
MAX_FRAME: Final = 1 << 20
MAX_HEADER_BLOCK: Final = 256 << 10
MAX_OPEN_STREAMS: Final = 1000


class _Stream:
    __slots__ = ("block", "body", "ended", "headers", "truncated")

    def __init__(self) -> None:
        self.block = bytearray()  # header block fragments until END_HEADERS
        self.headers: list[tuple[str, str]] | None = None
        self.body = bytearray()
        self.truncated = False
        self.ended = False


class Http2RequestParser:
    """Parse client-to-server HTTP/2 bytes (starting with the connection preface) into requests.

    ``expect_preface=False`` is for streams already past the preface. After
    each call, read and clear :attr:`diagnostics`.
    """

    def __init__(self, max_body: int = 8 << 20, expect_preface: bool = True) -> None:
        self.max_body = max_body
        self.diagnostics: list[Diagnostic] = []
        self.broken = False
        self._buf = bytearray()
        self._preface_left = len(PREFACE) if expect_preface else 0
        # OrderedDict: at the stream limit the oldest is taken from the front.
        self._streams: OrderedDict[int, _Stream] = OrderedDict()
        self._continuing: int | None = None  # stream whose header block is still open
        self._decoder = Decoder(max_header_list_size=MAX_HEADER_BLOCK)
        # Be as lenient as the client's encoder may have been told to be.
        self._decoder.max_allowed_table_size = 1 << 20

    @property
    def held_bytes(self) -> int:
        """Bytes kept for frames and streams not yet complete."""
        return len(self._buf) + sum(len(s.block) + len(s.body) for s in self._streams.values())

    def feed(self, data: bytes) -> list[HttpRequest]:
        if self.broken or not data:
            return []
        self._buf += data
        if self._preface_left:
            take = min(self._preface_left, len(self._buf))
            offset = len(PREFACE) - self._preface_left
            if bytes(self._buf[:take]) != PREFACE[offset : offset + take]:
                self._break("http2_bad_preface", "stream does not start with the HTTP/2 preface")
                return []
            del self._buf[:take]
            self._preface_left -= take
        out: list[HttpRequest] = []
        buf = self._buf
        pos = 0
        while not self.broken and len(buf) - pos >= FRAME_HEADER:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if length > MAX_FRAME:
                self._break("http2_frame_limit", f"frame of {length} bytes")
                break
            if len(buf) - pos < FRAME_HEADER + length:
                break
            raw = memoryview(bytes(buf[pos : pos + FRAME_HEADER + length]))
            pos += FRAME_HEADER + length
            self._frame(raw, out)
        del buf[:pos]
        return out

    def close(self) -> list[HttpRequest]:
        """End of flow: requests whose stream never ended, marked truncated."""
        out: list[HttpRequest] = []
        for stream_id in list(self._streams):
            stream = self._streams[stream_id]
            if stream.headers is not None:
                stream.truncated = True
                self._finish(stream_id, out)
        self._streams.clear()
        return out

    # -- frames -----------------------------------------------------------------------

    def _frame(self, raw: memoryview, out: list[HttpRequest]) -> None:
        try:
            frame, length = Frame.parse_frame_header(raw[:FRAME_HEADER])
            frame.parse_body(raw[FRAME_HEADER : FRAME_HEADER + length])
        except HyperframeError as exc:
            self._diag("http2_bad_frame", f"{type(exc).__name__}: {exc}")
            return
        except (ValueError, IndexError) as exc:
            self._diag("http2_bad_frame", str(exc) or type(exc).__name__)
            return
        if self._continuing is not None and not isinstance(frame, ContinuationFrame):
            self._break("http2_bad_frame", "header block interrupted by another frame")
            return
        sid = frame.stream_id
        if isinstance(frame, HeadersFrame):
            stream = self._streams.get(sid)
            if stream is None:
                if len(self._streams) >= MAX_OPEN_STREAMS:
                    self._diag("http2_stream_limit", f"over {MAX_OPEN_STREAMS} open streams")
                    oldest = next(iter(self._streams))
                    self._streams[oldest].truncated = True
                    self._finish(oldest, out)
                stream = self._streams[sid] = _Stream()
            self._block(sid, stream, frame.data, "END_HEADERS" in frame.flags, out)
            if "END_STREAM" in frame.flags:
                stream.ended = True
                if self._continuing is None:
                    self._finish(sid, out)
        elif isinstance(frame, ContinuationFrame):
            stream = self._streams.get(sid)
            if stream is None or self._continuing != sid:
                self._break("http2_bad_frame", f"CONTINUATION on stream {sid} out of place")
                return
            self._block(sid, stream, frame.data, "END_HEADERS" in frame.flags, out)
            if self._continuing is None and stream.ended:
                self._finish(sid, out)
        elif isinstance(frame, DataFrame):
            stream = self._streams.get(sid)
            if stream is None:
                return  # DATA for a stream we never saw open (capture started mid-flow)
            room = self.max_body - len(stream.body)
            if len(frame.data) > room:
                stream.truncated = True
            stream.body += frame.data[: max(room, 0)]
            if "END_STREAM" in frame.flags:
                self._finish(sid, out)
        elif isinstance(frame, RstStreamFrame) and sid in self._streams:
            stream = self._streams[sid]
            if stream.headers is not None:
                stream.truncated = True
                self._finish(sid, out)
            else:
                del self._streams[sid]

    def _block(
        self, sid: int, stream: _Stream, data: bytes, end: bool, out: list[HttpRequest]
    ) -> None:
        if len(stream.block) + len(data) > MAX_HEADER_BLOCK:
            self._break("http2_header_limit", f"header block over {MAX_HEADER_BLOCK} bytes")
            return
        stream.block += data
        if not end:
            self._continuing = sid
            return
        self._continuing = None
        try:
            decoded = self._decoder.decode(bytes(stream.block), raw=True)
        except HPACKError as exc:
            self._break("http2_hpack_error", f"{type(exc).__name__}: {exc}")
            return
        stream.block.clear()
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in decoded
        ]
        if stream.headers is None:
            stream.headers = headers
        else:
            stream.headers += headers  # trailers

    def _finish(self, sid: int, out: list[HttpRequest]) -> None:
        stream = self._streams.pop(sid, None)
        if stream is None or stream.headers is None:
            return
        out.append(to_request(stream.headers, bytes(stream.body), stream.truncated))

    def _diag(self, name: str, detail: str) -> None:
        self.diagnostics.append(Diagnostic(name, detail))

    def _break(self, name: str, detail: str) -> None:
        self.broken = True
        self._buf.clear()
        self._diag(name, detail)


def to_request(fields: list[tuple[str, str]], body: bytes, truncated: bool) -> HttpRequest:
    """An HTTP/2 or HTTP/3 header list as an ``HttpRequest``: pseudo-headers to the request line."""
    method, target, authority = "", "", None
    headers: list[tuple[str, str]] = []
    for name, value in fields:
        if name == ":method":
            method = value
        elif name == ":path":
            target = value
        elif name == ":authority":
            authority = value
        elif not name.startswith(":"):
            headers.append((name, value))
    if authority and not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("host", authority))
    if not target and method == "CONNECT" and authority:
        target = authority
    return HttpRequest(
        method=method,
        target=target or "/",
        version="HTTP/2",
        headers=tuple(headers),
        body=body,
        body_truncated=truncated,
    )


def parse_requests(data: bytes) -> list[HttpRequest]:
    """Every request in one whole client byte stream (starting with the preface)."""
    parser = Http2RequestParser()
    return parser.feed(data) + parser.close()
