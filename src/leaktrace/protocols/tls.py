"""TLS ClientHello reader: the server name, ALPN and version a client offers in the clear.

Only the first flight of the client is read. The SNI is often the only name a
capture has for an encrypted flow, so it drives attribution; ALPN says whether
HTTP/2 or HTTP/1.1 will follow. Modern hellos (post-quantum key shares) can
spread over several TLS records, so records are reassembled up to a cap.
"""

from __future__ import annotations

from typing import Final, Literal

from leaktrace.types import Diagnostic, TlsHello

MAX_HELLO_BYTES: Final = 64 << 10

_CONTENT_HANDSHAKE: Final = 22
_HANDSHAKE_CLIENT_HELLO: Final = 1
_RECORD_HEADER: Final = 5
_MAX_RECORD: Final = (1 << 14) + 2048  # TLSCiphertext bound, RFC 8446 §5.2
_RECORD_SLACK: Final = 1024
_EXT_SERVER_NAME: Final = 0
_EXT_ALPN: Final = 16
_EXT_SUPPORTED_VERSIONS: Final = 43

_VERSION_NAMES: Final = {
    0x0300: "SSL3.0",
    0x0301: "TLS1.0",
    0x0302: "TLS1.1",
    0x0303: "TLS1.2",
    0x0304: "TLS1.3",
}

HelloStatus = Literal["need_more", "done", "not_tls"]


