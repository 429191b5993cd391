"""A capture of HTTPS opened with a key log: the committed TLS captures, many times over.

Most of an app's traffic is TLS, and a lab that wants to see inside it records
the device's key log (``SSLKEYLOGFILE``, Frida) beside the capture. This
workload measures that case against tshark with the same key log. Its flows
are the keyed captures in ``tests/data/tls`` (TLS 1.2 and 1.3 with AES-GCM and
ChaCha20-Poly1305, HTTP/1.1 and HTTP/2, made by real stacks: Python's ssl and
OpenSSL, h2), repeated with a new client address each time and shifted in
time so that the flows follow one another; the IPv4 and TCP checksums are
made again for the new address. Every exchange in those captures carries the
IMEI 356938035643809 and the IMSI 460001234567890 once (see
``tests/data/tls/make_tls_captures.py``), so a full analysis must find one of
each per flow. The key logs are concatenated: repeated flows share their
client random, so one line per original flow opens all its copies.

    python -m bench.keyed OUT.pcap --copies 2000     # writes OUT.keys and a manifest
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "tls"
CAPTURES = (
    "tls12_aes128gcm",
    "tls12_chacha20",
    "tls13_aes128gcm",
    "tls13_aes256gcm",
    "tls13_chacha20",
    "http2_tls",
)
CLIENT = bytes([127, 0, 0, 1])  # the client's address in every committed capture
VERSION = 1  # bumped when the output changes, so captures made before are remade
GAP_S = 0.02  # between the start of one copy of a flow and the next
MAX_COPIES = 1 << 16
WHY_MAX = "one client address each, 10.x.y.2"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _readdress(frame: bytes, client: bytes) -> bytes:
    """The Ethernet/IPv4/TCP frame with the client's address replaced, checksums remade."""
    out = bytearray(frame)
    ip = 14
    header_len = (out[ip] & 0x0F) * 4
    for at in (ip + 12, ip + 16):
        if out[at : at + 4] == CLIENT:
            out[at : at + 4] = client
    out[ip + 10 : ip + 12] = b"\x00\x00"
    out[ip + 10 : ip + 12] = struct.pack("!H", _checksum(bytes(out[ip : ip + header_len])))
    total_len = struct.unpack_from("!H", out, ip + 2)[0]
    if out[ip + 9] == 6 and ip + total_len <= len(out):
        segment = ip + header_len
        out[segment + 16 : segment + 18] = b"\x00\x00"
        pseudo = bytes(out[ip + 12 : ip + 20]) + struct.pack("!BBH", 0, 6, total_len - header_len)
        body = bytes(out[segment : ip + total_len])
        out[segment + 16 : segment + 18] = struct.pack("!H", _checksum(pseudo + body))
    return bytes(out)


def _records(path: Path) -> tuple[bytes, list[tuple[float, bytes, int]]]:
    data = path.read_bytes()
    magic, linktype = struct.unpack_from("<I", data)[0], struct.unpack_from("<I", data, 20)[0]
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise ValueError(f"{path}: expected a microsecond pcap of Ethernet frames")
    records, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, origlen = struct.unpack_from("<IIII", data, pos)
        records.append((sec + usec / 1e6, data[pos + 16 : pos + 16 + caplen], origlen))
        pos += 16 + caplen
    return data[:24], records


def build(out: Path, copies: int) -> dict[str, object]:
    """Write ``out``, its key log (``out`` with suffix ``.keys``) and a manifest;
    returns the manifest."""
    flows = [_records(DATA / f"{name}.pcap") for name in CAPTURES]
    keys = out.with_suffix(".keys")
    keys.write_bytes(b"".join((DATA / f"{name}.keys").read_bytes() for name in CAPTURES))
    clock, frames = 1_763_900_000.0, 0
    with out.open("wb") as stream:
        stream.write(flows[0][0])
        for copy in range(copies):
            client = bytes([10, (copy >> 8) & 0xFF, copy & 0xFF, 2])
            for _header, records in flows:
                start = records[0][0]
                for ts, frame, origlen in records:
                    moved = clock + (ts - start)
                    sec = int(moved)
                    usec = min(round((moved - sec) * 1e6), 999_999)
                    data = _readdress(frame, client)
                    stream.write(struct.pack("<IIII", sec, usec, len(data), origlen) + data)
                    frames += 1
                clock += GAP_S
    n_flows = copies * len(CAPTURES)
    manifest: dict[str, object] = {
        "version": VERSION,
        "capture": out.name,
        "keylog": keys.name,
        "bytes": out.stat().st_size,
        "frames": frames,
        "flows": n_flows,
        "copies": copies,
        "planted": {"imei": n_flows, "imsi": n_flows},
    }
    out.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=2000, help="copies of each of the six flows")
    args = parser.parse_args()
    if not 1 <= args.copies <= MAX_COPIES:
        parser.error(f"--copies must be between 1 and {MAX_COPIES} ({WHY_MAX})")
    print(json.dumps(build(args.out, args.copies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
