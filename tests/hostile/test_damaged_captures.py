"""Damaged captures: every finding outside the damage is kept, skips are located, codes differ."""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.analyze import AnalysisResult, analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.sources.pcap import CaptureReader

from . import capgen
from .conftest import run_cli

FLOWS = 6


def imeis(result: AnalysisResult) -> set[str]:
    """The flows whose IMEI was found, by flow number (hosts are t<n>.example)."""
    return {f.host or "" for f in result.findings if f.type == "imei"}


def hosts(numbers: range | list[int]) -> set[str]:
    return {f"t{n}.example" for n in numbers}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_intact_capture_finds_every_flow(tmp_path: Path, config: PipelineConfig) -> None:
    data, _ = capgen.pcap(capgen.http_flows(FLOWS))
    result = analyze_capture(write(tmp_path / "ok.pcap", data), config)
    assert imeis(result) == hosts(range(1, FLOWS + 1))
    assert result.damage is None and result.skipped == []


def test_truncated_keeps_findings_before_the_cut(tmp_path: Path, config: PipelineConfig) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = capgen.pcap(frames)
    cut_record = frames.flows[3][3]  # the request of flow 4
    path = write(tmp_path / "cut.pcap", data[: offsets[cut_record] + 30])
    result = analyze_capture(path, config)
    assert imeis(result) == hosts([1, 2, 3])
    assert result.damage is not None
    assert result.damage.name == "capture_truncated"
    assert result.damage.offset == offsets[cut_record]
    proc = run_cli("analyze", path, "--format", "json", "--quiet", "--no-sidecars")
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stdout)["damage"]["offset"] == offsets[cut_record]


def test_bad_magic_is_unreadable(tmp_path: Path) -> None:
    data, _ = capgen.pcap(capgen.http_flows(1))
    path = write(tmp_path / "magic.pcap", b"\x00\x11\x22\x33" + data[4:])
    proc = run_cli("analyze", path, "--quiet")
    assert proc.returncode == 3
    assert "starts with 0x00112233" in proc.stderr


def test_wrong_snaplen_in_header_keeps_every_finding(
    tmp_path: Path, config: PipelineConfig
) -> None:
    frames = capgen.http_flows(FLOWS)
    for snaplen in (0, 40, 0xFFFFFFFF):
        data, _ = capgen.pcap(frames, snaplen=snaplen)
        result = analyze_capture(write(tmp_path / f"snap{snaplen}.pcap", data), config)
        assert imeis(result) == hosts(range(1, FLOWS + 1)), snaplen
        assert result.damage is None and result.skipped == []


def test_garbage_in_the_middle_of_pcap(tmp_path: Path, config: PipelineConfig) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = capgen.pcap(frames)
    at = offsets[frames.flows[3][0]]  # between flow 3 and flow 4
    garbage = random.Random(1).randbytes(5000)
    path = write(tmp_path / "garbage.pcap", data[:at] + garbage + data[at:])
    result = analyze_capture(path, config)
    assert imeis(result) == hosts(range(1, FLOWS + 1))
    assert result.damage is None
    (skip,) = result.skipped
    assert skip.name == "capture_skipped"
    assert skip.offset == at
    assert f"skipped bytes {at}-{at + 5000} (5000 bytes)" in skip.detail
    proc = run_cli("analyze", path, "--format", "json", "--quiet", "--no-sidecars")
    assert proc.returncode == 5, proc.stderr
    report = json.loads(proc.stdout)
    assert report["skipped"][0]["offset"] == at
    assert len(report["findings"]) == len(result.findings)
    table = run_cli("analyze", path, "--no-sidecars")
    assert table.returncode == 5
    assert f"first at byte {at}" in table.stdout


def test_corrupted_record_header_costs_only_that_record(
    tmp_path: Path, config: PipelineConfig
) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = capgen.pcap(frames)
    buf = bytearray(data)
    victim = frames.flows[1][3]  # the request of flow 2
    struct.pack_into("<I", buf, offsets[victim] + 8, 0x7FFFFFF0)
    result = analyze_capture(write(tmp_path / "hdr.pcap", bytes(buf)), config)
    assert imeis(result) == hosts([1, 3, 4, 5, 6])
    (skip,) = result.skipped
    assert skip.offset == offsets[victim]
    assert f"{offsets[victim]}-{offsets[victim + 1]}" in skip.detail


