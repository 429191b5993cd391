"""HTTP/1.x request parser for the client-to-server half of a TCP flow.

Sans-IO in the style of h11: bytes go in through :meth:`RequestParser.feed`,
finished requests come out. It reads what real clients send rather than what
RFC 9112 allows: LF-only line ends, folded header lines, pipelined requests,
bodies that were announced with ``Expect: 100-continue`` but never sent, and
junk between requests. Whatever it cannot read becomes a ``Diagnostic`` and
parsing carries on at the next plausible request line.

Memory stays bounded whatever the peer claims: the header block is capped by
``max_header_bytes``, each body keeps at most ``max_body`` bytes and the rest
of an oversized body (a chunk claiming gigabytes) is skipped as it arrives,
never buffered.
"""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import Final

from leaktrace.types import Diagnostic, HttpRequest

# A request line a client could plausibly have sent. Lower-case "methods" and
# targets with spaces are rejected so that resynchronising after junk does
# not lock on to text that merely mentions HTTP.
_REQUEST_LINE: Final = re.compile(rb"([A-Z][A-Z0-9_-]{0,31}) +([^\s]{1,65536}) +HTTP/(\d)\.(\d) *")
_CHUNK_SIZE: Final = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,64})[ \t]*(?:;.*)?")
_DIGITS: Final = re.compile(r"[0-9]{1,32}")
# Longest chunk-size line (with extensions) accepted before the framing is
# declared broken.
_MAX_CHUNK_LINE: Final = 4096
# How far to look for a request line when deciding whether a client that
# sent ``Expect: 100-continue`` gave up on the body, or whether an upgrade
# was refused and plain HTTP/1 goes on.
_LOOKAHEAD: Final = 8192


_HEX_DIGIT: Final = re.compile(r"[0-9A-Fa-f]")
# Headers that make a request's framing more than one Content-Length.
_REFRAMING: Final = frozenset({"transfer-encoding", "upgrade", "expect"})


def _preview(line: bytes) -> str:
    """The start of a line for a diagnostic, with hex digits masked.

    Diagnostics reach every output, unmasked by design; identifiers (IMEIs,
    phone numbers, MACs, hashes) are digits and hex, so those never do.
    """
    text = line[:40].decode("latin-1").encode("unicode_escape").decode("ascii")
    return _HEX_DIGIT.sub("*", text)


def _header_fields(text: str, room: int) -> list[tuple[str, str]] | None:
    """The (name, value) of each line of a header block decoded as latin-1, when it has
    at most ``room`` lines, each ended by CRLF (no bare CR or LF), all of the plain form:
    a name that does not start with a space or tab, its first colon, then the value.
    Names lose the spaces and tabs before the colon, values those around them.

    None for anything else: the line by line path reads (and reports) dropped,
    folded, nameless and odd lines. Split and partition, not a regex over the
    block: that took three times as long on a request's five headers."""
    lines = text.split("\r\n")
    ends = len(lines) - 1
    if ends >= room or text.count("\r") != ends or text.count("\n") != ends:
        return None
    fields: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name or name[0] in " \t":
            return None
        fields.append((name, value.strip(" \t")))
    return fields


class _State(Enum):
    REQUEST_LINE = auto()
    HEADERS = auto()
    EXPECT = auto()
    BODY = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_END = auto()
    TRAILERS = auto()
    UPGRADE_PENDING = auto()
    UPGRADED = auto()
    CLOSED = auto()


class _TooLong:
    """Sentinel: no line end within the allowed length."""


_TOO_LONG: Final = _TooLong()


