"""QUIC 1-RTT packets opened with the client's traffic secret: suites, key updates, frames."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols import quic_app
from leaktrace.protocols.http3 import Http3Reader
from leaktrace.protocols.quic import VERSION_1, VERSION_2, QuicHelloReader, aes_hp_mask
from leaktrace.protocols.quic_app import QuicAppReader, StreamChunk, hp_masker, stream_frames
from leaktrace.tls.decrypt import SUITES, hkdf_expand_label
from tls.captures import datagrams as datagrams_of
from tls.captures import keys

SERVER_CID = bytes.fromhex("312868557a5522e6")
FIRST_DCID = bytes.fromhex("8de8e86b9d5af6fe")


def test_rfc9001_chacha20_short_header_packet() -> None:
    """RFC 9001 Appendix A.5: a ChaCha20-Poly1305 1-RTT packet with no connection ID.
    A 32-byte secret may be AES-128-GCM or ChaCha20; only the right one opens it."""
    secret = bytes.fromhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b")
    packet = bytes.fromhex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb")
    reader = QuicAppReader(secret, FIRST_DCID)
    reader.cid_len = 0
    reader._largest = 654360563  # the packet number is 654360564, sent with 3 bytes
    assert reader.feed(packet) == []  # its payload is one PING frame
    assert (reader.opened, reader.failed) == (1, 0)
    assert reader.suite is not None and reader.suite.name == "TLS_CHACHA20_POLY1305_SHA256"


def _keys(secret: bytes) -> tuple[bytes, bytes, bytes]:
    return (
        hkdf_expand_label(secret, b"quic key", b"", 16),
        hkdf_expand_label(secret, b"quic iv", b"", 12),
        hkdf_expand_label(secret, b"quic hp", b"", 16),
    )


def protect(secret: bytes, hp: bytes, pn: int, payload: bytes, phase: int) -> bytes:
    """A short-header AES-128-GCM packet, protected as RFC 9001 §5 says a sender does."""
    key, iv, _ = _keys(secret)
    first = 0x40 | (phase << 2) | 0x01  # two packet number bytes
    header = bytes([first]) + SERVER_CID + pn.to_bytes(2, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big"), strict=True))
    body = AESGCM(key).encrypt(nonce, payload, header)
    pn_offset = 1 + len(SERVER_CID)
    sample = (header[pn_offset:] + body)[4:20]
    mask = aes_hp_mask(hp, sample)
    protected = bytes([first ^ (mask[0] & 0x1F)]) + SERVER_CID
    protected += bytes(b ^ m for b, m in zip(header[pn_offset:], mask[1:3], strict=True))
    return protected + body


def stream(sid: int, offset: int, data: bytes, fin: bool) -> bytes:
    ftype = 0x08 | 0x04 | 0x02 | (0x01 if fin else 0)
    return bytes([ftype, sid, 0x40 | offset >> 8, offset & 0xFF, len(data)]) + data


def test_packets_are_followed_across_a_key_update() -> None:
    secret = bytes(range(32))
    _, _, hp = _keys(secret)
    updated = hkdf_expand_label(secret, b"quic ku", b"", 32)
    # the client's Handshake packet (a long header) tells the server's connection ID length
    handshake = (
        bytes([0xE0]) + b"\x00\x00\x00\x01" + bytes([8]) + SERVER_CID + b"\x00" + b"\x01\x00"
    )
    packets = [
        handshake + protect(secret, hp, 0, stream(0, 0, b"GET ", False), 0),
        protect(secret, hp, 1, b"\x00" * 3 + stream(0, 4, b"/a", False), 0),
        protect(updated, hp, 3, b"\x01" + stream(0, 8, b"=1", True), 1),  # new keys, same hp
        protect(secret, hp, 2, stream(0, 6, b"?q", False), 0),  # sent before it, late
        protect(secret, hp, 4, stream(0, 0, b"bad", False), 0),  # old keys after the update
    ]
    reader = QuicAppReader(secret, FIRST_DCID)
    got = [reader.feed(p) for p in packets]
    assert got == [
        [StreamChunk(0, 0, b"GET ", False)],
        [StreamChunk(0, 4, b"/a", False)],
        [StreamChunk(0, 8, b"=1", True)],
        [StreamChunk(0, 6, b"?q", False)],
        [],
    ]
    assert (reader.opened, reader.failed, reader.cid_len) == (4, 1, 8)
    assert reader.suite is not None and reader.suite.name == "TLS_AES_128_GCM_SHA256"


@settings(max_examples=200, deadline=None)
@given(
    suite_code=st.sampled_from([0x1301, 0x1302, 0x1303]),
    key=st.binary(min_size=32, max_size=32),
    samples=st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=6),
)
def test_a_kept_header_protection_cipher_masks_as_a_fresh_one(
    suite_code: int, key: bytes, samples: list[bytes]
) -> None:
    """One mask maker per key serves every packet; each mask is the one a cipher set up
    for that sample alone gives (RFC 9001 §5.4.3 and §5.4.4)."""
    suite = SUITES[suite_code]
    hp_key = key[: suite.key_len]
    mask_of = hp_masker(suite, hp_key)
    for sample in samples:
        if suite.aead == "chacha20":
            nonce, counter = sample[4:], int.from_bytes(sample[:4], "little")
            fresh = ChaCha20(hp_key, counter.to_bytes(4, "little") + nonce)
            expected = Cipher(fresh, mode=None).encryptor().update(bytes(5))
        else:
            expected = aes_hp_mask(hp_key, sample)
        assert mask_of(sample)[:5] == expected[:5]


def test_a_connection_sets_its_ciphers_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AEAD and the header protection of a key are made when it is derived, not per
    packet: 157 k instructions a 1,200-byte packet before, 88 k after."""
    made: list[str] = []

    def counting(kind: str, real: Callable[..., object]) -> Callable[..., object]:
        def make(*args: object) -> object:
            made.append(kind)
            return real(*args)

        return make

    monkeypatch.setattr(quic_app, "aead_for", counting("aead", quic_app.aead_for))
    monkeypatch.setattr(quic_app, "hp_masker", counting("hp", quic_app.hp_masker))
    secret = bytes(range(32))
    _, _, hp = _keys(secret)
    reader = QuicAppReader(secret, FIRST_DCID, len(SERVER_CID))
    for pn in range(50):
        assert reader.feed(protect(secret, hp, pn, stream(0, pn, b"x", False), 0)) == [
            StreamChunk(0, pn, b"x", False)
        ]
    assert sorted(made) == ["aead", "hp"]
    # A packet too short to sample leaves the kept cipher as it was for the next one.
    assert reader.feed(protect(secret, hp, 50, stream(0, 50, b"z", False), 0)[:20]) == []
    assert reader.feed(protect(secret, hp, 51, stream(0, 51, b"y", False), 0)) == [
        StreamChunk(0, 51, b"y", False)
    ]


