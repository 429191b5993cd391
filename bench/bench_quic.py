"""Keyed QUIC alone: 1-RTT packets opened by ``QuicAppReader`` with the sender's traffic secret.

    python bench/bench_quic.py                       # µs a packet, best of 5 rounds
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python bench/bench_quic.py --packets 5000 --rounds 1
    (the same with --rounds 0, subtracted, gives instructions a packet)

Each packet is a short-header AES-128-GCM packet of one STREAM frame of 1,150
bytes, protected as RFC 9001 §5 says a sender does, with consecutive packet
numbers; one reader opens a round's packets in order, as it would a
connection's. Compare instruction counts across commits, not times (run an
older commit's tree with ``PYTHONPATH=TREE/src``).
"""

from __future__ import annotations

import argparse
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from leaktrace.protocols.quic import aes_hp_mask
from leaktrace.protocols.quic_app import QuicAppReader
from leaktrace.tls.decrypt import hkdf_expand_label, xor_nonce

SECRET = bytes(range(32))
SERVER_CID = bytes.fromhex("312868557a5522e6")
DATA = b"x" * 1150
# STREAM with offset and length (type 0x0e), stream 4, offset 0, two-byte varint length
FRAME = bytes([0x0E, 4, 0x40, 0x00, 0x40 | len(DATA) >> 8, len(DATA) & 0xFF]) + DATA


def packet(number: int) -> bytes:
    """The protected 1-RTT packet ``number``, which carries its low two bytes."""
    key = hkdf_expand_label(SECRET, b"quic key", b"", 16)
    iv = hkdf_expand_label(SECRET, b"quic iv", b"", 12)
    hp = hkdf_expand_label(SECRET, b"quic hp", b"", 16)
    first = 0x41  # short header, key phase 0, two packet number bytes
    header = bytes([first]) + SERVER_CID + (number & 0xFFFF).to_bytes(2, "big")
    body = AESGCM(key).encrypt(xor_nonce(iv, number), FRAME, header)
    pn_offset = 1 + len(SERVER_CID)
    mask = aes_hp_mask(hp, (header[pn_offset:] + body)[4:20])
    protected = bytes([first ^ (mask[0] & 0x1F)]) + SERVER_CID
    protected += bytes(b ^ m for b, m in zip(header[pn_offset:], mask[1:3], strict=True))
    return protected + body


def open_all(packets: list[bytes]) -> int:
    """The packets one reader opens, fed in order; the stream bytes it read back."""
    reader = QuicAppReader(SECRET, cid_len=len(SERVER_CID))
    read = sum(len(chunk.data) for p in packets for chunk in reader.feed(p))
    if reader.failed:
        raise SystemExit(f"{reader.failed} of {len(packets)} packets did not open")
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=20_000, help="packets a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is shown")
    args = parser.parse_args()
    packets = [packet(n) for n in range(args.packets)]
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        read = open_all(packets)
        best = min(best, time.perf_counter() - start)
        if read != len(DATA) * args.packets:
            raise SystemExit(f"read {read} stream bytes of {len(DATA) * args.packets}")
    if args.packets and args.rounds:
        print(f"{best / args.packets * 1e6:.2f} µs a packet (best of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
