"""QUIC 1-RTT packets opened with a key log: the stream data a client sends.

A QUIC connection's application data travels in short-header packets,
protected with keys derived from the TLS 1.3 traffic secrets
(``CLIENT_TRAFFIC_SECRET_0`` in an NSS key log, RFC 9001 §5). Given a
secret this reader removes header protection, opens each packet and returns
the STREAM frames it holds; the HTTP/3 layer (``http3``) makes requests of
the client's, and reads the server's SETTINGS from the server's. The cipher
suite is not in the client's packets, so it is found by trying the suites
the secret's length allows until one opens a packet. Key updates (the key
phase bit) are followed, and a packet of the phase before that arrives late
still opens. A resuming client's 0-RTT packets (long headers) open with the
early traffic secret. Sans-IO and bounded: a packet that
does not open is counted, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from leaktrace.protocols.quic import (
    LABEL_PREFIX,
    VERSION_1,
    ZERO_RTT_TYPE,
    MaskOf,
    aes_hp_masker,
    parse_long_header,
    read_varint,
    unprotect_packet,
)
from leaktrace.tls.decrypt import (
    SUITES,
    CipherSuite,
    aead_for,
    hkdf_expand_label,
    tls13_keys,
    xor_nonce,
)

MAX_FRAMES_PER_PACKET: Final = 4096


@dataclass(frozen=True, slots=True)
class StreamChunk:
    stream_id: int
    offset: int
    data: bytes
    fin: bool


def _chacha_hp_mask(hp_key: bytes, sample: bytes) -> bytes:
    # RFC 9001 §5.4.4: the sample's first 4 bytes are the block counter, the rest the nonce,
    # which is how ``cryptography`` takes ChaCha20's 16-byte nonce.
    encryptor = Cipher(algorithms.ChaCha20(hp_key, sample), mode=None).encryptor()
    return encryptor.update(b"\x00" * 5)


def hp_masker(suite: CipherSuite, hp_key: bytes) -> MaskOf:
    """The mask maker of a header protection key under a suite, set up once per key
    (``aes_hp_masker``; ChaCha20 takes each sample as its nonce, so its cipher is
    made per packet)."""
    if suite.aead == "chacha20":
        return partial(_chacha_hp_mask, hp_key)
    return aes_hp_masker(hp_key)


# The suites a traffic secret of each length may belong to (SHA-256 or SHA-384):
# AES-128-GCM, ChaCha20-Poly1305; AES-256-GCM.
SUITES_FOR_SECRET: Final = {32: (SUITES[0x1301], SUITES[0x1303]), 48: (SUITES[0x1302],)}


@dataclass(slots=True)
class _Keys:
    secret: bytes
    iv: bytes
    aead: AESGCM | AESCCM | ChaCha20Poly1305  # made once: 3.4 µs each, per packet before


class QuicAppReader:
    """Open one side's 1-RTT packets; feed its datagrams, get their STREAM frames.

    A short header does not state the length of the connection ID it carries.
    The server's is learnt from the client's long-header packets after its
    first Initial (``first_dcid``), which are sent to it before any 1-RTT
    packet needs it; the client's own (``cid_len``, for the server's packets)
    is in its first Initial.
    """

    def __init__(
        self,
        secret: bytes,
        first_dcid: bytes | None = None,
        cid_len: int | None = None,
        *,
        early_secret: bytes | None = None,
        version: int = VERSION_1,
    ) -> None:
        self.first_dcid = first_dcid
        self.cid_len: int | None = cid_len
        self.suite: CipherSuite | None = None
        self.opened = 0
        self.failed = 0
        self._candidates = SUITES_FOR_SECRET.get(len(secret), ())
        self._secret = secret
        self._early = early_secret  # CLIENT_EARLY_TRAFFIC_SECRET: 0-RTT packets
        self._early_suite: CipherSuite | None = None
        self._prefix = LABEL_PREFIX.get(version, LABEL_PREFIX[VERSION_1])
        # per secret and suite: the first keys and the header protection's mask maker
        self._material: dict[tuple[bytes, str], tuple[_Keys, MaskOf]] = {}
        self._keys: _Keys | None = None  # of the current key phase, once a packet opened
        self._previous: _Keys | None = None  # of the phase before, for packets that arrive late
        self._phase = 0
        self._phase_start = 0  # the first packet number of the current phase
        self._largest = -1

    def feed(self, datagram: bytes) -> list[StreamChunk]:
        chunks: list[StreamChunk] = []
        pos = 0
        while pos < len(datagram):
            if datagram[pos] & 0x80:  # a long header: Initial and Handshake are skipped
                header = parse_long_header(datagram, pos)
                if header is None:
                    return chunks
                if self.first_dcid is not None and header.dcid != self.first_dcid:
                    self.cid_len = len(header.dcid)
                if self._early is not None and header.packet_type == ZERO_RTT_TYPE.get(
                    header.version
                ):
                    early = self._open_early(datagram[pos : header.end], header.pn_offset - pos)
                    chunks += self._frames(early)
                pos = header.end
                continue
            opened = self._open(datagram[pos:]) if self.cid_len is not None else None
            chunks += self._frames(opened)
            break  # a short-header packet runs to the end of the datagram
        return chunks

    def _frames(self, payload: bytes | None) -> list[StreamChunk]:
        """A packet's stream frames, counted as opened; None is a packet that did not open."""
        if payload is None:
            self.failed += 1
            return []
        self.opened += 1
        return stream_frames(payload)

    def _open(self, packet: bytes) -> bytes | None:
        for suite in (self.suite,) if self.suite is not None else self._candidates:
            payload = self._open_with(suite, packet)
            if payload is not None:
                self.suite = suite
                return payload
        return None

    def _open_early(self, packet: bytes, pn_offset: int) -> bytes | None:
        """A 0-RTT packet: early data a resuming client sends before the handshake ends,
        in the same packet number space as 1-RTT (RFC 9001 §5.6)."""
        early = self._early
        assert early is not None
        suites = (
            (self._early_suite,) if self._early_suite else SUITES_FOR_SECRET.get(len(early), ())
        )
        for suite in suites:
            keys, mask_of = self._keys_of(early, suite)
            unprotected = unprotect_packet(mask_of, packet, pn_offset, self._largest)
            if unprotected is None:
                return None
            header, pn = unprotected
            payload = _decrypt(keys, pn, header, packet[len(header) :])
            if payload is not None:
                self._early_suite = suite
                self._largest = max(self._largest, pn)
                return payload
        return None

    def _open_with(self, suite: CipherSuite, packet: bytes) -> bytes | None:
        first_keys, mask_of = self._keys_of(self._secret, suite)
        unprotected = unprotect_packet(mask_of, packet, 1 + (self.cid_len or 0), self._largest)
        if unprotected is None:
            return None
        header, pn = unprotected
        phase = (header[0] >> 2) & 1
        current = self._keys or first_keys
        keys = current
        updated = False
        if phase != self._phase:
            if self._previous is not None and pn < self._phase_start:
                keys = self._previous  # sent before the update, arrived after it (RFC 9001 §6.5)
            else:  # a key update, to the next generation's secret; hp stays (§6.1)
                secret = hkdf_expand_label(
                    current.secret, self._prefix + b"ku", b"", len(current.secret), suite.hash
                )
                key, iv, _ = _derive(secret, suite, self._prefix)
                keys, updated = _Keys(secret, iv, aead_for(suite, key)), True
        payload = _decrypt(keys, pn, header, packet[len(header) :])
        if payload is None:
            return None
        if updated:
            self._previous, self._phase, self._phase_start = current, phase, pn
        if updated or self._keys is None:
            self._keys = keys
        self._largest = max(self._largest, pn)
        return payload

    def _keys_of(self, secret: bytes, suite: CipherSuite) -> tuple[_Keys, MaskOf]:
        """A secret's keys and header protection under a suite, derived and set up once."""
        found = self._material.get((secret, suite.name))
        if found is None:
            key, iv, hp = _derive(secret, suite, self._prefix)
            keys = _Keys(secret, iv, aead_for(suite, key))
            found = self._material[secret, suite.name] = (keys, hp_masker(suite, hp))
        return found


