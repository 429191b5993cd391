"""Write the committed seed corpus, ``fuzz/corpus/<target>/``, from the project's own data.

Seeds come from the test captures, the demo capture, the bundled signatures
and the demo's device and app files, cut small: the fuzzer needs shapes, not
volume. Each seed is named by its SHA-1, as libFuzzer names the inputs it keeps.

    .venv/bin/python fuzz/make_corpus.py
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import zstandard

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from leaktrace.sources.fragments import FragmentReassembler  # noqa: E402
from leaktrace.sources.packets import decode_frame  # noqa: E402
from leaktrace.sources.pcap import CaptureReader, Frame  # noqa: E402

CAPTURES = [*sorted((ROOT / "tests" / "data").glob("*.pcap*")), ROOT / "captures" / "demo.pcap"]
MAX_SEED = 16 << 10
LINKTYPES_PACKETS = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999)  # sorted SUPPORTED + 9999
LINKTYPES_CAPTURE = (1, 101, 113, 276, 0)

HTTP_REQUESTS = [
    b"GET /v1/cfg?imei=868915034726190&ts=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: b.example\r\nContent-Type: application/json\r\n"
    b'Content-Length: 24\r\n\r\n{"imei":"868915034726190"}',
    b"POST /u HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    b"GET /next HTTP/1.0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: e\r\nUpgrade: websocket\r\n\r\n\x81\x85abcdefghi",
    b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n\x16\x03\x01\x00\x05hello",
    b"junk\r\nGET / HTTP/1.1\r\nFolded: a\r\n  b\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
]


def seed_name(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def frames(path: Path, limit: int = 400) -> Iterator[Frame]:
    for i, frame in enumerate(CaptureReader(path)):
        if i >= limit:
            return
        yield frame


def sized(data: bytes, max_len: int) -> bytes:
    data = data[:max_len]
    return struct.pack("!H", len(data)) + data


def tcp_payloads(path: Path) -> Iterator[tuple[int, int, bytes]]:
    frags = FragmentReassembler()
    for frame in frames(path):
        pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
        if pkt is not None and pkt.payload:
            yield pkt.proto, pkt.dport, bytes(pkt.payload)


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def client_hello(sni: str) -> bytes:
    host = sni.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(host) + 5, len(host) + 3, 0, len(host)) + host
    alpn = b"\x02h2\x08http/1.1"
    alpn_ext = struct.pack("!HHH", 16, len(alpn) + 2, len(alpn)) + alpn
    versions = struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    exts = sni_ext + alpn_ext + versions
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def seeds() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {name: [] for name in ("pcap", "capture", "packets")}
    for path in CAPTURES:
        raw = path.read_bytes()
        out["pcap"].append(raw[:MAX_SEED])
        got = list(frames(path, 40))
        if not got:
            continue
        lt = got[0].linktype
        if lt in LINKTYPES_PACKETS:
            body = bytes([LINKTYPES_PACKETS.index(lt)])
            body += b"".join(sized(bytes(f.data), 2048) + b"\x01" for f in got)
            out["packets"].append(body[:MAX_SEED])
        if lt in LINKTYPES_CAPTURE:
            body = bytes([LINKTYPES_CAPTURE.index(lt)])
            body += b"".join(b"\x00" + sized(bytes(f.data), 4096) for f in got)
            out["capture"].append(body[:MAX_SEED])

    payloads = [p for path in CAPTURES for p in tcp_payloads(path)]
    http = [p for proto, _port, p in payloads if proto == 6 and p[:4] in (b"GET ", b"POST")]
    out["http1"] = HTTP_REQUESTS + http[:8]
    dns = [p for proto, port, p in payloads if proto == 17 and port in (53, 5353)]
    query = (
        struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + dns_name("ulogs.umeng.com") + b"\0\1\0\1"
    )
    answer = (
        struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
        + dns_name("a.example")
        + b"\0\1\0\1\xc0\x0c"
        + struct.pack("!HHIH", 1, 1, 60, 4)
        + b"\x0a\0\0\1"
    )
    loop = struct.pack("!HHHHHH", 8, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1"
    out["dns"] = [query, answer, loop, struct.pack("!H", len(query)) + query, *dns[:6]]
    hellos = [client_hello(h) for h in ("graph.facebook.com", "x" * 200, "")]
    out["tls"] = hellos + [p for proto, _port, p in payloads if p[:1] == b"\x16"][:4]
    out["sniff"] = [b"\x06\x00\x50\x9c\x40" + r for r in HTTP_REQUESTS[:2]] + [
        b"\x06\x01\xbb\x9c\x40" + hellos[0],
        b"\x11\x00\x35\x9c\x40" + query,
        b"\x11\x01\xbb\x9c\x40\xc0\x00\x00\x00\x01\x08abcdefgh",
    ]

    doc = json.dumps({"imei": "868915034726190", "loc": {"lat": 39.9, "lng": 116.3}}).encode()
    compressed = [
        (0, gzip.compress(doc)),
        (1, zlib.compress(doc)),
        (2, zlib.compress(doc)[2:-4]),
        (3, brotli.compress(doc)),
        (4, zstandard.ZstdCompressor().compress(doc)),
        (0, gzip.compress(bytes(100_000), 9)),
    ]
    out["compress"] = [bytes([i]) + b"\x04\x00" + data for i, data in compressed]
    b64 = base64.b64encode(doc)
    out["binary"] = [b64, base64.urlsafe_b64encode(doc), doc.hex().encode(), b"QUJDRA==", b"abc"]
    out["jsonpath"] = [
        doc,
        b'[1, 2.50, "x", true, null, {"a": {"b": [1e400]}}]',
        b'{"a":1,"a":2,"\xff":"\xfe"}',
        b"[" * 50 + b"]" * 50,
        b"\xef\xbb\xbf{}",
    ]
    out["form_url"] = [
        b"/p/a%2Fb?imei=868915034726190&x=%ZZ&bare",
        b"http://h.example:80/x?q=1#frag",
        b"h.example:443",
        b"a=1&b=2+3&c=%41",
        b"*",
    ]
    boundary = b"XyZ"
    multipart = (
        b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="x.json"\r\n'
        b"Content-Type: application/json\r\n\r\n" + doc + b"\r\n--XyZ--\r\n"
    )
    out["multipart"] = [bytes([len(boundary)]) + boundary + multipart]
    out["mediatype"] = [
        b"application/json; charset=utf-8",
        b'multipart/form-data; boundary="a\\"b"; x=1',
        b"gzip, br\nx-gzip",
    ]
    form_body = b"mobile=13867452109&code=1234"
    out["extract_fields"] = [
        bytes([0, 1])
        + sized(b"sid=abc; uid=" + b64, 256)
        + sized(b64, 512)
        + sized(b"v1/collect?imei=868915034726190", 1024)
        + gzip.compress(doc),
        bytes([1, 0]) + sized(b"", 256) + sized(b"", 512) + sized(b"", 1024) + form_body,
        bytes([2, 0]) + sized(b"", 256) + sized(b"", 512) + sized(b"", 1024) + multipart,
    ]
    out["pipeline"] = [
        sized(b"ulogs.umeng.com", 64) + sized(b"imei", 32) + b"868915034726190",
        sized(b"api.example", 64)
        + sized(b"", 32)
        + hashlib.md5(b"868915034726190").hexdigest().encode(),
        sized(b"x", 64) + sized(b"", 32) + b'{"lat":39.908722,"lng":116.397499}',
    ]
    sig_dir = ROOT / "signatures"
    out["yaml_signatures"] = [
        b"\x01" + p.read_bytes() for p in sorted((sig_dir / "identifiers").glob("*.yaml"))[:4]
    ]
    out["yaml_signatures"] += [
        b"\x00" + p.read_bytes() for p in sorted((sig_dir / "sdks").glob("*.yaml"))[:4]
    ]
    out["yaml_device"] = [
        (ROOT / "captures" / "device.yaml").read_bytes(),
        b"imei: [1, 2]\nx: &a [*a]\n",
    ]
    out["yaml_declaration"] = [(ROOT / "captures" / "app.yaml").read_bytes()]
    timeline = (
        b'{"record": "event", "ts": 1.0, "event": "consent"}\n'
        b'{"record": "finding", "ts": 2.0, "flow": "1:x", "src": "a:1", "dst": "b:2"}\n'
    )
    har = json.dumps(
        {
            "log": {
                "entries": [
                    {
                        "startedDateTime": "2025-01-01T00:00:00Z",
                        "request": {
                            "method": "POST",
                            "url": "https://api.example/x?imei=868915034726190",
                            "httpVersion": "HTTP/1.1",
                            "headers": [{"name": "Content-Type", "value": "application/json"}],
                            "postData": {"mimeType": "application/json", "text": doc.decode()},
                        },
                    }
                ]
            }
        }
    ).encode()
    out["parsers"] = [
        b"\x00" + timeline,
        b"\x01" + har,
        b"\x02" + har,
        b"\x03" + b"5:hello,",
        b"\x04" + hellos[0][5:],
    ]

    scenario = bytearray(b"\x00\x00\x10\x00")  # tcp base sequence number
    for seq, body in (
        (0x100, b""),
        (0x101, HTTP_REQUESTS[1][:40]),
        (0x101 + 40, HTTP_REQUESTS[1][40:]),
    ):
        op = 1 if not body else 3
        scenario += bytes([op]) + struct.pack("!HH", seq, len(body)) + body
    out["tcp"] = [bytes(scenario)]
    flows = bytearray()
    for flags, payload in ((0x02, b""), (0x18, HTTP_REQUESTS[0]), (0x11, b"")):
        flows += bytes([1, 1, 2, 0, 5, 1, flags]) + struct.pack("!IIH", 1000, 1, len(payload))
        flows += payload
    out["flows"] = [bytes(flows)]
    return out


def main() -> None:
    for target, items in seeds().items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for data in items:
            (folder / seed_name(data)).write_bytes(data)
        print(f"{target}: {len(items)} seeds")


if __name__ == "__main__":
    main()