def test_stream_frames_among_the_other_frame_types() -> None:
    payload = (
        b"\x02\x05\x00\x01\x00\x01\x00"  # ACK: largest 5, delay 0, 1 range past the first
        + b"\x18\x01\x00\x04abcd"
        + bytes(16)  # NEW_CONNECTION_ID
        + b"\x1a"
        + bytes(8)  # PATH_CHALLENGE
        + b"\x11\x00\x40\x80"  # MAX_STREAM_DATA
        + b"\x0a\x04\x03xyz"  # STREAM, no offset, with length
        + b"\x09\x08tail"  # STREAM with FIN, to the end of the packet
    )
    assert stream_frames(payload) == [
        StreamChunk(4, 0, b"xyz", False),
        StreamChunk(8, 0, b"tail", True),
    ]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_payloads_and_datagrams_never_raise(data: bytes) -> None:
    for chunk in stream_frames(data):
        assert chunk.offset >= 0 and len(chunk.data) <= len(data)
    reader = QuicAppReader(bytes(32), FIRST_DCID)
    reader.feed(data)
    reader.cid_len = 8
    reader.feed(b"\x40" + data)
    assert reader.opened == 0


def test_the_server_side_of_a_real_connection_opens_and_holds_its_settings() -> None:
    """aioquic's server: its 1-RTT packets open with SERVER_TRAFFIC_SECRET_0 and the
    client's connection ID length, and its control stream holds SETTINGS."""
    datagrams = datagrams_of("quic_h3.pcap")
    hello = QuicHelloReader()
    for from_client, data in datagrams:
        if from_client and hello.feed(data) == "done":
            break
    assert hello.client_random is not None and hello.client_cid is not None
    log = keys("quic_h3")
    secret = log.get(hello.client_random, "SERVER_TRAFFIC_SECRET_0")
    assert secret is not None
    server = QuicAppReader(secret, cid_len=len(hello.client_cid))
    h3 = Http3Reader()
    for from_client, data in datagrams:
        if not from_client:
            h3.server(server.feed(data))
    assert server.opened > 0 and server.suite is not None
    assert h3.server_settings is not None and h3.server_settings[0x01] == 4096  # aioquic


@pytest.mark.parametrize(
    ("version", "packet_type", "prefix"),
    [(VERSION_1, 1, b"quic "), (VERSION_2, 2, b"quicv2 ")],
    ids=["v1", "v2"],
)
def test_zero_rtt_packets_open_with_the_early_secret(
    version: int, packet_type: int, prefix: bytes
) -> None:
    """A resuming client's early data: a long-header 0-RTT packet, coalesced after its
    Initial, protected with CLIENT_EARLY_TRAFFIC_SECRET under the version's labels."""
    early = bytes(range(100, 132))
    key, iv, hp = (
        hkdf_expand_label(early, prefix + label, b"", size)
        for label, size in ((b"key", 16), (b"iv", 12), (b"hp", 16))
    )
    payload = stream(0, 0, b"GET /?imei=1", True)
    pn = 0
    first = 0xC0 | (packet_type << 4) | 0x01  # two packet number bytes
    body_len = 2 + len(payload) + 16
    header = bytes([first]) + version.to_bytes(4, "big") + bytes([8]) + FIRST_DCID + bytes([0])
    header += bytes([0x40 | body_len >> 8, body_len & 0xFF]) + pn.to_bytes(2, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big"), strict=True))
    body = AESGCM(key).encrypt(nonce, payload, header)
    pn_offset = len(header) - 2
    mask = aes_hp_mask(hp, (header[pn_offset:] + body)[4:20])
    packet = bytes([first ^ (mask[0] & 0x0F)]) + header[1:pn_offset]
    packet += bytes(b ^ m for b, m in zip(header[pn_offset:], mask[1:3], strict=True)) + body
    initial = bytes([0xC0 | (0 if version == VERSION_1 else 0x10)]) + version.to_bytes(4, "big")
    initial += bytes([8]) + FIRST_DCID + b"\x00\x00\x01\x00"  # no token, a 1-byte body
    reader = QuicAppReader(bytes(32), FIRST_DCID, early_secret=early, version=version)
    assert reader.feed(initial + packet) == [StreamChunk(0, 0, b"GET /?imei=1", True)]
    assert (reader.opened, reader.failed) == (1, 0)
    assert QuicAppReader(bytes(32), FIRST_DCID, version=version).feed(initial + packet) == []
