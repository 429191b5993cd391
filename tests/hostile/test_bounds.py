"""Every bound on attacker-shaped input: hit, reported as a limit, and analysis goes on.

Each test plants an identifier that stays reachable under the bound, so it
checks both halves of the promise: the bound holds (memory, time, counts) and
the finding the tool could make is still made.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from leaktrace.analyze import analyze_capture
from leaktrace.decoders import DecodeLimits, extract_fields
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.protocols.dns import parse_dns
from leaktrace.protocols.http1 import RequestParser
from leaktrace.sources.capture import CaptureSource
from leaktrace.testing import http_message
from leaktrace.types import Diagnostic, Finding

from . import capgen
from .conftest import run_cli

IMEI = capgen.imei(424242)
BOMB_BYTES = 64 << 20


def run(config: PipelineConfig, *msgs: object) -> tuple[list[Finding], list[Diagnostic]]:
    pipeline = Pipeline(config)
    findings: list[Finding] = []
    diags: list[Diagnostic] = []
    for msg in msgs:
        for item in pipeline.process(msg):  # type: ignore[arg-type]
            (findings if isinstance(item, Finding) else diags).append(item)  # type: ignore[arg-type]
    return findings, diags


def limits(diags: list[Diagnostic]) -> set[str]:
    return {d.detail.split(":", 1)[0] for d in diags if d.name == "decode_limit"}


def imeis(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.type == "imei"]


# -- decoder bounds ------------------------------------------------------------------


def _zeros(compressor: object, total: int, write: str, flush: str) -> bytes:
    block = bytes(1 << 20)
    parts = [getattr(compressor, write)(block) for _ in range(total >> 20)]
    parts.append(getattr(compressor, flush)())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """64 MiB of zeros after a JSON prefix that carries the IMEI, in every coding."""
    prefix = f'{{"imei":"{IMEI}","pad":"'.encode()
    gz = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_RLE)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    zs = zstandard.ZstdCompressor(level=1).compressobj()
    br = brotli.Compressor(quality=1)
    return {
        "gzip": gz.compress(prefix) + _zeros(gz, BOMB_BYTES, "compress", "flush"),
        "deflate": raw.compress(prefix) + _zeros(raw, BOMB_BYTES, "compress", "flush"),
        "zstd": zs.compress(prefix) + _zeros(zs, BOMB_BYTES, "compress", "flush"),
        "br": br.process(prefix) + _zeros(br, BOMB_BYTES, "process", "finish"),
    }


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_bomb_stops_at_the_ratio(
    coding: str, bombs: dict[str, bytes], config: PipelineConfig
) -> None:
    body = bombs[coding]
    msg = http_message(
        "bomb.example",
        "/up",
        body,
        (("Content-Type", "application/json"), ("Content-Encoding", coding)),
    )
    tracemalloc.start()
    findings, diags = run(config, msg)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cap = int(config.limits.max_ratio * len(body))
    assert cap < BOMB_BYTES
    assert "max_ratio" in limits(diags)
    assert [f.value[:2] for f in imeis(findings)] == ["86"]
    assert peak < 8 * cap + (32 << 20), f"peak {peak >> 20} MiB for a {cap >> 20} MiB cap"


def test_sniffed_bomb_inside_a_value_is_bounded_too(
    bombs: dict[str, bytes], config: PipelineConfig
) -> None:
    blob = base64.b64encode(bombs["gzip"]).decode()
    msg = http_message(
        "bomb.example",
        "/q",
        json.dumps({"data": blob}).encode(),
        (("Content-Type", "application/json"),),
    )
    findings, diags = run(config, msg)
    assert "max_ratio" in limits(diags)
    assert imeis(findings)


def test_decoded_size_per_message(config: PipelineConfig) -> None:
    small = PipelineConfig(config.signatures, limits=DecodeLimits(max_total_bytes=1 << 20))
    # Many gzip'd values, each fine alone, together over the per-message total.
    value = base64.b64encode(gzip.compress(f"imei={IMEI}&".encode() + b"a" * 100_000)).decode()
    body = "&".join(f"v{i}={value}" for i in range(40)).encode()
    msg = http_message(
        "big.example", "/f", body, (("Content-Type", "application/x-www-form-urlencoded"),)
    )
    fields, diags = extract_fields(msg, small.limits)
    assert "max_total_bytes" in limits(diags)
    decoded = sum(len(f.value) for f in fields if ">gzip" in f.where)
    assert decoded <= small.limits.max_total_bytes
    findings, _ = run(small, msg)
    assert imeis(findings)


def _nested_base64(text: str, times: int) -> str:
    for _ in range(times):
        text = base64.b64encode(text.encode()).decode()
    return text


def test_base64_nested_past_the_depth_bound(config: PipelineConfig) -> None:
    shallow = _nested_base64(f"imei={IMEI}", 4)
    deep = _nested_base64(f"imei={IMEI}", 40)
    findings, diags = run(config, http_message("a.example", f"/x?d={shallow}&e={deep}"))
    assert "max_depth" in limits(diags)
    wheres = [f.where for f in imeis(findings)]
    assert any(w.startswith("query:d>") for w in wheres)
    assert not any(w.startswith("query:e>") for w in wheres)


def test_base64_of_itself_many_times_stays_fast(config: PipelineConfig) -> None:
    # The encoding of a value of itself, wrapped until it is 2 MB: every level decodes.
    value = _nested_base64("x" * 64, 1)
    while len(value) < 2_000_000:
        value = _nested_base64(value, 1)
    _findings, diags = run(config, http_message("a.example", "/", value.encode()))
    assert "max_depth" in limits(diags)


def test_json_with_300k_numbers_hits_max_fields(config: PipelineConfig) -> None:
    body = json.dumps({"imei": IMEI, "n": list(range(300_000))}).encode()
    msg = http_message("a.example", "/", body, (("Content-Type", "application/json"),))
    findings, diags = run(config, msg)
    assert "max_fields" in limits(diags)
    assert imeis(findings)


# -- HTTP bounds ----------------------------------------------------------------------


def test_header_count_bound() -> None:
    parser = RequestParser(max_headers=256)
    head = f"GET /c?imei={IMEI} HTTP/1.1\r\nHost: h\r\n".encode()
    head += b"".join(b"X-%d: y\r\n" % i for i in range(5000))
    (req,) = parser.feed(head + b"\r\n")
    assert len(req.headers) == 256
    assert [d.name for d in parser.diagnostics] == ["http_header_limit"]
    assert "4745 header lines" in parser.diagnostics[0].detail


def test_header_block_length_bound_then_next_flow_still_read(
    tmp_path: Path, config: PipelineConfig
) -> None:
    frames = capgen.Frames()
    huge = f"GET /c?imei={IMEI} HTTP/1.1\r\nHost: t1.example\r\n".encode()
    huge += b"".join(b"X-Pad-%d: %s\r\n" % (i, b"z" * 200) for i in range(400)) + b"\r\n"
    capgen.http_flow(frames, 1, huge)  # an 80 KB header block, over the 64 KiB bound
    capgen.http_flow(frames, 2)
    data, _ = capgen.pcap(frames)
    (tmp_path / "h.pcap").write_bytes(data)
    result = analyze_capture(tmp_path / "h.pcap", config)
    assert {f.host for f in imeis(result.findings)} == {"t1.example", "t2.example"}
    details = [d.detail for d in result.diagnostics if d.name == "http_header_limit"]
    assert any("max_header_bytes" in d for d in details), details


def test_chunk_claiming_gigabytes_is_skipped_not_buffered() -> None:
    parser = RequestParser(max_body=1 << 20)
    parser.feed(
        f"POST /u?imei={IMEI} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b"FFFFFFFFFFFF\r\n"
    )
    tracemalloc.start()
    for _ in range(32):
        assert parser.feed(b"a" * (1 << 20)) == []
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    (req,) = parser.close()
    assert len(req.body) == 1 << 20 and req.body_truncated
    assert "http_body_limit" in {d.name for d in parser.diagnostics}
    assert peak < 8 << 20


def test_content_length_claiming_terabytes() -> None:
    parser = RequestParser(max_body=4096)
    parser.feed(b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999\r\n\r\n")
    for _ in range(100):
        parser.feed(b"b" * 65536)
    (req,) = parser.close()
    assert len(req.body) == 4096 and req.body_truncated


# -- flows and captures --------------------------------------------------------------


def _raw_flow_pcap(path: Path, megabytes: int, tail: bytes) -> None:
    """One TCP connection that never ends: megabytes of opaque data, the IMEI at the end."""
    frames = capgen.Frames()
    client, server = b"\x0a\x00\x00\x02", b"\x5d\xb8\xd8\x22"
    seq = 1
    frames.add(capgen.ipv4(client, server, 6, capgen.tcp(40000, 9999, 0, 0, 0x02)))
    chunk = bytes(range(256)) * 5 + b"\x00" * 180  # 1460 bytes, no identifier
    for _ in range(megabytes * 1024 * 1024 // len(chunk)):
        frames.add(capgen.ipv4(client, server, 6, capgen.tcp(40000, 9999, seq, 1, 0x18, chunk)))
        seq += len(chunk)
    frames.add(capgen.ipv4(client, server, 6, capgen.tcp(40000, 9999, seq, 1, 0x18, tail)))
    data, _ = capgen.pcap(frames)
    path.write_bytes(data)


def _peak(path: Path, config: PipelineConfig) -> tuple[int, list[Finding]]:
    tracemalloc.start()
    result = analyze_capture(path, config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, result.findings


def test_flow_that_never_ends_is_streamed(tmp_path: Path, config: PipelineConfig) -> None:
    tail = f"\x01\x02imei={IMEI}\x03".encode()
    short, long = tmp_path / "short.pcap", tmp_path / "long.pcap"
    _raw_flow_pcap(short, 8, tail)
    _raw_flow_pcap(long, 24, tail)
    peak_short, found_short = _peak(short, config)
    peak_long, found_long = _peak(long, config)
    assert [f.value[:2] for f in imeis(found_long)] == ["86"]
    assert len(imeis(found_short)) == 1
    # Three times the bytes on one flow that never closes: memory does not follow them.
    assert peak_long < peak_short + (2 << 20), (peak_short >> 10, peak_long >> 10)


def _held_run(
    path: Path, config: PipelineConfig, max_held: int
) -> tuple[int, list[Finding], list[Diagnostic]]:
    """Peak traced memory, findings and diagnostics of a pipeline over ``path``."""
    tracemalloc.start()
    items = list(Pipeline(config).run(CaptureSource(path, max_held=max_held)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    findings = [i for i in items if isinstance(i, Finding)]
    return peak, findings, [i for i in items if isinstance(i, Diagnostic)]


@pytest.mark.parametrize("hole", [False, True], ids=["bodies", "out_of_order"])
def test_many_unfinished_uploads_are_held_to_max_held(
    tmp_path: Path, config: PipelineConfig, hole: bool
) -> None:
    """Each flow's buffers are bounded, but 150 flows hold 150 times that: the sum is
    bounded too, and every flow's IMEI is still found."""
    path = tmp_path / "uploads.pcap"
    path.write_bytes(capgen.pcap(capgen.open_uploads(150, 40, hole=hole))[0])
    unbounded, found_all, diags_all = _held_run(path, config, 1 << 40)
    bounded, found, diags = _held_run(path, config, 1 << 20)
    held = 150 * 39 * 1400  # the bodies (or out-of-order segments) of the last round's flows
    assert unbounded > held, (unbounded, held)
    assert bounded < unbounded - held // 2, (bounded >> 10, unbounded >> 10)
    hosts = sorted(f.host or "" for f in imeis(found))
    assert hosts == sorted(f"up{n}.example" for n in range(150))
    assert hosts == sorted(f.host or "" for f in imeis(found_all))
    (limit,) = [d for d in diags if d.name == "memory_limit"]
    assert "max_held=1048576" in limit.detail and limit.detail.split()[0].isdigit()
    assert int(limit.detail.split()[0]) >= 100  # flows closed early
    assert not [d for d in diags_all if d.name == "memory_limit"]


