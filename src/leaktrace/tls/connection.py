"""One TLS connection seen from the outside: both byte streams in, the client's plaintext out.

Sans-IO. The client's ClientHello gives the random that finds the secrets in
the key log; the server's ServerHello gives the version, the cipher suite and
(for TLS 1.2) the server random. Nothing from the server is needed after
that, which :attr:`TlsDecryptor.wants_server` tells the flow table so that
downloads are not reassembled for nothing.

Client records that arrive before the ServerHello is known (the flow table
orders the two directions by acknowledgements, not perfectly) wait in a
bounded queue. Whatever stops decryption (no keys, an unsupported suite,
records that do not authenticate) ends in :attr:`failure`, a coverage reason,
and the caller keeps the flow attributed by its SNI.
"""

from __future__ import annotations

from typing import Final

from leaktrace.protocols.tls import parse_client_hello
from leaktrace.tls import keylog as kl
from leaktrace.tls.decrypt import (
    SUITES,
    CipherSuite,
    RecordCipher,
    next_traffic_secret,
    tls12_keys,
    tls13_keys,
)
from leaktrace.tls.records import (
    CT_APPLICATION_DATA,
    CT_CHANGE_CIPHER_SPEC,
    CT_HANDSHAKE,
    HandshakeAssembler,
    Record,
    RecordReader,
)
from leaktrace.types import Diagnostic, TlsHello

HS_CLIENT_HELLO: Final = 1
HS_SERVER_HELLO: Final = 2
HS_FINISHED: Final = 20
HS_KEY_UPDATE: Final = 24
_EXT_SUPPORTED_VERSIONS: Final = 43
# ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
MAX_QUEUED_BYTES: Final = 1 << 20
MAX_FAILED_RECORDS: Final = 8  # consecutive records that do not open before giving up


class ServerHello:
    __slots__ = ("random", "suite_code", "version")

    def __init__(self, random: bytes, suite_code: int, version: int) -> None:
        self.random = random
        self.suite_code = suite_code
        self.version = version

    @property
    def is_retry(self) -> bool:
        return self.random == HRR_RANDOM


def parse_server_hello(message: bytes) -> ServerHello | None:
    """Random, suite and negotiated version from a ServerHello message (with its header)."""
    try:
        if message[0] != HS_SERVER_HELLO:
            return None
        pos = 4
        legacy_version = int.from_bytes(message[pos : pos + 2], "big")
        random = message[pos + 2 : pos + 34]
        pos += 34
        sid_len = message[pos]
        pos += 1 + sid_len
        suite = int.from_bytes(message[pos : pos + 2], "big")
        pos += 3  # suite and compression method
        version = legacy_version
        if pos + 2 <= len(message):
            ext_end = pos + 2 + int.from_bytes(message[pos : pos + 2], "big")
            pos += 2
            while pos + 4 <= min(ext_end, len(message)):
                ext_type = int.from_bytes(message[pos : pos + 2], "big")
                ext_len = int.from_bytes(message[pos + 2 : pos + 4], "big")
                if ext_type == _EXT_SUPPORTED_VERSIONS and ext_len == 2:
                    version = int.from_bytes(message[pos + 4 : pos + 6], "big")
                pos += 4 + ext_len
        if len(random) != 32:
            return None
        return ServerHello(random, suite, version)
    except IndexError:
        return None