def test_garbage_before_the_first_record(tmp_path: Path, config: PipelineConfig) -> None:
    data, _ = capgen.pcap(capgen.http_flows(3))
    garbage = random.Random(2).randbytes(3000)
    path = write(tmp_path / "head.pcap", data[:24] + garbage + data[24:])
    result = analyze_capture(path, config)
    assert imeis(result) == hosts([1, 2, 3])
    assert [s.offset for s in result.skipped] == [24]


def test_garbage_in_the_middle_of_pcapng(tmp_path: Path, config: PipelineConfig) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = capgen.pcapng(frames)
    at = offsets[frames.flows[2][0]]
    garbage = random.Random(3).randbytes(7001)  # not a multiple of 4: alignment is lost too
    path = write(tmp_path / "garbage.pcapng", data[:at] + garbage + data[at:])
    result = analyze_capture(path, config)
    assert imeis(result) == hosts(range(1, FLOWS + 1))
    assert result.damage is None
    (skip,) = result.skipped
    assert (skip.offset, f"{at}-{at + 7001}" in skip.detail) == (at, True)
    proc = run_cli("analyze", path, "--format", "jsonl", "--quiet", "--no-sidecars")
    assert proc.returncode == 5


def test_pcapng_block_with_lying_length(tmp_path: Path, config: PipelineConfig) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = capgen.pcapng(frames)
    buf = bytearray(data)
    victim = frames.flows[4][3]
    struct.pack_into("<I", buf, offsets[victim] + 4, 0x00FFFF00)  # length runs past the file
    result = analyze_capture(write(tmp_path / "len.pcapng", bytes(buf)), config)
    assert imeis(result) == hosts([1, 2, 3, 4, 6])
    assert [s.offset for s in result.skipped] == [offsets[victim]]


def test_pcapng_unknown_blocks_are_passed_over(tmp_path: Path, config: PipelineConfig) -> None:
    frames = capgen.http_flows(FLOWS)
    extra = {
        0: [capgen.custom_block(0x0BAD, b"\x00\x00\x00\x01vendor data")],
        9: [capgen.custom_block(0x12345678, b"future block type" * 3)],
        20: [capgen.custom_block(0x40000BAD, b"x"), capgen.custom_block(5, bytes(12))],
    }
    data, _ = capgen.pcapng(frames, extra)
    path = write(tmp_path / "unknown.pcapng", data)
    result = analyze_capture(path, config)
    assert imeis(result) == hosts(range(1, FLOWS + 1))
    assert result.damage is None and result.skipped == []
    reader = CaptureReader(path)
    assert len(list(reader)) == len(frames.items)
    assert reader.skipped_blocks == {0x0BAD: 1, 0x12345678: 1, 0x40000BAD: 1, 5: 1}
    assert run_cli("analyze", path, "--quiet", "--no-sidecars").returncode == 0


@settings(max_examples=25, deadline=None)
@given(
    boundary=st.integers(min_value=1, max_value=FLOWS * 8 - 1),
    size=st.integers(min_value=1, max_value=20_000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    ng=st.booleans(),
)
def test_garbage_at_any_record_boundary_loses_no_finding(
    boundary: int, size: int, seed: int, ng: bool
) -> None:
    frames = capgen.http_flows(FLOWS)
    data, offsets = (capgen.pcapng if ng else capgen.pcap)(frames)
    at = offsets[boundary]
    garbage = random.Random(seed).randbytes(size)
    path = Path(f"/proc/self/fd/{_memfd(data[:at] + garbage + data[at:])}")
    reader = CaptureReader(path)
    assert len(list(reader)) == len(frames.items)
    assert reader.damage is None
    assert reader.skipped_bytes == size
    assert [a.offset for a in reader.anomalies] == [at]


_FD: list[int] = []


def _memfd(data: bytes) -> int:
    if not _FD:
        _FD.append(os.memfd_create("hostile"))
    fd = _FD[0]
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return fd
