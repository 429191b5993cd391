"""QUIC long headers and Initial packets: the ClientHello a QUIC client sends.

Initial packets are encrypted, but with keys anyone can derive from the
client's Destination Connection ID (RFC 9001 §5.2; RFC 9369 for QUIC v2), so
the ClientHello's server name is readable without any key log. That makes
QUIC flows attributable the same way TLS flows are. CRYPTO frames are
reassembled across packets (post-quantum key shares make hellos larger than
one datagram). Sans-IO and bounded; datagrams that do not parse become
diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from leaktrace.protocols.tls import parse_client_hello
from leaktrace.tls.decrypt import hkdf_expand_label, hkdf_extract, xor_nonce
from leaktrace.types import Diagnostic, TlsHello

VERSION_1: Final = 0x00000001
VERSION_2: Final = 0x6B3343CF
INITIAL_SALT: Final = {
    VERSION_1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    VERSION_2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
# Long header packet type bits of an Initial packet, per version.
_INITIAL_TYPE: Final = {VERSION_1: 0, VERSION_2: 1}
ZERO_RTT_TYPE: Final = {VERSION_1: 1, VERSION_2: 2}
LABEL_PREFIX: Final = {VERSION_1: b"quic ", VERSION_2: b"quicv2 "}  # of every key label
MAX_CRYPTO_BYTES: Final = 64 << 10
MAX_INITIAL_DATAGRAMS: Final = 16  # client datagrams read before giving up on the hello

HelloStatus = Literal["need_more", "done"]


@dataclass(frozen=True, slots=True)
class LongHeader:
    first: int
    version: int
    dcid: bytes
    scid: bytes
    packet_type: int
    token: bytes
    length: int  # of packet number + payload
    pn_offset: int  # offset of the packet number within the packet
    end: int  # offset just past this packet within the datagram


def read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """QUIC variable-length integer at ``pos``: (value, next position); raises IndexError."""
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise IndexError("varint runs past the data")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | data[pos + i]
    return value, pos + size


def parse_long_header(data: bytes, pos: int = 0) -> LongHeader | None:
    """The long header of the packet at ``pos``; None when it is not one or is cut short."""
    try:
        first = data[pos]
        if first & 0x80 == 0:
            return None
        version = int.from_bytes(data[pos + 1 : pos + 5], "big")
        p = pos + 5
        dcid_len = data[p]
        dcid = data[p + 1 : p + 1 + dcid_len]
        p += 1 + dcid_len
        scid_len = data[p]
        scid = data[p + 1 : p + 1 + scid_len]
        p += 1 + scid_len
        if len(dcid) != dcid_len or len(scid) != scid_len or p > len(data):
            return None
        packet_type = (first >> 4) & 0x03
        token = b""
        if version == 0:
            return LongHeader(first, version, dcid, scid, -1, b"", 0, p, len(data))
        if packet_type == _INITIAL_TYPE.get(version, 0):
            token_len, p = read_varint(data, p)
            token = data[p : p + token_len]
            if len(token) != token_len:
                return None
            p += token_len
        if packet_type == (3 if version != VERSION_2 else 0):  # Retry: no length
            return LongHeader(first, version, dcid, scid, packet_type, token, 0, p, len(data))
        length, p = read_varint(data, p)
        if p + length > len(data):
            return None
        return LongHeader(first, version, dcid, scid, packet_type, token, length, p, p + length)
    except IndexError:
        return None


def initial_keys(dcid: bytes, version: int, client: bool = True) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header protection key) of Initial packets for a Destination Connection ID."""
    salt = INITIAL_SALT[version]
    initial = hkdf_extract(salt, dcid)
    secret = hkdf_expand_label(initial, b"client in" if client else b"server in", b"", 32)
    prefix = LABEL_PREFIX[version]
    key = hkdf_expand_label(secret, prefix + b"key", b"", 16)
    iv = hkdf_expand_label(secret, prefix + b"iv", b"", 12)
    hp = hkdf_expand_label(secret, prefix + b"hp", b"", 16)
    return key, iv, hp


# A header protection key's mask of a packet's 16-byte sample (RFC 9001 §5.4).
MaskOf = Callable[[bytes], bytes]
# A client Initial's AEAD, IV and header protection.
InitialProtection = tuple[AESGCM, bytes, MaskOf]


def initial_protection(dcid: bytes, version: int) -> InitialProtection:
    """The ciphers of client Initials sent to ``dcid``, which a reader keeps for its
    connection: a ClientHello with a post-quantum key share fills two Initials, and
    deriving the keys (five HMACs) and setting the ciphers up cost more than opening a
    packet."""
    key, iv, hp = initial_keys(dcid, version)
    return AESGCM(key), iv, aes_hp_masker(hp)


