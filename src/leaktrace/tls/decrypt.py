"""TLS key schedules and AEAD record protection, on the ``cryptography`` primitives.

TLS 1.3 keys come from the logged traffic secrets through HKDF-Expand-Label
(RFC 8446 §7.1, §7.3); TLS 1.2 keys from the logged master secret through the
PRF's key expansion (RFC 5246 §6.3). Only AEAD suites are read: AES-GCM,
AES-CCM and ChaCha20-Poly1305. Those are what current clients negotiate, and a
flow on anything else stays attributed by its SNI and is reported as
undecrypted rather than guessed at.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

Aead = Literal["aes-gcm", "aes-ccm", "aes-ccm8", "chacha20"]
HashName = Literal["sha256", "sha384"]


@dataclass(frozen=True, slots=True)
class CipherSuite:
    code: int
    name: str
    aead: Aead
    key_len: int
    hash: HashName
    tls13: bool

    @property
    def tag_len(self) -> int:
        return 8 if self.aead == "aes-ccm8" else 16

    @property
    def fixed_iv_len(self) -> int:
        """TLS 1.2 GCM/CCM carry 8 nonce bytes per record and derive only 4."""
        return 12 if self.tls13 or self.aead == "chacha20" else 4

    @property
    def explicit_nonce_len(self) -> int:
        return 0 if self.tls13 or self.aead == "chacha20" else 8


def _suites() -> dict[int, CipherSuite]:
    rows: list[tuple[int, str, Aead, int, HashName, bool]] = [
        (0x1301, "TLS_AES_128_GCM_SHA256", "aes-gcm", 16, "sha256", True),
        (0x1302, "TLS_AES_256_GCM_SHA384", "aes-gcm", 32, "sha384", True),
        (0x1303, "TLS_CHACHA20_POLY1305_SHA256", "chacha20", 32, "sha256", True),
        (0x1304, "TLS_AES_128_CCM_SHA256", "aes-ccm", 16, "sha256", True),
        (0x1305, "TLS_AES_128_CCM_8_SHA256", "aes-ccm8", 16, "sha256", True),
        (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "aes-gcm", 16, "sha256", False),
        (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "aes-gcm", 32, "sha384", False),
        (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "aes-gcm", 16, "sha256", False),
        (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "aes-gcm", 32, "sha384", False),
        (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "aes-gcm", 16, "sha256", False),
        (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "aes-gcm", 32, "sha384", False),
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "aes-gcm", 16, "sha256", False),
        (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "aes-gcm", 32, "sha384", False),
        (0xC09C, "TLS_RSA_WITH_AES_128_CCM", "aes-ccm", 16, "sha256", False),
        (0xC09D, "TLS_RSA_WITH_AES_256_CCM", "aes-ccm", 32, "sha256", False),
        (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "aes-ccm", 16, "sha256", False),
        (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "aes-ccm", 32, "sha256", False),
        (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha20", 32, "sha256", False),
        (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "chacha20", 32, "sha256", False),
        (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "chacha20", 32, "sha256", False),
    ]
    return {row[0]: CipherSuite(*row) for row in rows}


SUITES: Final = _suites()

_HASH_LEN: Final = {"sha256": 32, "sha384": 48}


# -- TLS 1.3 -------------------------------------------------------------------------


def hkdf_expand_label(
    secret: bytes, label: bytes, context: bytes, length: int, hash_name: HashName = "sha256"
) -> bytes:
    """HKDF-Expand-Label (RFC 8446 §7.1) with the ``tls13 `` prefix."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length, hash_name)


def hkdf_expand(secret: bytes, info: bytes, length: int, hash_name: HashName) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes([counter]), hash_name)
        out += block
        counter += 1
    return out[:length]


def hkdf_extract(salt: bytes, ikm: bytes, hash_name: HashName = "sha256") -> bytes:
    return hmac.digest(salt, ikm, hash_name)