class RequestParser:
    """Parse the client-to-server bytes of one TCP flow into HTTP requests.

    Use one parser per flow. After each call, read and clear
    :attr:`diagnostics`. Once :attr:`upgraded` is true the rest of the stream
    is not HTTP/1 (WebSocket frames, a CONNECT tunnel, HTTP/2): the bytes
    already fed that followed the upgrade are in :attr:`leftover` and later
    ``feed`` calls are ignored, so the caller routes them elsewhere.

    Only the client side is seen, so whether an Upgrade or CONNECT succeeded
    is read from what the client sends next: another request line after an
    Upgrade, or another CONNECT after a CONNECT, means it was refused and
    parsing goes on; anything else means the switch happened. A tunnel may
    carry plain HTTP (a CONNECT to port 80): a request line after a CONNECT
    that is not itself a CONNECT is read as the tunnel's first request.
    """

    def __init__(
        self,
        max_body: int = 8 << 20,
        max_header_bytes: int = 64 << 10,
        max_headers: int = 256,
    ) -> None:
        self.max_body = max_body
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.diagnostics: list[Diagnostic] = []
        self.upgraded = False
        self.leftover = b""

        self._buf = bytearray()
        self._pos = 0
        self._base = 0  # stream offset of self._buf[0]
        self._state = _State.REQUEST_LINE
        self._garbage = 0  # bytes skipped since the last good request line
        self._pending_connect = False  # the upgrade awaiting an answer is a CONNECT
        self._out: list[HttpRequest] = []
        self._reset_request()

    # -- public API -------------------------------------------------------

    def feed(self, data: bytes) -> list[HttpRequest]:
        """Add bytes and return the requests completed by them, in stream order."""
        if self._state in (_State.UPGRADED, _State.CLOSED) or not data:
            return []
        self._buf += data
        while self._step():
            pass
        self._compact()
        out, self._out = self._out, []
        return out

    @property
    def held_bytes(self) -> int:
        """Bytes kept for a request not yet complete: unread input, the head read so
        far (as header strings) and the body so far."""
        return len(self._buf) + self._head_bytes + len(self._body)

    def close(self) -> list[HttpRequest]:
        """End of flow: return a request that was cut short, marked ``body_truncated``."""
        if self._state in (_State.UPGRADED, _State.CLOSED):
            return []
        if self._state is _State.EXPECT:
            # The stream ended while deciding; what arrived is the body.
            self._start_body()
            while self._step():
                pass
        self._flush_partial()
        self._state = _State.CLOSED
        self._buf.clear()
        self._pos = 0
        out, self._out = self._out, []
        return out

    def _flush_partial(self) -> None:
        """Emit whatever request the flow ended in the middle of."""
        state = self._state
        if state in (_State.UPGRADED, _State.UPGRADE_PENDING):
            return
        if state is _State.REQUEST_LINE:
            if self._buf[self._pos :].strip():
                self._diag("http_incomplete_request", "flow ended inside a request line")
        elif state is _State.TRAILERS:
            self._diag("http_incomplete_request", "flow ended inside the chunked trailer")
            self._finish(truncated=self._body_truncated)
        else:
            self._diag("http_incomplete_request", f"flow ended while reading {state.name.lower()}")
            self._finish(truncated=True)

    # -- request assembly -------------------------------------------------

    def _reset_request(self) -> None:
        self._method = ""
        self._target = ""
        self._version = ""
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._dropped_headers = 0
        self._body = bytearray()
        self._body_truncated = False
        self._remaining = 0
        self._chunked = False
        self._upgrade_after = False

    def _finish(self, truncated: bool = False) -> None:
        if self._dropped_headers:
            self._diag(
                "http_header_limit",
                f"{self._dropped_headers} header lines over max_headers={self.max_headers} dropped",
            )
        self._out.append(
            HttpRequest(
                method=self._method,
                target=self._target,
                version=self._version,
                headers=tuple(self._headers),
                body=bytes(self._body),
                body_truncated=truncated or self._body_truncated,
            )
        )
        upgrade = self._upgrade_after
        self._pending_connect = upgrade and self._method == "CONNECT"
        self._reset_request()
        self._state = _State.UPGRADE_PENDING if upgrade else _State.REQUEST_LINE

    def _enter_upgraded(self) -> None:
        self.upgraded = True
        self._state = _State.UPGRADED
        self.leftover = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0

    def _abort(self, name: str, detail: str) -> None:
        """Give up on the current request's framing; resync at the next request line."""
        self._diag(name, detail)
        self._finish(truncated=True)

    # -- the state machine ------------------------------------------------

    def _step(self) -> bool:
        """Advance by one unit of work; False when more bytes are needed."""
        state = self._state
        if state is _State.REQUEST_LINE:
            return self._step_request_line()
        if state is _State.HEADERS:
            return self._step_header()
        if state is _State.EXPECT:
            return self._step_expect()
        if state in (_State.BODY, _State.CHUNK_DATA):
            return self._step_body_bytes()
        if state is _State.CHUNK_SIZE:
            return self._step_chunk_size()
        if state is _State.CHUNK_END:
            return self._step_chunk_end()
        if state is _State.TRAILERS:
            return self._step_trailer()
        if state is _State.UPGRADE_PENDING:
            return self._step_upgrade_pending()
        return False

    def _step_request_line(self) -> bool:
        if not self._garbage and self._take_whole_head():
            return True
        limit = self.max_header_bytes
        start = self._pos
        line = self._take_line(limit)
        if line is None:
            return False
        if isinstance(line, _TooLong):
            self._give_up(f"no line end within {limit} bytes while looking for a request line")
            return False
        if not line.strip():
            return True  # blank lines between requests are allowed
        match = _REQUEST_LINE.fullmatch(line)
        if match is None or match.group(3) not in (b"1", b"2"):
            return self._skip_garbage(line)
        method, target, major, minor = match.groups()
        if self._garbage:
            self._diag("http_resync", f"skipped {self._garbage} bytes before a request line")
            self._garbage = 0
        if major == b"2":
            if method == b"PRI" and target == b"*":
                self._diag("http2_prior_knowledge", "HTTP/2 connection preface on an HTTP/1 flow")
                self._pos = start  # the preface belongs to the HTTP/2 stream
                self._enter_upgraded()
                return False
            return self._skip_garbage(line)
        self._method = method.decode("ascii")
        self._target = target.decode("latin-1")
        self._version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"
        self._head_bytes = len(line) + 2
        self._state = _State.HEADERS
        return True

    def _take_whole_head(self) -> bool:
        """The common request read in one pass: its request line and a header block
        that ``_take_header_block`` would take whole, with no header that changes the
        framing but one plain Content-Length. A body that is all there comes out with
        the request; otherwise the body is read as step by step would go on to read it.
        False, having read nothing, for anything else (which the steps then read).

        Step by step, this request takes four trips through the state machine and a
        copy of its request line; here it is one regex match and one split of the block."""
        buf = self._buf
        pos = self._pos
        end = buf.find(b"\r\n\r\n", pos, pos + self.max_header_bytes + 1)
        if end < 0:
            return False
        line_end = buf.find(b"\r\n", pos, end)  # -1 when there are no header lines
        match = _REQUEST_LINE.fullmatch(buf, pos, line_end)  # None then, and for a blank line
        if match is None or match.group(3) != b"1":
            return False
        fields = _header_fields(buf[line_end + 2 : end].decode("latin-1"), self.max_headers)
        if fields is None:
            return False
        length = -1
        for name, value in fields:
            lowered = name.lower()
            if lowered == "content-length":
                if length >= 0 or not _DIGITS.fullmatch(value):
                    return False
                length = int(value)
            elif lowered in _REFRAMING:
                return False
        method = match.group(1).decode("ascii")
        if method == "CONNECT":
            return False
        target = match.group(2).decode("latin-1")
        version = "HTTP/1.0" if match.group(4) == b"0" else "HTTP/1.1"
        body_start = end + 4
        length = max(length, 0)
        if length <= self.max_body and len(buf) - body_start >= length:
            self._pos = body_start + length
            self._pending_connect = False
            self._out.append(
                HttpRequest(
                    method, target, version, tuple(fields), bytes(buf[body_start : self._pos])
                )
            )
            return True
        self._method, self._target, self._version = method, target, version
        self._headers = fields
        self._head_bytes = body_start - pos
        self._remaining = length
        self._pos = body_start
        self._state = _State.BODY
        return True

    def _skip_garbage(self, line: bytes) -> bool:
        if not self._garbage:
            preview = _preview(line)
            self._diag("http_bad_request_line", f"not a request line: {preview!r}")
        self._garbage += len(line) + 1
        if self._garbage > self.max_header_bytes:
            self._give_up(f"no request line within {self._garbage} bytes of junk")
            return False
        return True

    def _give_up(self, detail: str) -> None:
        self._diag("http_gave_up", detail)
        self._state = _State.CLOSED
        self._buf.clear()
        self._pos = 0

    def _step_header(self) -> bool:
        limit = self.max_header_bytes - self._head_bytes
        if self._take_header_block(limit):
            return True
        line = self._take_line(limit)
        if line is None:
            return False
        if isinstance(line, _TooLong):
            limit_text = f"header block over max_header_bytes={self.max_header_bytes}"
            self._abort("http_header_limit", limit_text)
            self._give_up("header block too large to resynchronise")
            return False
        self._head_bytes += len(line) + 2
        if not line:
            self._headers_done()
            return True
        self._add_header_line(line, "header")
        return True

    def _take_header_block(self, limit: int) -> bool:
        """Read every header line at once when the whole block is buffered, all in CRLF
        lines of the plain ``name: value`` form and within ``limit`` and ``max_headers``:
        the same result as line by line, for the common case, in one pass.
        False, having read nothing, otherwise."""
        buf = self._buf
        pos = self._pos
        if buf.startswith((b"\r", b"\n"), pos):
            return False  # no header lines (or a line that starts oddly)
        end = buf.find(b"\r\n\r\n", pos, pos + limit + 1)
        if end < 0:
            return False  # not all there yet, or over the limit
        fields = _header_fields(
            buf[pos:end].decode("latin-1"), self.max_headers - len(self._headers)
        )
        if fields is None:
            return False  # the line by line path reads (and reports) those
        self._headers += fields
        taken = end + 4 - pos
        self._pos += taken
        self._head_bytes += taken
        self._headers_done()
        return True

    def _add_header_line(self, line: bytes, what: str) -> None:
        if line[:1] in (b" ", b"\t"):
            if self._headers and not self._dropped_headers:
                name, value = self._headers[-1]
                folded = line.strip(b" \t").decode("latin-1")
                self._headers[-1] = (name, f"{value} {folded}" if value else folded)
            elif not self._headers:
                self._diag("http_bad_header", f"{what} continuation line with nothing to continue")
            return
        colon = line.find(b":")
        raw_name = line[:colon].rstrip(b" \t") if colon > 0 else b""
        if not raw_name:
            preview = _preview(line)
            self._diag("http_bad_header", f"{what} line without a name: {preview!r}")
            return
        if len(self._headers) >= self.max_headers:
            self._dropped_headers += 1
            return
        raw_value = line[colon + 1 :].strip(b" \t")
        self._headers.append((raw_name.decode("latin-1"), raw_value.decode("latin-1")))

    def _headers_done(self) -> None:
        """Decide the body framing from the headers (RFC 9112 §6.3, request side)."""
        codings: list[str] = []
        lengths: list[str] = []
        upgrade = self._method == "CONNECT"
        expect: str | None = None
        for name, value in self._headers:  # one pass: a request has few framing headers
            lowered = name.lower()
            if lowered == "content-length":
                lengths.append(value)
            elif lowered == "transfer-encoding":
                codings += [c.strip().lower() for c in value.split(",") if c.strip()]
            elif lowered == "upgrade":
                upgrade = True
            elif lowered == "expect" and expect is None:
                expect = value
        self._upgrade_after = upgrade
        if codings:
            if codings[-1] != "chunked":
                detail = f"transfer-encoding {codings!r} does not end in chunked"
                self._abort("http_bad_framing", detail)
                return
            if lengths:
                self._diag("http_te_and_cl", "transfer-encoding and content-length; chunked wins")
            self._chunked = True
        elif lengths:
            values = {p.strip() for v in lengths for p in v.split(",")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                self._abort("http_bad_framing", f"unusable content-length {sorted(values)!r}")
                return
            self._remaining = int(values.pop())
        if not self._chunked and self._remaining == 0:
            self._finish()
            return
        if expect is not None and expect.lower() == "100-continue":
            self._state = _State.EXPECT
        else:
            self._start_body()

    def _start_body(self) -> None:
        self._state = _State.CHUNK_SIZE if self._chunked else _State.BODY

    def _step_expect(self) -> bool:
        """Did the client send the body, or give up on it and send the next request?

        Decided from the first line of what follows, only once that line is
        complete (or cannot be a request line), so the answer never depends
        on how the bytes were split into segments.
        """
        window = _LOOKAHEAD if self._chunked else min(_LOOKAHEAD, self._remaining)
        avail = len(self._buf) - self._pos
        end = self._buf.find(b"\n", self._pos, self._pos + window)
        if end < 0 and avail < window:
            return False
        if end >= 0:
            line = bytes(self._buf[self._pos : end]).rstrip(b"\r")
            if _REQUEST_LINE.fullmatch(line):
                self._diag("http_expect_unsent_body", "body announced with 100-continue never sent")
                self._finish()
                return True
        self._start_body()
        return True

    def _step_body_bytes(self) -> bool:
        avail = len(self._buf) - self._pos
        if avail == 0:
            return False
        n = min(avail, self._remaining)
        room = self.max_body - len(self._body)
        if room > 0:
            self._body += self._buf[self._pos : self._pos + min(n, room)]
        if n > room and not self._body_truncated:
            self._body_truncated = True
            self._diag("http_body_limit", f"body over max_body={self.max_body}; rest skipped")
        self._pos += n
        self._remaining -= n
        if self._remaining == 0:
            if self._state is _State.CHUNK_DATA:
                self._state = _State.CHUNK_END
            else:
                self._finish()
        return True

    def _step_chunk_size(self) -> bool:
        line = self._take_line(_MAX_CHUNK_LINE)
        if line is None:
            return False
        if isinstance(line, _TooLong):
            self._abort("http_bad_chunk", "chunk-size line too long")
            return True
        if not line.strip():
            return True  # tolerate an extra blank line between chunks
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            preview = _preview(line)
            self._abort("http_bad_chunk", f"bad chunk-size line {preview!r}")
            return True
        size = int(match.group(1), 16)
        if size == 0:
            self._state = _State.TRAILERS
        else:
            self._remaining = size
            self._state = _State.CHUNK_DATA
        return True

    def _step_chunk_end(self) -> bool:
        head = bytes(self._buf[self._pos : self._pos + 2])
        if head == b"\r\n":
            self._pos += 2
        elif head[:1] == b"\n":
            self._pos += 1
        elif head == b"\r":
            return False  # the LF is still to come
        elif not head:
            return False
        else:
            self._diag("http_bad_chunk", "chunk data not followed by a line end")
        self._state = _State.CHUNK_SIZE
        return True

    def _step_trailer(self) -> bool:
        limit = max(self.max_header_bytes - self._head_bytes, 0)
        line = self._take_line(limit)
        if line is None:
            return False
        if isinstance(line, _TooLong):
            self._abort("http_header_limit", "chunked trailer over max_header_bytes")
            return True
        self._head_bytes += len(line) + 2
        if not line:
            self._finish()
            return True
        # Trailer fields are kept with the headers: they are sent by the
        # client like any header and may carry the same identifiers.
        self._add_header_line(line, "trailer")
        return True

    def _step_upgrade_pending(self) -> bool:
        """Decide from the next client bytes whether the protocol switch happened.

        A WebSocket frame, a TLS record or an HTTP/2 preface settles it at
        once; bytes starting with a capital letter wait for a whole line.
        """
        avail = len(self._buf) - self._pos
        if avail == 0:
            return False
        if 0x41 <= self._buf[self._pos] <= 0x5A:
            end = self._buf.find(b"\n", self._pos, self._pos + _LOOKAHEAD)
            if end < 0 and avail < _LOOKAHEAD:
                return False
            if end >= 0:
                match = _REQUEST_LINE.fullmatch(bytes(self._buf[self._pos : end]).rstrip(b"\r"))
                if match is not None and match.group(3) == b"1":
                    if not self._pending_connect:
                        self._diag("http_upgrade_refused", "upgrade followed by HTTP/1")
                    elif match.group(1) == b"CONNECT":
                        self._diag("http_upgrade_refused", "CONNECT followed by another CONNECT")
                    self._state = _State.REQUEST_LINE
                    return True
        self._enter_upgraded()
        return False

    # -- buffer helpers ---------------------------------------------------

    def _take_line(self, limit: int) -> bytes | _TooLong | None:
        """The next line without its CRLF or LF, None if incomplete, _TOO_LONG past ``limit``."""
        end = self._buf.find(b"\n", self._pos, self._pos + limit + 1)
        if end < 0:
            return _TOO_LONG if len(self._buf) - self._pos > limit else None
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 1
        return line[:-1] if line.endswith(b"\r") else line

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0

    def _diag(self, name: str, detail: str) -> None:
        offset = self._base + self._pos
        self.diagnostics.append(Diagnostic(name=name, detail=f"{detail} (stream byte {offset})"))