class HelloBuffer:
    """Reassemble the ClientHello from the first client bytes of a flow.

    Feed bytes from the start of the flow until the status is not
    ``"need_more"``. ``"done"`` means reading is over: :attr:`hello` holds the
    result, or None when the hello was malformed or over the 64 KiB cap (then
    :attr:`diagnostics` says why). ``"not_tls"`` means the flow does not start
    with a TLS handshake record.
    """

    def __init__(self, max_bytes: int = MAX_HELLO_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hello: TlsHello | None = None
        self.diagnostics: list[Diagnostic] = []
        self._records = bytearray()
        self._handshake = bytearray()
        self._status: HelloStatus = "need_more"

    @property
    def held_bytes(self) -> int:
        """Bytes kept for a ClientHello not yet complete."""
        return len(self._records) + len(self._handshake)

    def feed(self, data: bytes) -> HelloStatus:
        if self._status != "need_more":
            return self._status
        # Record headers add a few bytes on top of the hello itself.
        cap = self.max_bytes + _RECORD_SLACK
        held = len(self._records) + len(self._handshake)
        self._records += data[: max(cap - held, 0)]
        self._status = self._advance()
        if self._status == "need_more" and len(self._records) + len(self._handshake) >= cap:
            self._fail("tls_hello_limit", f"ClientHello not complete within {self.max_bytes} bytes")
        return self._status

    def _advance(self) -> HelloStatus:
        while len(self._records) >= _RECORD_HEADER:
            ctype, major = self._records[0], self._records[1]
            length = int.from_bytes(self._records[3:5], "big")
            if major != 3 or length > _MAX_RECORD:
                return self._not_tls_or_fail("record header is not TLS")
            if ctype != _CONTENT_HANDSHAKE:
                return self._not_tls_or_fail(f"record type {ctype} before the ClientHello ended")
            if len(self._records) < _RECORD_HEADER + length:
                return "need_more"
            self._handshake += self._records[_RECORD_HEADER : _RECORD_HEADER + length]
            del self._records[: _RECORD_HEADER + length]
            first = self._handshake[0] if self._handshake else _HANDSHAKE_CLIENT_HELLO
            if first != _HANDSHAKE_CLIENT_HELLO:
                return self._not_tls_or_fail(f"first handshake message is type {first}")
            if len(self._handshake) >= 4:
                need = 4 + int.from_bytes(self._handshake[1:4], "big")
                if need > self.max_bytes:
                    self._fail("tls_hello_limit", f"ClientHello claims {need} bytes")
                    return "done"
                if len(self._handshake) >= need:
                    self.hello = parse_client_hello(bytes(self._handshake[:need]))
                    if self.hello is None:
                        self._fail("tls_bad_client_hello", "ClientHello could not be parsed")
                    self._release()
                    return "done"
        return "need_more"

    def _not_tls_or_fail(self, detail: str) -> HelloStatus:
        """Before any handshake byte the flow simply is not TLS; later it is a broken hello."""
        if not self._handshake:
            return "not_tls"
        self._fail("tls_bad_client_hello", detail)
        return "done"

    def _fail(self, name: str, detail: str) -> None:
        self.diagnostics.append(Diagnostic(name=name, detail=detail))
        self._status = "done"
        self._release()

    def _release(self) -> None:
        """Reading is over: the flow lives on, often for minutes, without these bytes."""
        self._records.clear()
        self._handshake.clear()


class _Short(Exception):
    """Internal: a length field points past the data."""


# The last message read and its answer: a flow opened with a key log has its hello
# read twice, by the session for its name and by the decryptor for its client random.
_last: tuple[bytes, TlsHello | None] = (b"", None)


def parse_client_hello(handshake_body: bytes) -> TlsHello | None:
    """Read SNI, ALPN and the highest offered version from a ClientHello message.

    ``handshake_body`` INCLUDES the 4-byte handshake header (type 1 and a
    24-bit length), exactly as the message appears reassembled from TLS
    records or from QUIC CRYPTO frames; bytes after the message are ignored.
    Returns None when the message is not a ClientHello or a length is wrong.
    """
    global _last
    message, answer = _last
    if message and handshake_body == message:
        return answer  # a TlsHello is immutable: the same answer can be shared
    try:
        answer = _parse(handshake_body)
    except _Short:
        answer = None
    _last = (bytes(handshake_body), answer)
    return answer


def _parse(data: bytes) -> TlsHello | None:
    # Offsets into ``data`` and inline bounds checks: a cursor object with a method
    # call per field cost about as much as the rest of a keyed TLS flow's handshake.
    if not data:
        return None
    if data[0] != _HANDSHAKE_CLIENT_HELLO:
        return None
    end = 4 + int.from_bytes(data[1:4], "big")
    if len(data) < 4 or end > len(data):
        return None
    pos = 4 + 2 + 32  # legacy_version, random
    if pos > end:
        return None
    legacy_version = (data[4] << 8) | data[5]
    pos = _skip_vector(data, pos, end, 1)  # legacy_session_id
    pos = _skip_vector(data, pos, end, 2)  # cipher_suites
    pos = _skip_vector(data, pos, end, 1)  # legacy_compression_methods
    if pos < 0:
        return None
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    offered: list[int] = []
    if pos < end:
        if pos + 2 > end:
            return None
        ext_end = pos + 2 + ((data[pos] << 8) | data[pos + 1])
        if ext_end != end:
            return None  # past the message, or bytes after the extensions: lengths are off
        pos += 2
        while pos < ext_end:
            if pos + 4 > ext_end:
                return None
            ext_type = (data[pos] << 8) | data[pos + 1]
            body = pos + 4
            pos = body + ((data[pos + 2] << 8) | data[pos + 3])
            if pos > ext_end:
                return None
            if ext_type == _EXT_SERVER_NAME:
                sni = _server_name(data, body, pos)
            elif ext_type == _EXT_ALPN:
                alpn = _alpn(data, body, pos)
            elif ext_type == _EXT_SUPPORTED_VERSIONS:
                offered = _supported_versions(data, body, pos)
    version = _highest_version(offered) or _VERSION_NAMES.get(legacy_version)
    return TlsHello(sni=sni, alpn=alpn, version=version)


def _skip_vector(data: bytes, pos: int, end: int, len_bytes: int) -> int:
    """Where the length-prefixed vector at ``pos`` ends; -1 when it runs past ``end``
    (and for any ``pos`` of -1, so that a chain of skips checks once)."""
    if pos < 0 or pos + len_bytes > end:
        return -1
    after = pos + len_bytes + int.from_bytes(data[pos : pos + len_bytes], "big")
    return after if after <= end else -1


def _vector(data: bytes, pos: int, end: int, len_bytes: int) -> tuple[int, int]:
    """(start, end) of the length-prefixed vector at ``pos``; ``_Short`` past ``end``."""
    after = _skip_vector(data, pos, end, len_bytes)
    if after < 0:
        raise _Short
    return pos + len_bytes, after


def _server_name(data: bytes, pos: int, end: int) -> str | None:
    pos, end = _vector(data, pos, end, 2)
    while pos < end:
        if pos + 1 > end:
            raise _Short
        name_type = data[pos]
        start, pos = _vector(data, pos + 1, end, 2)
        if name_type == 0:
            text = data[start:pos].decode("ascii", "backslashreplace").lower().rstrip(".")
            return text or None
    return None


def _alpn(data: bytes, pos: int, end: int) -> tuple[str, ...]:
    pos, end = _vector(data, pos, end, 2)
    out: list[str] = []
    while pos < end:
        start, pos = _vector(data, pos, end, 1)
        out.append(data[start:pos].decode("ascii", "backslashreplace"))
    return tuple(out)


def _supported_versions(data: bytes, pos: int, end: int) -> list[int]:
    pos, end = _vector(data, pos, end, 1)
    return [(data[i] << 8) | data[i + 1] for i in range(pos, end - 1, 2)]


def _highest_version(offered: list[int]) -> str | None:
    """Highest known version; GREASE values (0x?A?A) and unknown codes are skipped.

    Pre-standard TLS 1.3 drafts (0x7Fxx) count as TLS 1.3.
    """
    best: int | None = None
    for code in offered:
        if code & 0xFF00 == 0x7F00:
            code = 0x0304
        if code in _VERSION_NAMES and (best is None or code > best):
            best = code
    return _VERSION_NAMES[best] if best is not None else None