def _decrypt(keys: _Keys, pn: int, header: bytes, body: bytes) -> bytes | None:
    try:
        return keys.aead.decrypt(xor_nonce(keys.iv, pn), body, header)
    except (InvalidTag, ValueError):
        return None


def _derive(secret: bytes, suite: CipherSuite, prefix: bytes) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header protection key) of a traffic secret (RFC 9001 §5.1; QUIC v2's
    labels start ``quicv2 ``, RFC 9369 §3.3.2)."""
    key, iv = tls13_keys(suite, secret, prefix)
    return key, iv, hkdf_expand_label(secret, prefix + b"hp", b"", suite.key_len, suite.hash)


# Frame types with only varint fields after the type, by how many (RFC 9000 §19).
_VARINT_FIELDS: Final = {
    0x04: 3,  # RESET_STREAM
    0x05: 2,  # STOP_SENDING
    0x10: 1,  # MAX_DATA
    0x11: 2,  # MAX_STREAM_DATA
    0x12: 1,  # MAX_STREAMS (bidi)
    0x13: 1,  # MAX_STREAMS (uni)
    0x14: 1,  # DATA_BLOCKED
    0x15: 2,  # STREAM_DATA_BLOCKED
    0x16: 1,  # STREAMS_BLOCKED (bidi)
    0x17: 1,  # STREAMS_BLOCKED (uni)
    0x19: 1,  # RETIRE_CONNECTION_ID
}


def stream_frames(payload: bytes) -> list[StreamChunk]:
    """The STREAM frames of a 1-RTT payload, up to the first frame that does not parse."""
    out: list[StreamChunk] = []
    pos = 0
    try:
        for _ in range(MAX_FRAMES_PER_PACKET):
            if pos >= len(payload):
                break
            ftype, pos = read_varint(payload, pos)
            if ftype in (0x00, 0x01, 0x1E):  # PADDING, PING, HANDSHAKE_DONE
                continue
            if 0x08 <= ftype <= 0x0F:  # STREAM with OFF, LEN, FIN bits
                stream_id, pos = read_varint(payload, pos)
                offset = 0
                if ftype & 0x04:
                    offset, pos = read_varint(payload, pos)
                if ftype & 0x02:
                    length, pos = read_varint(payload, pos)
                else:
                    length = len(payload) - pos
                if pos + length > len(payload):
                    break
                out.append(
                    StreamChunk(stream_id, offset, payload[pos : pos + length], bool(ftype & 1))
                )
                pos += length
            elif ftype in (0x02, 0x03):  # ACK
                pos = _skip_varints(payload, pos, 2)
                ranges, pos = read_varint(payload, pos)
                pos = _skip_varints(payload, pos, 1 + 2 * ranges + (3 if ftype == 0x03 else 0))
            elif ftype in (0x06, 0x07, 0x30, 0x31):  # CRYPTO, NEW_TOKEN, DATAGRAM
                if ftype == 0x06:
                    pos = _skip_varints(payload, pos, 1)
                if ftype == 0x30:  # DATAGRAM without a length runs to the end
                    break
                length, pos = read_varint(payload, pos)
                pos += length
            elif ftype == 0x18:  # NEW_CONNECTION_ID
                pos = _skip_varints(payload, pos, 2)
                pos += 1 + payload[pos] + 16
            elif ftype in (0x1A, 0x1B):  # PATH_CHALLENGE, PATH_RESPONSE
                pos += 8
            elif ftype in (0x1C, 0x1D):  # CONNECTION_CLOSE: nothing after it matters
                break
            elif ftype in _VARINT_FIELDS:
                pos = _skip_varints(payload, pos, _VARINT_FIELDS[ftype])
            else:
                break
    except IndexError:
        pass
    return out


def _skip_varints(data: bytes, pos: int, count: int) -> int:
    for _ in range(count):
        _, pos = read_varint(data, pos)
    return pos