def aes_hp_masker(hp_key: bytes) -> MaskOf:
    """The mask maker of an AES header protection key, set up once for all its packets.

    Its ECB encryptor is kept and fed each sample: ECB holds no state from one
    16-byte block to the next, and setting the cipher up cost 15 µs a packet
    against 2 µs for the encryption. A sample must therefore be exactly one block
    (``unprotect_packet`` turns shorter ones away): a shorter one would be held back
    and shift every later mask."""
    return Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor().update


def aes_hp_mask(hp_key: bytes, sample: bytes) -> bytes:
    """One sample's mask with a cipher of its own, as a sender computes it."""
    encryptor = Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor()
    return encryptor.update(sample) + encryptor.finalize()


def unprotect(
    packet: bytes, pn_offset: int, mask: bytes, long_header: bool
) -> tuple[bytes, int, int]:
    """Remove header protection: (unprotected header, packet number, its length)."""
    first = packet[0] ^ (mask[0] & (0x0F if long_header else 0x1F))
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(
        b ^ m for b, m in zip(packet[pn_offset : pn_offset + pn_len], mask[1:], strict=False)
    )
    header = bytes([first]) + packet[1:pn_offset] + pn_bytes
    return header, int.from_bytes(pn_bytes, "big"), pn_len


def unprotect_packet(
    mask_of: MaskOf, packet: bytes, pn_offset: int, largest: int
) -> tuple[bytes, int] | None:
    """Remove header protection (RFC 9001 §5.4): the header as sent, and the full packet
    number; None when the packet is too short to sample. Only whole 16-byte samples
    reach ``mask_of``, as a kept cipher (``aes_hp_masker``) needs."""
    sample = packet[pn_offset + 4 : pn_offset + 20]
    if len(sample) < 16:
        return None
    header, truncated, pn_len = unprotect(
        packet, pn_offset, mask_of(sample), bool(packet[0] & 0x80)
    )
    return header, decode_packet_number(largest, truncated, pn_len)


def decode_packet_number(largest: int, truncated: int, pn_len: int) -> int:
    """RFC 9000 Appendix A.3: the full packet number nearest the expected one."""
    expected = largest + 1
    win = 1 << (pn_len * 8)
    hwin, mask = win // 2, win - 1
    candidate = (expected & ~mask) | truncated
    if candidate <= expected - hwin and candidate < (1 << 62) - win:
        return candidate + win
    if candidate > expected + hwin and candidate >= win:
        return candidate - win
    return candidate


def decrypt_initial(
    packet: bytes, header: LongHeader, protection: InitialProtection, largest: int = -1
) -> tuple[bytes, int] | None:
    """Payload and packet number of one client Initial packet, or None if it does not
    open; ``protection`` is ``initial_protection`` of its connection ID and version."""
    aead, iv, mask_of = protection
    unprotected = unprotect_packet(mask_of, packet, header.pn_offset, largest)
    if unprotected is None:
        return None
    plain_header, pn = unprotected
    ciphertext = packet[len(plain_header) : header.end]
    try:
        return aead.decrypt(xor_nonce(iv, pn), ciphertext, plain_header), pn
    except (InvalidTag, ValueError):
        return None


