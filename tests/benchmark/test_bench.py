"""The benchmark harness (``bench/``): measurement, the peer's scan, generation, one full run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bare_reader import read as bare_read  # noqa: E402
from bench.gencap import generate  # noqa: E402
from bench.keyed import build as build_keyed  # noqa: E402
from bench.machine import source_commit  # noqa: E402
from bench.measure import run_measured  # noqa: E402
from bench.regex_scan import load_patterns, scan  # noqa: E402
from bench.run import (  # noqa: E402
    BARE_TOOL,
    Row,
    check_planted,
    cpu_ratios,
    merge_runs,
    run_leaktrace,
    run_tshark,
    table,
    tenfold_bound,
)
from bench.stages import render as render_stages  # noqa: E402
from bench.stages import split as split_stages  # noqa: E402


def _alloc(mb: int) -> list[str]:
    return [sys.executable, "-c", f"b = bytearray({mb} << 20); b[::4096] = b'x' * len(b[::4096])"]


def _measure_from_a_small_process(commands: list[list[str]]) -> dict[str, float]:
    """Measured from a fresh interpreter: a child's peak counts its parent's (pytest's) peak."""
    code = (
        "import json, sys; from bench.measure import run_measured; "
        "m = run_measured(json.loads(sys.argv[1])); "
        "print(json.dumps({'rss': m.peak_rss_mb, 'ok': m.ok}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(commands)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout)
    return result


def test_peak_rss_is_per_process_and_adds_up_in_a_pipeline() -> None:
    one = _measure_from_a_small_process([_alloc(80)])
    assert one["ok"] and 80 <= one["rss"] < 130
    reader = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    two = _measure_from_a_small_process([_alloc(80), reader])
    assert two["ok"] and two["rss"] > one["rss"] + 5  # the reader's own memory on top
    failed = run_measured([[sys.executable, "-c", "raise SystemExit(3)"]])
    assert failed.returncodes == [3] and not failed.ok


def test_pipeline_passes_data_through(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    produce = [sys.executable, "-c", "print('a\\nb\\nc')"]
    count = [sys.executable, "-c", "import sys; print(len(sys.stdin.readlines()))"]
    measured = run_measured([produce, count], stdout=out)
    assert measured.ok and out.read_text().strip() == "3"


def test_commands_together_run_at_the_same_time(tmp_path: Path) -> None:
    """Each waits until every one has started, which only ends if they run at once;
    none reads what another wrote."""
    wait_for_all = (
        "import pathlib, sys, time; print('out'); sys.stdout.flush(); "
        "assert sys.stdin.read() == ''; d = pathlib.Path(sys.argv[1]); "
        "(d / sys.argv[2]).touch(); end = time.monotonic() + 20; "
        "n = lambda: len(list(d.iterdir())); "
        "[time.sleep(0.01) for _ in iter(lambda: n() >= 3 or time.monotonic() > end, True)]; "
        "sys.exit(0 if n() >= 3 else 4)"
    )
    commands = [[sys.executable, "-c", wait_for_all, str(tmp_path), str(i)] for i in range(3)]
    measured = run_measured(commands, together=True)
    assert measured.returncodes == [0, 0, 0]


def test_peer_scan_uses_the_identifier_regexes() -> None:
    patterns = load_patterns()
    kinds = {kind for kind, _ in patterns}
    assert {"imei", "phone", "location"} <= kinds
    counts = scan(
        ['h\t/x\t{"imei": "860000000000025", "lat": 39.9089}\n', "h\t/y\tmobile=13800000004\n"],
        patterns,
    )
    assert counts["imei"] == 1 and counts["location"] == 1 and counts["phone"] == 1


def test_generator_is_deterministic_and_floods_in_the_middle(tmp_path: Path) -> None:
    a, b, f = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "f.pcap"
    ma = generate(a, 0.3, seed=5)
    generate(b, 0.3, seed=5)
    assert a.read_bytes() == b.read_bytes()
    mf = generate(f, 0.3, seed=5, syn_flood=500)
    assert mf["planted"] == ma["planted"] and mf["syn_flood"] == 500
    assert mf["frames"] == ma["frames"] + 500
    assert f.stat().st_size == mf["bytes"]


def test_unfinished_uploads_plant_one_imei_each_and_are_all_found(tmp_path: Path) -> None:
    from leaktrace.pipeline import Pipeline, PipelineConfig
    from leaktrace.sources.capture import CaptureSource
    from leaktrace.types import Diagnostic, Finding

    plain, up = tmp_path / "a.pcap", tmp_path / "up.pcap"
    base = generate(plain, 0.3, seed=5)
    manifest = generate(up, 0.3, seed=5, uploads=40)
    assert manifest["planted"]["imei"] == base["planted"]["imei"] + 40
    assert manifest["uploads"] == 40 and up.stat().st_size == manifest["bytes"]
    # Over 5 MB of bodies held at once; a 1 MB bound closes uploads early, and every
    # planted identifier is still found.
    items = list(Pipeline(PipelineConfig.load()).run(CaptureSource(up, max_held=1 << 20)))
    found = Counter(i.type for i in items if isinstance(i, Finding))
    assert (
        check_planted(manifest["planted"], found, run_measured([[sys.executable, "-c", "pass"]]))
        == "PASS"
    )
    assert [i for i in items if isinstance(i, Diagnostic) and i.name == "memory_limit"]


def test_dns_lookups_plant_imeis_in_names_that_leaktrace_and_the_dns_peer_find(
    tmp_path: Path,
) -> None:
    from leaktrace.pipeline import Pipeline, PipelineConfig
    from leaktrace.sources.capture import CaptureSource
    from leaktrace.types import Finding

    lookups = tmp_path / "dns.pcap"
    manifest = generate(lookups, 0, seed=5, lookups=300)
    assert manifest["planted"] == {"imei": 30} and manifest["frames"] == 600
    assert manifest["lookups"] == 300 and lookups.stat().st_size == manifest["bytes"]
    mixed = generate(tmp_path / "mixed.pcap", 0.3, seed=5, lookups=300)
    base = generate(tmp_path / "base.pcap", 0.3, seed=5)
    assert mixed["planted"]["imei"] == base["planted"]["imei"] + 30
    items = list(Pipeline(PipelineConfig.load()).run(CaptureSource(lookups)))
    findings = [i for i in items if isinstance(i, Finding)]
    assert Counter(f.type for f in findings) == {"imei": 30}
    assert {f.transport for f in findings} == {"dns"}
    if shutil.which("tshark") is not None:
        row = run_tshark(lookups, manifest, dns=True)
        assert row.tool == "tshark -T fields dns | regex"
        assert row.found.get("imei") == 30 and row.note.startswith("300 queries")


def test_keyed_copies_carry_an_imei_and_an_imsi_per_flow_that_both_tools_open(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "keyed.pcap"
    manifest = build_keyed(capture, 3)
    assert manifest["flows"] == 18 and manifest["planted"] == {"imei": 18, "imsi": 18}
    assert capture.stat().st_size == manifest["bytes"]
    assert capture.with_suffix(".keys").is_file() and manifest["keylog"] == "keyed.keys"
    assert build_keyed(tmp_path / "again.pcap", 3)["bytes"] == manifest["bytes"]
    assert (tmp_path / "again.pcap").read_bytes() == capture.read_bytes()
    row, _digest = run_leaktrace(capture, manifest, 1, tmp_path / "found.jsonl")
    assert row.check == "PASS", row.check
    lines = (tmp_path / "found.jsonl").read_text().splitlines()
    flows = {json.loads(line)["flow"] for line in lines}
    assert len(flows) == 18  # every copy is a flow of its own, opened with the key log
    if shutil.which("tshark") is not None:
        checked = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
        bad = subprocess.run(
            ["tshark", "-r", str(capture), *checked, "-Y", "tcp.checksum.status != 1"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert bad.stdout == ""  # the new addresses come with checksums made again
        peer = run_tshark(capture, manifest)
        assert peer.tool == "tshark keylog -T fields | regex"
        assert peer.found.get("imei", 0) >= 18 and peer.found.get("imsi", 0) >= 18


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (make tools)")
def test_one_command_keyed_run() -> None:
    command = [sys.executable, "-m", "bench", "--keyed", "--keyed-copies", "30", "--jobs", "1"]
    command += ["--no-save", "--repeat", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    (head,) = [line for line in lines if line.startswith("keyed-tls-x30.pcap: ")]
    assert "180 flows, planted {'imei': 180, 'imsi': 180}" in head
    assert "key log keyed-tls-x30.keys" in head
    (mine,) = [line for line in lines if line.startswith("leaktrace analyze --jobs 1")]
    (peer,) = [line for line in lines if line.startswith("tshark keylog -T fields | regex")]
    assert mine.endswith("PASS") and peer.rstrip().endswith("x")  # a ratio against tshark
    assert not [line for line in lines if line.startswith("scapy")]  # it cannot decrypt


@pytest.mark.parametrize("block", [4 << 20, 1000])
def test_bare_reader_slices_the_payload_leaktrace_decodes_from_every_frame(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor must do the reading part of the work in full: every frame, every
    payload byte leaktrace's frame decoder finds, across block boundaries too."""
    from leaktrace.sources.fragments import FragmentReassembler
    from leaktrace.sources.packets import decode_frame
    from leaktrace.sources.pcap import CaptureReader

    capture = tmp_path / "g.pcap"
    manifest = generate(capture, 0.5, seed=3)
    frags = FragmentReassembler()
    payload = 0
    for frame in CaptureReader(capture).iter_frames():
        pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
        payload += len(pkt.payload) if pkt is not None else 0
    monkeypatch.setattr("bench.bare_reader.BLOCK", block)
    report = bare_read(capture)
    assert report == {"frames": manifest["frames"], "bytes": manifest["bytes"], "payload": payload}
    assert payload > manifest["bytes"] // 2


def test_stage_split_accounts_for_every_message_and_finding_of_a_run(tmp_path: Path) -> None:
    """The stages are one run of the pipeline cut into parts: the same messages and
    findings as ``analyze_capture``, every stage timed, and the patched decoder put back."""
    from leaktrace import pipeline as pipeline_module
    from leaktrace.analyze import analyze_capture
    from leaktrace.pipeline import PipelineConfig

    capture = tmp_path / "g.pcap"
    manifest = generate(capture, 0.3, seed=4)
    before = pipeline_module.extract_fields
    result = split_stages(capture)
    assert pipeline_module.extract_fields is before
    whole = analyze_capture(capture, PipelineConfig.load())
    assert result.findings == len(whole.findings) >= sum(manifest["planted"].values())
    assert result.messages == whole.summary.messages
    assert result.frames == manifest["frames"] and result.capture_bytes == manifest["bytes"]
    assert [s.name for s in result.stages] == [
        "source",
        "decode",
        "detect",
        "attribute",
        "findings",
    ]
    assert all(stage.seconds > 0 for stage in result.stages[:4])
    assert result.stages[2].items == result.fields > result.messages
    text = render_stages(result)
    assert f"{result.messages} messages" in text and "MB/s" in text


def test_tenfold_bound_is_ten_times_tshark_over_the_bare_reader() -> None:
    lt = Row("leaktrace analyze --jobs 1", 100.0, 1000, 2.0, 2.0, 90.0, check="PASS")
    tshark = Row("tshark -T fields | regex", 100.0, 1000, 5.0, 6.0, 500.0)  # 20 MB/s
    bare = Row(BARE_TOOL, 100.0, 1000, 0.4, 0.4, 25.0)  # 250 MB/s
    assert tenfold_bound([lt, tshark, bare]) == {"mb_per_s": 200.0, "of_bare_reader": 0.8}
    assert tenfold_bound([lt, tshark]) is None and tenfold_bound([lt, bare]) is None


def test_check_requires_every_planted_identifier() -> None:
    measured = run_measured([[sys.executable, "-c", "pass"]])
    planted = {"imei": 3, "phone": 1}
    assert check_planted(planted, Counter(imei=3, phone=1), measured) == "PASS"
    assert check_planted(planted, Counter(imei=2, phone=1), measured) == "FAIL: imei 2/3"


def test_table_marks_extrapolated_rows_and_ratios() -> None:
    lt = Row("leaktrace", 100.0, 1000, 2.0, 2.0, 90.0, check="PASS")
    peer = Row("peer", 100.0, 1000, 20.0, 20.0, 50.0, extrapolated=True)
    text = table([lt, peer], lt)
    assert "5.0*" in text and "10.0x" in text and "PASS" in text


def test_cpu_ratios_count_a_pipelines_processes_and_skip_extrapolated_peers() -> None:
    lt = Row("leaktrace analyze --jobs 1", 100.0, 1000, 2.0, 2.0, 90.0, check="PASS")
    pipeline = Row("tshark -T fields | regex", 100.0, 1000, 6.0, 9.0, 500.0)
    sliced = Row("scapy", 100.0, 1000, 200.0, 200.0, 60.0, extrapolated=True)
    bare = Row(BARE_TOOL, 100.0, 1000, 0.4, 0.4, 25.0)
    assert cpu_ratios([pipeline, sliced, bare], lt) == {"tshark -T fields | regex": 4.5}
    assert "    9.0 " in table([lt, pipeline], lt)  # its CPU seconds, both processes


def test_rounds_merge_to_the_median_run_and_keep_every_failure() -> None:
    runs = [
        Row("leaktrace", 100.0, 1000, wall, wall, rss, check="PASS")
        for wall, rss in ((2.0, 60.0), (9.0, 58.0), (2.5, 70.0))
    ]
    merged = merge_runs(runs)
    assert merged.wall_s == 2.5 and merged.peak_rss_mb == 70.0
    assert merged.walls == [2.0, 9.0, 2.5] and merged.check == "PASS"
    runs[1].check = "FAIL: imei 2/3"
    assert merge_runs(runs).check == "FAIL: imei 2/3"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (make tools)")
def test_one_command_run(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "--size-mb", "3", "--jobs", "1,2"]
    command += ["--scapy-mb", "0.3", "--no-save", "--repeat", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith(("leaktrace analyze", "tshark -T", "scapy"))]
    assert len(rows) == 4
    assert rows[0].endswith("PASS") and rows[1].endswith("PASS")
    assert "x" in rows[2] and "*" in rows[3]  # a ratio against tshark; scapy extrapolated
    assert any(line.startswith("wall s of each round") for line in lines)
    side = [line for line in lines if line.startswith("leaktrace --jobs 1 x2 at once")]
    assert len(side) == 1 and side[0].endswith("PASS")
    assert any("this machine's ceiling for --jobs 2" in line for line in lines)
    assert any(
        line.startswith("per CPU second, leaktrace analyze --jobs 1 / tshark") for line in lines
    )
    (bare,) = [line for line in lines if line.startswith(BARE_TOOL)]
    assert bare.rstrip().endswith("x")  # leaktrace's share of its speed, no failed check
    assert any(line.startswith("10x the tshark peer would be ") for line in lines)
    manifest = json.loads((ROOT / "bench" / "work" / "gencap-3mb-s7.manifest.json").read_text())
    assert manifest["planted"]["imei"] > 0
    (machine,) = [line for line in lines if line.startswith("machine: ")]
    assert f" at {source_commit()}, " in machine


def test_source_commit_names_the_checkout_and_marks_changes(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    assert source_commit(tmp_path) is None  # not a checkout
    run = [git, "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*run, "add", "f"], check=True)
    subprocess.run([*run, "commit", "-qm", "one"], check=True)
    head = subprocess.run(
        [*run, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert source_commit(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert source_commit(tmp_path) == f"{head}+changes"


def test_http1_bench_reads_back_every_request_it_parses() -> None:
    from bench.bench_http1 import REQUEST, parse

    assert parse(3) == 3
    assert REQUEST.count(b"\r\n\r\n") == 1  # one whole request, body included
    done = subprocess.run(
        [sys.executable, "bench/bench_http1.py", "--requests", "50", "--rounds", "2"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "µs a request (best of 2 rounds)" in done.stdout


def test_quic_bench_opens_every_packet_it_protects() -> None:
    from bench.bench_quic import DATA, open_all, packet

    # across the wrap of the two packet-number bytes the packets carry
    assert open_all([packet(n) for n in range(65530, 65540)]) == 10 * len(DATA)
    done = subprocess.run(
        [sys.executable, "bench/bench_quic.py", "--packets", "30", "--rounds", "2"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "µs a packet (best of 2 rounds)" in done.stdout
