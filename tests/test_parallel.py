"""--jobs for one capture: flows split over worker processes give the findings of one pass."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import socket
import struct
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import leaktrace.parallel as parallel
from leaktrace.analyze import AnalysisResult, analyze_capture
from leaktrace.cli import app
from leaktrace.declaration import load_declaration
from leaktrace.flowid import community_id
from leaktrace.parallel import (
    MIN_PARALLEL_BYTES,
    analyze_parallel,
    default_jobs,
    merge_coverage,
    run_partition,
)
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device
from leaktrace.sinks.jsonl import finding_line
from leaktrace.sources.capture import CaptureSource, flow_partition
from leaktrace.types import Coverage, Finding

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "captures" / "demo.pcap"
DATA = ROOT / "tests" / "data"


def _gencap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gencap", ROOT / "bench" / "gencap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return PipelineConfig.load(
        device=load_device(ROOT / "captures" / "device.yaml"),
        app=load_declaration(ROOT / "captures" / "app.yaml"),
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A capture just over the parallel threshold, with DNS-named TLS flows and planted values."""
    path = tmp_path_factory.mktemp("gen") / "gen.pcap"
    manifest = _gencap().generate(path, MIN_PARALLEL_BYTES / 1e6 + 0.5, seed=11)
    return path, manifest


def _key(f: Finding) -> tuple[object, ...]:
    return (f.ts, f.flow, f.trans_depth, f.type, f.where, f.value, f.form, f.method)


def assert_same(one: AnalysisResult, many: AnalysisResult) -> None:
    assert sorted(many.findings, key=_key) == sorted(one.findings, key=_key)
    assert many.coverage == one.coverage
    assert many.frames == one.frames
    assert many.damage == one.damage
    assert many.skipped == one.skipped
    assert many.summary.messages == one.summary.messages
    assert many.summary.types == one.summary.types
    assert +many.summary.diagnostics == +one.summary.diagnostics
    mine = {k: v.as_dict() for k, v in many.summary.destinations.items()}
    assert mine == {k: v.as_dict() for k, v in one.summary.destinations.items()}


@given(
    st.ip_addresses(v=4).map(str),
    st.integers(0, 65535),
    st.ip_addresses().map(str),
    st.integers(0, 65535),
    st.sampled_from([6, 17]),
    st.integers(1, 64),
)
def test_partition_is_the_same_both_ways_and_in_range(
    a: str, pa: int, b: str, pb: int, proto: int, count: int
) -> None:
    part = flow_partition(a, pa, b, pb, proto, count)
    assert 0 <= part < count
    assert flow_partition(b, pb, a, pa, proto, count) == part


def test_partitions_spread_flows() -> None:
    counts = [0, 0]
    for port in range(1000, 3000):
        counts[flow_partition("10.0.0.1", port, "10.0.0.2", 443, 6, 2)] += 1
    assert min(counts) > 800  # neither worker idles


@pytest.mark.parametrize("jobs", [2, 3])
def test_demo_capture_gives_the_same_result(config: PipelineConfig, jobs: int) -> None:
    one = analyze_capture(DEMO, config)
    many = analyze_parallel(DEMO, config, jobs)
    assert one.findings, "the demo capture has findings to compare"
    assert_same(one, many)
    assert [_key(f) for f in many.findings] == sorted(_key(f) for f in many.findings)


def test_synthetic_capture_finds_every_planted_identifier(
    config: PipelineConfig, synthetic: tuple[Path, dict[str, object]]
) -> None:
    path, manifest = synthetic
    one = analyze_capture(path, config, jobs=1)
    many = analyze_capture(path, config, jobs=2)  # above the threshold: really parallel
    assert_same(one, many)
    found: dict[str, int] = {}
    for f in many.findings:
        found[f.type] = found.get(f.type, 0) + 1
    assert found == manifest["planted"]
    # TLS flows are named only by the DNS answers, which every worker must have seen.
    dns_named = {f.host for f in many.findings if f.transport == "tls"}
    assert all(dns_named)


def test_each_flow_is_analyzed_by_exactly_one_partition(
    config: PipelineConfig, synthetic: tuple[Path, dict[str, object]]
) -> None:
    path, _ = synthetic
    whole = analyze_capture(path, config)
    parts = [run_partition(str(path), config, i, 3) for i in range(3)]
    flows = [{f.flow for f in p.findings} for p in parts]
    assert all(flows)
    assert not (flows[0] & flows[1]) and not (flows[1] & flows[2]) and not (flows[0] & flows[2])
    assert sorted((f for p in parts for f in p.findings), key=_key) == sorted(
        whole.findings, key=_key
    )
    assert merge_coverage([p.coverage for p in parts]) == whole.coverage