def crypto_frames(payload: bytes) -> list[tuple[int, bytes]] | None:
    """(offset, data) of the CRYPTO frames in an Initial payload; None when a frame is malformed.

    Initial packets may only hold PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE.
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    try:
        while pos < len(payload):
            ftype, pos = read_varint(payload, pos)
            if ftype == 0x00 or ftype == 0x01:  # PADDING, PING
                continue
            if ftype in (0x02, 0x03):  # ACK
                _largest, pos = read_varint(payload, pos)
                _delay, pos = read_varint(payload, pos)
                ranges, pos = read_varint(payload, pos)
                _first, pos = read_varint(payload, pos)
                for _ in range(ranges):
                    _gap, pos = read_varint(payload, pos)
                    _len, pos = read_varint(payload, pos)
                if ftype == 0x03:
                    for _ in range(3):
                        _count, pos = read_varint(payload, pos)
            elif ftype == 0x06:  # CRYPTO
                offset, pos = read_varint(payload, pos)
                length, pos = read_varint(payload, pos)
                if pos + length > len(payload):
                    return None
                out.append((offset, payload[pos : pos + length]))
                pos += length
            elif ftype in (0x1C, 0x1D):  # CONNECTION_CLOSE
                return out
            else:
                return None
    except IndexError:
        return None
    return out


class QuicHelloReader:
    """Read the ClientHello out of a QUIC flow's first client datagrams.

    Feed client datagrams until the status is ``"done"``; :attr:`hello` then
    holds the result (None when no ClientHello could be read, with a
    diagnostic saying why).
    """

    def __init__(self) -> None:
        self.hello: TlsHello | None = None
        self.diagnostics: list[Diagnostic] = []
        self.version: int | None = None
        self.dcid: bytes | None = None  # the client's first DCID: the Initial keys' seed
        self.client_random: bytes | None = None  # what a key log names the secrets by
        self.client_cid: bytes | None = None  # the client's own ID: the server's packets name it
        self._crypto: dict[int, bytes] = {}
        self._datagrams = 0
        self._largest = -1
        # the Initial ciphers of ``dcid``, under the version they were made for
        self._protection: tuple[int, InitialProtection] | None = None
        self._status: HelloStatus = "need_more"

    @property
    def status(self) -> HelloStatus:
        return self._status

    @property
    def held_bytes(self) -> int:
        """CRYPTO frame bytes kept until the ClientHello is whole."""
        return sum(map(len, self._crypto.values()))

    def feed(self, datagram: bytes) -> HelloStatus:
        if self._status == "done":
            return self._status
        self._datagrams += 1
        pos = 0
        while pos < len(datagram):
            header = parse_long_header(datagram, pos)
            if header is None:
                break
            packet = datagram[pos : header.end]
            pos = header.end
            if header.version not in INITIAL_SALT:
                self._finish("quic_unknown_version", f"version 0x{header.version:08x}")
                return self._status
            if header.packet_type != _INITIAL_TYPE[header.version]:
                continue
            if self.dcid is None:
                self.dcid, self.version = header.dcid, header.version
                self.client_cid = header.scid
            rebased = _rebase(header, pos - len(packet))
            if self._protection is None or self._protection[0] != header.version:
                self._protection = (header.version, initial_protection(self.dcid, header.version))
            opened = decrypt_initial(packet, rebased, self._protection[1], self._largest)
            if opened is None and header.dcid != self.dcid:  # the same keys would fail again
                other = initial_protection(header.dcid, header.version)
                opened = decrypt_initial(packet, rebased, other, self._largest)
            if opened is None:
                self.diagnostics.append(
                    Diagnostic("quic_initial_undecryptable", f"{len(packet)}-byte Initial")
                )
                continue
            payload, pn = opened
            self._largest = max(self._largest, pn)
            frames = crypto_frames(payload)
            if frames is None:
                self.diagnostics.append(
                    Diagnostic("quic_bad_frame", "Initial payload does not parse")
                )
                continue
            for offset, data in frames:
                if offset + len(data) > MAX_CRYPTO_BYTES:
                    self._finish("quic_hello_limit", f"CRYPTO data past {MAX_CRYPTO_BYTES} bytes")
                    return self._status
                self._crypto.setdefault(offset, data)
            if self._try_hello():
                return self._status
        if self._datagrams >= MAX_INITIAL_DATAGRAMS:
            self._finish("quic_no_client_hello", f"no ClientHello in {self._datagrams} datagrams")
        return self._status

    def close(self) -> None:
        if self._status != "done":
            self._finish("quic_no_client_hello", "flow ended before the ClientHello was complete")

    def _try_hello(self) -> bool:
        stream = bytearray()
        for offset in sorted(self._crypto):
            if offset > len(stream):
                break
            data = self._crypto[offset]
            stream += data[len(stream) - offset :]
        if len(stream) < 4:
            return False
        need = 4 + int.from_bytes(stream[1:4], "big")
        if len(stream) < need:
            return False
        self.hello = parse_client_hello(bytes(stream[:need]))
        if need >= 38:  # type, length, legacy version, then the random
            self.client_random = bytes(stream[6:38])
        if self.hello is None:
            self._finish("quic_bad_client_hello", "ClientHello could not be parsed")
        self._status = "done"
        return True

    def _finish(self, name: str, detail: str) -> None:
        self.diagnostics.append(Diagnostic(name, detail))
        self._status = "done"


def _rebase(header: LongHeader, start: int) -> LongHeader:
    """The header with offsets relative to its own packet instead of the datagram."""
    return LongHeader(
        header.first,
        header.version,
        header.dcid,
        header.scid,
        header.packet_type,
        header.token,
        header.length,
        header.pn_offset - start,
        header.end - start,
    )


def hello_from_datagram(datagram: bytes) -> TlsHello | None:
    """The ClientHello of a QUIC flow whose first client datagram holds all of it."""
    reader = QuicHelloReader()
    reader.feed(datagram)
    reader.close()
    return reader.hello
