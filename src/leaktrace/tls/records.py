"""The TLS record layer and handshake message framing, for one direction of a flow.

Records are cut from the in-order byte stream; handshake messages are
reassembled from record fragments (a message may span records, a record may
hold several messages). Both are bounded, and a stream that stops looking
like TLS is reported once and then left alone rather than parsed as noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from leaktrace.types import Diagnostic

CT_CHANGE_CIPHER_SPEC: Final = 20
CT_ALERT: Final = 21
CT_HANDSHAKE: Final = 22
CT_APPLICATION_DATA: Final = 23
CT_HEARTBEAT: Final = 24
CONTENT_TYPES: Final = frozenset({20, 21, 22, 23, 24})

HEADER_LEN: Final = 5
MAX_FRAGMENT: Final = (1 << 14) + 2048  # TLSCiphertext bound, RFC 5246 §6.2.3
MAX_HANDSHAKE_MESSAGE: Final = 256 << 10  # certificate chains are the largest


@dataclass(frozen=True, slots=True)
class Record:
    ctype: int
    version: int
    fragment: bytes


class RecordReader:
    """Cut TLS records out of one direction's byte stream.

    After a header that is not TLS, :attr:`broken` is set, a diagnostic is
    recorded and later bytes are ignored.
    """

    __slots__ = ("_buf", "broken", "diagnostics")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.broken = False
        self.diagnostics: list[Diagnostic] = []

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Record]:
        if self.broken:
            return []
        buf = self._buf
        buf += data
        out: list[Record] = []
        pos = 0
        end = len(buf)
        while end - pos >= HEADER_LEN:
            ctype, major = buf[pos], buf[pos + 1]
            length = (buf[pos + 3] << 8) | buf[pos + 4]
            if ctype not in CONTENT_TYPES or major != 3 or length > MAX_FRAGMENT:
                self.broken = True
                self.diagnostics.append(
                    Diagnostic("tls_bad_record", f"record header {bytes(buf[pos : pos + 5]).hex()}")
                )
                buf.clear()
                return out
            if end - pos < HEADER_LEN + length:
                break
            version = (major << 8) | buf[pos + 2]
            out.append(Record(ctype, version, bytes(buf[pos + 5 : pos + 5 + length])))
            pos += HEADER_LEN + length
        del buf[:pos]
        return out


class HandshakeAssembler:
    """Handshake messages (type, whole message including its 4-byte header) from fragments."""

    __slots__ = ("_buf", "broken", "diagnostics")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.broken = False
        self.diagnostics: list[Diagnostic] = []

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, fragment: bytes) -> list[tuple[int, bytes]]:
        if self.broken:
            return []
        buf = self._buf
        buf += fragment
        out: list[tuple[int, bytes]] = []
        pos = 0
        while len(buf) - pos >= 4:
            length = int.from_bytes(buf[pos + 1 : pos + 4], "big")
            if length > MAX_HANDSHAKE_MESSAGE:
                self.broken = True
                self.diagnostics.append(
                    Diagnostic("tls_handshake_limit", f"handshake message claims {length} bytes")
                )
                buf.clear()
                return out
            if len(buf) - pos < 4 + length:
                break
            out.append((buf[pos], bytes(buf[pos : pos + 4 + length])))
            pos += 4 + length
        del buf[:pos]
        return out