def test_a_capture_under_max_held_is_read_alike(config: PipelineConfig) -> None:
    """The bound closes nothing when the flows hold less: the demo gives the same findings."""
    demo = Path(__file__).resolve().parents[2] / "captures" / "demo.pcap"
    small = list(Pipeline(config).run(CaptureSource(demo, max_held=256 << 10)))
    default = list(Pipeline(config).run(CaptureSource(demo)))
    assert small == default
    assert not [i for i in small if isinstance(i, Diagnostic) and i.name == "memory_limit"]


def _syn_flood(path: Path, syns: int) -> None:
    """``syns`` SYNs from distinct ports and addresses, then one real flow with the IMEI."""
    eth = capgen.ETH
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    ip_head = struct.Struct("!BBHHHBBH4s4s")
    tcp_head = struct.Struct("!HHIIBBHHH")
    record = struct.Struct("<IIII")
    server = b"\x5d\xb8\xd8\x22"
    sec = capgen.START
    for i in range(syns):
        client = bytes([10, 1 + (i >> 16) % 200, (i >> 8) & 0xFF, i & 0xFF])
        seg = tcp_head.pack(1024 + i % 60000, 443, i, 0, 0x50, 0x02, 65535, 0, 0)
        frame = eth + ip_head.pack(0x45, 0, 40, 0, 0x4000, 64, 6, 0, client, server) + seg
        out += record.pack(sec + i // 10000, i % 10000 * 100, len(frame), len(frame)) + frame
    frames = capgen.Frames(clock=float(sec + syns // 10000 + 1))
    capgen.http_flow(frames, 7)
    tail, _ = capgen.pcap(frames)
    out += tail[24:]
    path.write_bytes(bytes(out))


_MEASURE = """
import resource, sys
from leaktrace.sources.capture import CaptureSource
for _item in CaptureSource(sys.argv[1], max_flows=int(sys.argv[2])):
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _source_rss(path: Path, max_flows: int) -> int:
    """Peak RSS (kB) of a fresh process that reads ``path`` through the offline source."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(max_flows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(proc.stdout)


def test_syn_flood_keeps_the_flow_table_bounded(tmp_path: Path) -> None:
    half, full = tmp_path / "half.pcap", tmp_path / "flood.pcap"
    _syn_flood(half, 60_000)
    _syn_flood(full, 200_000)
    # Over three times the flows, far past the table bound: memory stays where the bound put it.
    rss_half, rss_full = _source_rss(half, 2000), _source_rss(full, 2000)
    assert rss_full < rss_half * 1.1, (rss_half, rss_full)
    # The command, with its default bounds, reads the whole flood and the leak after it.
    proc = run_cli("analyze", full, "--format", "json", "--quiet", "--no-sidecars")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [f["host"] for f in report["findings"]] == ["t7.example"]
    assert report["frames"] == 200_008


def test_syn_flood_with_a_small_table(tmp_path: Path, config: PipelineConfig) -> None:
    path = tmp_path / "flood.pcap"
    _syn_flood(path, 50_000)
    items = list(Pipeline(config).run(CaptureSource(path, max_flows=500)))
    assert [i.host for i in items if isinstance(i, Finding)] == ["t7.example"]
    (limit,) = [i for i in items if isinstance(i, Diagnostic) and i.name == "flow_limit"]
    assert limit.detail.startswith("49501 flows closed early")


# -- DNS ------------------------------------------------------------------------------


def _dns(question: bytes) -> bytes:
    return struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + question + b"\x00\x01\x00\x01"


@pytest.mark.parametrize(
    "name",
    [
        b"\xc0\x0c",  # points at itself
        b"\x01a\xc0\x0e",  # a label, then a pointer back into the same name
        b"\x01a\xc0\x12\x01b\xc0\x0c",  # two names pointing at each other
    ],
)
def test_dns_compression_loop_ends(name: bytes) -> None:
    assert parse_dns(_dns(name)) is None


def test_dns_loop_in_a_capture_is_reported_and_analysis_goes_on(
    tmp_path: Path, config: PipelineConfig
) -> None:
    frames = capgen.http_flows(2)
    client, resolver = b"\x0a\x00\x00\x09", b"\x0a\x00\x00\x35"
    frames.add(capgen.ipv4(client, resolver, 17, capgen.udp(5000, 53, _dns(b"\xc0\x0c"))))
    capgen.http_flow(frames, 3)
    data, _ = capgen.pcap(frames)
    (tmp_path / "dns.pcap").write_bytes(data)
    result = analyze_capture(tmp_path / "dns.pcap", config)
    assert {f.host for f in result.findings} == {"t1.example", "t2.example", "t3.example"}
    assert result.summary.diagnostics["dns_malformed"] == 1