class TlsDecryptor:
    """Decrypt the client half of one TLS connection with secrets from a key log."""

    def __init__(self, keylog: kl.KeyLog) -> None:
        self.keylog = keylog
        self.hello: TlsHello | None = None  # the first ClientHello, once read
        self.client_random: bytes | None = None
        self.suite: CipherSuite | None = None
        self.tls13 = False
        self.failure: str | None = None  # coverage reason once decryption is impossible
        self.decrypted_records = 0
        self.diagnostics: list[Diagnostic] = []
        self._client = RecordReader()
        self._server = RecordReader()
        self._client_hs = HandshakeAssembler()
        self._server_hs = HandshakeAssembler()
        self._server_hello: ServerHello | None = None
        self._queue: list[Record] = []
        self._queued = 0
        self._encrypting = False  # TLS 1.2: after the client's ChangeCipherSpec
        self._hs_cipher: RecordCipher | None = None
        self._app_cipher: RecordCipher | None = None
        self._app_secret: bytes | None = None
        self._app_phase = False
        self._failed_in_row = 0

    @property
    def wants_server(self) -> bool:
        """Whether server bytes still matter (only until the ServerHello)."""
        return self._server_hello is None and self.failure is None

    @property
    def held_bytes(self) -> int:
        """Bytes kept for records, handshake messages and records queued for keys."""
        return (
            self._queued
            + self._client.buffered
            + self._server.buffered
            + self._client_hs.buffered
            + self._server_hs.buffered
        )

    @property
    def decrypting(self) -> bool:
        return self.failure is None and self.decrypted_records > 0

    # -- input ----------------------------------------------------------------------

    def server_data(self, data: bytes) -> list[bytes]:
        """Read the ServerHello; returns client plaintext released by it (queued records)."""
        if not self.wants_server:
            return []
        for record in self._server.feed(data):
            if record.ctype != CT_HANDSHAKE:
                continue
            for htype, message in self._server_hs.feed(record.fragment):
                if htype != HS_SERVER_HELLO:
                    continue
                hello = parse_server_hello(message)
                if hello is None:
                    self._fail("tls_bad_server_hello", "ServerHello could not be parsed")
                    return []
                if hello.is_retry:
                    continue  # a second ClientHello and ServerHello follow
                self._server_hello = hello
                self._setup()
                if self.failure is not None:
                    return []
                queued, self._queue, self._queued = self._queue, [], 0
                return self._records(queued)
        self._collect(self._server)
        return []

    def client_data(self, data: bytes) -> list[bytes]:
        """Client bytes in stream order; returns application data decrypted from them."""
        if self.failure is not None:
            return []
        records = self._client.feed(data)
        self._collect(self._client)
        if self._server_hello is None:
            out: list[bytes] = []
            for record in records:
                if record.ctype == CT_HANDSHAKE and not self._encrypting:
                    self._client_handshake(record)
                elif record.ctype == CT_CHANGE_CIPHER_SPEC:
                    self._encrypting = True
                elif self._queued + len(record.fragment) <= MAX_QUEUED_BYTES:
                    self._queue.append(record)
                    self._queued += len(record.fragment)
                else:
                    self._fail("tls_no_server_hello", "client data piled up before a ServerHello")
                    break
            return out
        return self._records(records)

    # -- internals ------------------------------------------------------------------

    def _client_handshake(self, record: Record) -> None:
        for htype, message in self._client_hs.feed(record.fragment):
            if htype == HS_CLIENT_HELLO and self.hello is None:
                self.hello = parse_client_hello(message)
                if len(message) >= 38:
                    self.client_random = message[6:38]
        self._collect_hs(self._client_hs)

    def _setup(self) -> None:
        hello = self._server_hello
        assert hello is not None
        suite = SUITES.get(hello.suite_code)
        self.tls13 = hello.version == 0x0304
        if self.client_random is None:
            self._fail("tls_bad_client_hello", "no ClientHello before the ServerHello")
            return
        if suite is None or suite.tls13 != self.tls13:
            self.failure = "tls_unsupported_suite"
            self.diagnostics.append(
                Diagnostic("tls_unsupported_suite", f"cipher suite 0x{hello.suite_code:04x}")
            )
            return
        self.suite = suite
        log, cr = self.keylog, self.client_random
        if self.tls13:
            app = log.get(cr, kl.CLIENT_TRAFFIC_0)
            handshake = log.get(cr, kl.CLIENT_HANDSHAKE)
            if app is None:
                self.failure = "tls_without_keys"
                return
            self._app_secret = app
            key, iv = tls13_keys(suite, app)
            self._app_cipher = RecordCipher(suite, key, iv, True)
            if handshake is not None:
                key, iv = tls13_keys(suite, handshake)
                self._hs_cipher = RecordCipher(suite, key, iv, True)
            return
        master = log.get(cr, kl.CLIENT_RANDOM)
        if master is None:
            self.failure = "tls_without_keys"
            return
        ckey, civ, _skey, _siv = tls12_keys(suite, master, cr, hello.random)
        self._app_cipher = RecordCipher(suite, ckey, civ, False)
        self._app_phase = True  # one key for the client's Finished and its data

    def _records(self, records: list[Record]) -> list[bytes]:
        out: list[bytes] = []
        for record in records:
            if self.failure is not None:
                break
            if self.tls13:
                self._record13(record, out)
            else:
                self._record12(record, out)
        return out

    def _record12(self, record: Record, out: list[bytes]) -> None:
        if record.ctype == CT_CHANGE_CIPHER_SPEC:
            self._encrypting = True
            return
        if not self._encrypting:
            if record.ctype == CT_HANDSHAKE:
                self._client_handshake(record)
            return
        cipher = self._app_cipher
        assert cipher is not None
        plain = cipher.decrypt(record.ctype, record.version, record.fragment)
        if plain is None:
            self._not_opened()
            return
        self._opened()
        if record.ctype == CT_APPLICATION_DATA and plain:
            out.append(plain)

    def _record13(self, record: Record, out: list[bytes]) -> None:
        if record.ctype == CT_HANDSHAKE:
            self._client_handshake(record)  # a second ClientHello after HelloRetryRequest
            return
        if record.ctype != CT_APPLICATION_DATA:
            return  # compatibility ChangeCipherSpec, plaintext alerts
        plain: bytes | None = None
        if not self._app_phase and self._hs_cipher is not None:
            plain = self._hs_cipher.decrypt(record.ctype, record.version, record.fragment)
            if plain is not None:
                inner, ctype = _inner_plaintext(plain)
                if ctype == CT_HANDSHAKE and HS_FINISHED in _handshake_types(inner):
                    self._app_phase = True
                self._opened()
                return
        app = self._app_cipher
        assert app is not None
        plain = app.decrypt(record.ctype, record.version, record.fragment)
        if plain is None:
            if not self._app_phase and self._hs_cipher is None:
                return  # a handshake record without its key: expected, skip it
            self._not_opened()
            return
        self._app_phase = True
        self._opened()
        inner, ctype = _inner_plaintext(plain)
        if ctype == CT_APPLICATION_DATA and inner:
            out.append(inner)
        elif ctype == CT_HANDSHAKE and HS_KEY_UPDATE in _handshake_types(inner):
            self._key_update()

    def _key_update(self) -> None:
        suite, secret = self.suite, self._app_secret
        assert suite is not None and secret is not None
        self._app_secret = secret = next_traffic_secret(suite, secret)
        key, iv = tls13_keys(suite, secret)
        self._app_cipher = RecordCipher(suite, key, iv, True)

    def _opened(self) -> None:
        self.decrypted_records += 1
        self._failed_in_row = 0

    def _not_opened(self) -> None:
        self._failed_in_row += 1
        if self._failed_in_row >= MAX_FAILED_RECORDS or self.decrypted_records == 0:
            if self.decrypted_records == 0:
                detail = "records do not authenticate with the logged keys"
            else:
                detail = f"{self._failed_in_row} records in a row do not authenticate"
            self._fail("tls_decrypt_failed", detail)

    def _fail(self, name: str, detail: str) -> None:
        self.failure = name
        self._queue.clear()
        self.diagnostics.append(Diagnostic(name, detail))

    def _collect(self, reader: RecordReader) -> None:
        if reader.diagnostics:
            self.diagnostics += reader.diagnostics
            reader.diagnostics.clear()
            if reader is self._client and reader.broken:
                self.failure = self.failure or "tls_bad_record"

    def _collect_hs(self, assembler: HandshakeAssembler) -> None:
        if assembler.diagnostics:
            self.diagnostics += assembler.diagnostics
            assembler.diagnostics.clear()


def _inner_plaintext(plain: bytes) -> tuple[bytes, int]:
    """TLSInnerPlaintext: content, then the real type, then zero padding (RFC 8446 §5.2)."""
    end = len(plain)
    while end and plain[end - 1] == 0:
        end -= 1
    if not end:
        return b"", 0
    return plain[: end - 1], plain[end - 1]


def _handshake_types(data: bytes) -> set[int]:
    types: set[int] = set()
    pos = 0
    while pos + 4 <= len(data):
        types.add(data[pos])
        pos += 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
    return types
