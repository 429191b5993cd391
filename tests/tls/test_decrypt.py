"""Key schedules against RFC vectors, and record protection round trips for every suite."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.tls.decrypt import (
    SUITES,
    CipherSuite,
    RecordCipher,
    hkdf_expand_label,
    next_traffic_secret,
    prf12,
    tls12_keys,
    tls13_keys,
)


def test_rfc8448_handshake_keys() -> None:
    """RFC 8448 §3: server handshake traffic secret to its write key and IV."""
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    key, iv = tls13_keys(SUITES[0x1301], secret)
    assert key.hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert iv.hex() == "5d313eb2671276ee13000b30"


def test_expand_label_lengths_and_update() -> None:
    suite = SUITES[0x1302]
    secret = b"\x07" * 48
    assert len(hkdf_expand_label(secret, b"key", b"", 32, "sha384")) == 32
    updated = next_traffic_secret(suite, secret)
    assert len(updated) == 48 and updated != secret


def test_prf_is_deterministic_and_label_bound() -> None:
    a = prf12(b"s" * 48, b"key expansion", b"seed", 100, "sha256")
    assert len(a) == 100
    assert a != prf12(b"s" * 48, b"master secret", b"seed", 100, "sha256")
    assert a[:40] == prf12(b"s" * 48, b"key expansion", b"seed", 40, "sha256")


def _aead(suite: CipherSuite, key: bytes) -> AESGCM | AESCCM | ChaCha20Poly1305:
    if suite.aead == "aes-gcm":
        return AESGCM(key)
    if suite.aead == "chacha20":
        return ChaCha20Poly1305(key)
    return AESCCM(key, tag_length=suite.tag_len)


def _seal12(suite: CipherSuite, key: bytes, iv: bytes, seq: int, ctype: int, data: bytes) -> bytes:
    """A TLS 1.2 AEAD record body as a sender builds it (RFC 5288, RFC 7905)."""
    aad = seq.to_bytes(8, "big") + bytes([ctype]) + b"\x03\x03" + len(data).to_bytes(2, "big")
    if suite.explicit_nonce_len:
        explicit = (seq + 1000).to_bytes(8, "big")
        return explicit + _aead(suite, key).encrypt(iv + explicit, data, aad)
    nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big"), strict=True))
    return _aead(suite, key).encrypt(nonce, data, aad)


def _seal13(suite: CipherSuite, key: bytes, iv: bytes, seq: int, inner: bytes) -> bytes:
    length = len(inner) + suite.tag_len
    aad = b"\x17\x03\x03" + length.to_bytes(2, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big"), strict=True))
    return _aead(suite, key).encrypt(nonce, inner, aad)


TLS12 = sorted(code for code, s in SUITES.items() if not s.tls13)
TLS13 = sorted(code for code, s in SUITES.items() if s.tls13)


@pytest.mark.parametrize("code", TLS12)
def test_tls12_records_round_trip(code: int) -> None:
    suite = SUITES[code]
    ckey, civ, skey, _siv = tls12_keys(suite, b"m" * 48, b"c" * 32, b"s" * 32)
    assert ckey != skey and len(ckey) == suite.key_len and len(civ) == suite.fixed_iv_len
    cipher = RecordCipher(suite, ckey, civ, tls13=False)
    for seq, text in enumerate([b"\x14\x00\x00\x0cfinished....", b"GET / HTTP/1.1\r\n\r\n"]):
        ctype = 22 if seq == 0 else 23
        assert cipher.decrypt(ctype, 0x0303, _seal12(suite, ckey, civ, seq, ctype, text)) == text
    # A record sealed for another sequence number does not open, and does not advance.
    stale = _seal12(suite, ckey, civ, 0, 23, b"old")
    assert cipher.decrypt(23, 0x0303, stale) is None and cipher.seq == 2


@pytest.mark.parametrize("code", TLS13)
def test_tls13_records_round_trip(code: int) -> None:
    suite = SUITES[code]
    key, iv = tls13_keys(suite, b"t" * (48 if suite.hash == "sha384" else 32))
    cipher = RecordCipher(suite, key, iv, tls13=True)
    inner = b"POST /x HTTP/1.1\r\n\r\n" + b"\x17" + b"\x00" * 5
    body = _seal13(suite, key, iv, 0, inner)
    assert cipher.decrypt(23, 0x0303, body) == inner
    assert cipher.decrypt(23, 0x0303, body) is None  # sequence 1 now


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(SUITES)), st.binary(max_size=80), st.booleans())
def test_garbage_records_do_not_open_or_raise(code: int, data: bytes, tls13: bool) -> None:
    suite = SUITES[code]
    cipher = RecordCipher(suite, b"k" * suite.key_len, b"i" * suite.fixed_iv_len, tls13)
    assert cipher.decrypt(23, 0x0303, data) is None