def tls13_keys(suite: CipherSuite, secret: bytes, prefix: bytes = b"") -> tuple[bytes, bytes]:
    """(key, iv) from a traffic secret; QUIC uses the same schedule with ``quic `` labels."""
    key = hkdf_expand_label(secret, prefix + b"key", b"", suite.key_len, suite.hash)
    iv = hkdf_expand_label(secret, prefix + b"iv", b"", 12, suite.hash)
    return key, iv


def next_traffic_secret(suite: CipherSuite, secret: bytes) -> bytes:
    """The secret after a KeyUpdate (RFC 8446 §7.2)."""
    return hkdf_expand_label(secret, b"traffic upd", b"", _HASH_LEN[suite.hash], suite.hash)


# -- TLS 1.2 -------------------------------------------------------------------------


def prf12(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: HashName) -> bytes:
    """The TLS 1.2 PRF: P_hash(secret, label + seed) (RFC 5246 §5)."""
    full_seed = label + seed
    out, a = b"", full_seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + full_seed, hash_name)
    return out[:length]


def tls12_keys(
    suite: CipherSuite, master: bytes, client_random: bytes, server_random: bytes
) -> tuple[bytes, bytes, bytes, bytes]:
    """(client key, client iv, server key, server iv) from the key block; AEAD has no MAC keys."""
    k, iv = suite.key_len, suite.fixed_iv_len
    block = prf12(master, b"key expansion", server_random + client_random, 2 * (k + iv), suite.hash)
    return block[:k], block[2 * k : 2 * k + iv], block[k : 2 * k], block[2 * k + iv :]


# -- record protection ------------------------------------------------------------------


class RecordCipher:
    """One direction's record protection: key, IV and the running sequence number."""

    __slots__ = ("_aead", "iv", "seq", "suite", "tls13")

    def __init__(self, suite: CipherSuite, key: bytes, iv: bytes, tls13: bool) -> None:
        self.suite = suite
        self.iv = iv
        self.seq = 0
        self.tls13 = tls13
        self._aead = aead_for(suite, key)

    def decrypt(self, ctype: int, version: int, fragment: bytes) -> bytes | None:
        """Open one record; None when it does not authenticate (wrong key or damage).

        The sequence number only advances on success, so a record that was
        protected with another key (a handshake record tried with application
        keys) does not throw the count off.
        """
        suite = self.suite
        seq = self.seq
        if self.tls13 or suite.explicit_nonce_len == 0:
            nonce = xor_nonce(self.iv, seq)
            body = fragment
        else:
            explicit = fragment[: suite.explicit_nonce_len]
            nonce = self.iv + explicit
            body = fragment[suite.explicit_nonce_len :]
        if len(body) < suite.tag_len or len(nonce) != 12:
            return None
        if self.tls13:
            aad = bytes([ctype]) + version.to_bytes(2, "big") + len(fragment).to_bytes(2, "big")
        else:
            plain_len = len(body) - suite.tag_len
            aad = (
                seq.to_bytes(8, "big")
                + bytes([ctype])
                + version.to_bytes(2, "big")
                + plain_len.to_bytes(2, "big")
            )
        try:
            plain = self._aead.decrypt(nonce, body, aad)
        except (InvalidTag, ValueError):
            return None
        self.seq = seq + 1
        return plain


def xor_nonce(iv: bytes, seq: int) -> bytes:
    """The per-record (TLS) or per-packet (QUIC) nonce: the IV xored with the number."""
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(len(iv), "big")


def aead_for(suite: CipherSuite, key: bytes) -> AESGCM | AESCCM | ChaCha20Poly1305:
    """The primitive for a suite (used by QUIC packet protection too)."""
    if suite.aead == "aes-gcm":
        return AESGCM(key)
    if suite.aead == "chacha20":
        return ChaCha20Poly1305(key)
    return AESCCM(key, tag_length=suite.tag_len)