@pytest.mark.parametrize(("jobs", "batch"), [(1, 0), (2, 1), (2, 7), (2, parallel.SPILL_BATCH)])
def test_findings_not_kept_still_reach_the_sink(
    config: PipelineConfig,
    synthetic: tuple[Path, dict[str, object]],
    jobs: int,
    batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """keep_findings=False: every finding streams to on_finding (from the workers' spill
    files, written in batches, when parallel), none is held in the result, the summary
    still counts them."""
    path, _ = synthetic
    if batch:
        monkeypatch.setattr(parallel, "SPILL_BATCH", batch)  # forked workers inherit it
    kept = analyze_capture(path, config, jobs=1)
    assert len(kept.findings) > 2 * batch or batch == parallel.SPILL_BATCH
    streamed: list[Finding] = []
    result = analyze_capture(
        path, config, jobs=jobs, on_finding=streamed.append, keep_findings=False
    )
    assert result.findings == []
    assert sorted(streamed, key=_key) == sorted(kept.findings, key=_key)
    assert result.summary.findings == len(kept.findings)
    assert result.coverage == kept.coverage


class _Lines:
    """A LineSink that says which process rendered each line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @staticmethod
    def render(finding: Finding) -> str:
        return f"{os.getpid()} {finding_line(finding)}"

    def write_line(self, line: str) -> None:
        self.lines.append(line)


@pytest.mark.parametrize(("jobs", "keep"), [(1, False), (2, False), (2, True)])
def test_a_line_sink_gets_the_lines_of_one_pass_rendered_by_the_workers(
    config: PipelineConfig,
    synthetic: tuple[Path, dict[str, object]],
    jobs: int,
    keep: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """lines= writes what on_finding would, in the same order; a parallel run that does
    not keep findings formats them in the process that made them."""
    path, _ = synthetic
    monkeypatch.setattr(parallel, "SPILL_BATCH", 7)  # several batches per worker
    expected = [finding_line(f) for f in analyze_capture(path, config, jobs=1).findings]
    sink = _Lines()
    result = analyze_capture(path, config, jobs=jobs, lines=sink, keep_findings=keep)
    pids = {line.split(" ", 1)[0] for line in sink.lines}
    assert [line.split(" ", 1)[1] for line in sink.lines] == expected
    assert (len(pids) == 2) == (jobs == 2 and not keep)  # the worker's and this process's
    assert str(os.getpid()) in pids
    assert len(result.findings) == (len(expected) if keep else 0)
    with pytest.raises(ValueError, match="not both"):
        analyze_capture(path, config, lines=sink, on_finding=print)


def test_frames_are_owned_by_the_partition_their_decoded_flow_hashes_to() -> None:
    """The byte-level shortcut that drops other workers' frames agrees with the
    partition of the decoded 5-tuple, for every IPv4 frame of the demo capture."""
    from leaktrace.sources.capture import _FOREIGN, _MINE, _Owners
    from leaktrace.sources.fragments import FragmentReassembler
    from leaktrace.sources.packets import decode_frame
    from leaktrace.sources.pcap import CaptureReader

    owners = _Owners(1, 3)
    checked = 0
    for frame in CaptureReader(DEMO):
        verdict = owners.of_frame(frame.linktype, frame.data)
        pkt = decode_frame(frame.linktype, frame.data, frame.ts, FragmentReassembler())
        if pkt is None or verdict not in (_MINE, _FOREIGN):
            continue
        checked += 1
        dns = 53 in (pkt.sport, pkt.dport)
        part = flow_partition(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto, 3)
        assert (verdict == _MINE) == (dns or part == 1)
        # The reply's frames are judged from the memo, without decoding.
        reply = bytes([pkt.proto]) + socket.inet_aton(pkt.dst) + socket.inet_aton(pkt.src)
        reply += struct.pack("!HH", pkt.dport, pkt.sport)
        assert owners.by_bytes[reply] == (verdict == _MINE)
    assert checked > 50


@pytest.mark.parametrize("name", ["truncated.pcap", "reorder_retx.pcap", "ipv4_frag.pcap"])
def test_edge_captures_match(config: PipelineConfig, name: str) -> None:
    one = analyze_capture(DATA / name, config)
    many = analyze_parallel(DATA / name, config, 2)
    assert_same(one, many)
    if name == "truncated.pcap":
        assert many.damage is not None
        damage = [d for d in many.diagnostics if d == many.damage]
        assert len(damage) == 1  # reported once, not once per worker


def test_unreadable_capture_fails_before_any_worker(tmp_path: Path, config: PipelineConfig) -> None:
    from leaktrace.sources.pcap import CaptureError

    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(CaptureError):
        analyze_parallel(bad, config, 2)


def test_bad_partition_is_refused() -> None:
    with pytest.raises(ValueError):
        CaptureSource(DEMO, partition=(2, 2))


def test_progress_reaches_the_end(config: PipelineConfig) -> None:
    seen: list[tuple[int, int]] = []
    analyze_parallel(DEMO, config, 2, progress=lambda done, total: seen.append((done, total)))
    size = DEMO.stat().st_size
    assert seen[-1] == (size, size)


def test_merge_coverage_adds_reasons() -> None:
    a = Coverage(flows=2, flows_opaque=1, opaque_reasons={"tls_without_keys": 1})
    b = Coverage(flows=3, flows_opaque=2, opaque_reasons={"tls_without_keys": 1, "x": 1})
    merged = merge_coverage([a, b])
    assert merged.flows == 5 and merged.opaque_reasons == {"tls_without_keys": 2, "x": 1}


def test_default_jobs_is_the_usable_cores() -> None:
    assert 1 <= default_jobs() <= (os.cpu_count() or 1)


def test_cli_jobs_gives_the_same_jsonl(
    tmp_path: Path, synthetic: tuple[Path, dict[str, object]]
) -> None:
    path, _ = synthetic
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}.jsonl"
        result = runner.invoke(
            app, ["analyze", str(path), "--out", str(out), "--quiet", "--jobs", jobs]
        )
        assert result.exit_code == 0, result.output
        outputs.append(sorted(out.read_text().splitlines()))
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 100
    assert all(json.loads(line)["value"].count("*") for line in outputs[0][:20])  # masked


@pytest.mark.parametrize("broken", [0, 1])
def test_a_failing_worker_fails_the_run(
    config: PipelineConfig, monkeypatch: pytest.MonkeyPatch, broken: int
) -> None:
    """Its error reaches the caller, also when findings go through spill files;
    partition 0 runs in the calling process, the others in forked workers."""
    real = parallel.collect
    caller = os.getpid()

    def broken_in_one(pipeline: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
        index = source._partition[0]
        assert (os.getpid() == caller) == (index == 0)
        if index == broken:
            raise RuntimeError(f"partition {index} broke")
        return real(pipeline, source, *args, **kwargs)

    monkeypatch.setattr(parallel, "collect", broken_in_one)  # forked workers see it
    streamed: list[Finding] = []
    with pytest.raises(RuntimeError, match=f"partition {broken} broke"):
        analyze_parallel(DEMO, config, 2, on_finding=streamed.append, keep_findings=False)


def test_a_failing_partition_waits_for_the_workers_still_writing(
    config: PipelineConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Partition 0 fails at once while a worker is still analysing its share: the run
    waits for it before removing the spill directory, so no worker outlives the call,
    none writes into a directory being removed, and the error raised is partition 0's
    (a worker's file landing during the removal once turned it into "Directory not
    empty")."""
    real = parallel.collect
    done = tmp_path / "worker-done"

    def broken_or_slow(pipeline: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
        if source._partition[0] == 0:
            raise RuntimeError("partition 0 broke")
        time.sleep(0.5)
        result = real(pipeline, source, *args, **kwargs)
        done.touch()
        return result

    monkeypatch.setattr(parallel, "collect", broken_or_slow)
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(RuntimeError, match="partition 0 broke"):
        analyze_parallel(DEMO, config, 2, on_finding=lambda f: None, keep_findings=False)
    assert done.exists()  # the worker finished its share before the call returned
    assert {p.pid for p in multiprocessing.active_children()} <= before


_KEYED = ("tls12_aes128gcm", "tls12_chacha20", "tls13_aes128gcm", "tls13_aes256gcm")
_KEYED += ("tls13_chacha20", "http2_tls", "quic_h3", "quic_chromium")


def _keyed_capture(folder: Path) -> tuple[Path, Path]:
    """The committed TLS and QUIC captures as one pcap (one flow each, in time order)
    and their key logs as one file."""
    records = bytearray()
    header = b""
    for name in _KEYED:
        data = (DATA / "tls" / f"{name}.pcap").read_bytes()
        header = header or data[:24]
        records += data[24:]
    capture, keys = folder / "keyed.pcap", folder / "keyed.keys"
    capture.write_bytes(header + bytes(records))
    keys.write_bytes(b"".join((DATA / "tls" / f"{n}.keys").read_bytes() for n in _KEYED))
    return capture, keys


def test_a_key_log_reaches_every_worker(
    tmp_path: Path, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--keylog no longer keeps a large capture on one core: each worker decrypts its
    own flows with its copy of the secrets, and the result is the single pass's."""
    from leaktrace.tls.keylog import load_keylog

    capture, keys = _keyed_capture(tmp_path)
    one = analyze_capture(capture, config, keylog=load_keylog([keys]))
    assert not analyze_capture(capture, config).findings  # all of them are inside TLS
    decrypted = {(f.src, f.dst, f.flow) for f in one.findings}
    assert len(decrypted) == 9  # six TLS flows and three QUIC flows (HTTP/3)
    for jobs in (2, 5):
        owners = set()
        for src, dst, flow in decrypted:
            (sip, sport), (dip, dport) = src.rsplit(":", 1), dst.rsplit(":", 1)
            proto = next(
                p for p in (6, 17) if community_id(sip, int(sport), dip, int(dport), p) == flow
            )
            owners.add(flow_partition(sip, int(sport), dip, int(dport), proto, jobs))
        assert len(owners) == jobs  # every worker has flows of its own to decrypt
        assert_same(one, analyze_parallel(capture, config, jobs, keylog=load_keylog([keys])))
    # analyze_capture hands the key log over when it splits the work.
    monkeypatch.setattr("leaktrace.analyze.MIN_PARALLEL_BYTES", 0)
    assert_same(one, analyze_capture(capture, config, jobs=2, keylog=load_keylog([keys])))
