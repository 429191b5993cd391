"""Every committed real-stack capture, through the whole pipeline via the library API.

Each capture in tests/data carries the same IMEI marker in every request (see
manifest.yaml); whatever the link type, IP version, fragmentation or TCP
disorder, the pipeline must find it once per place it was put.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from leaktrace.analyze import AnalysisResult, analyze_capture
from leaktrace.pipeline import PipelineConfig

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST = yaml.safe_load((DATA / "manifest.yaml").read_text())
ENTRIES = {entry["file"]: entry for entry in MANIFEST["files"]}
IMEI = MANIFEST["imei"]


@cache
def config() -> PipelineConfig:
    return PipelineConfig.load(reveal=True)


def analyze(name: str) -> AnalysisResult:
    return analyze_capture(DATA / name, config())


def imei_findings(result: AnalysisResult) -> list[Any]:
    return [f for f in result.findings if f.type == "imei" and f.value == IMEI]


COMPLETE = [name for name in ENTRIES if name != "truncated.pcap"]


@pytest.mark.parametrize("name", COMPLETE)
def test_each_request_marker_is_found(name: str) -> None:
    entry = ENTRIES[name]
    result = analyze(name)
    assert result.complete, result.damage
    in_query = [f for f in imei_findings(result) if f.where == "query:imei"]
    assert len(in_query) == len(entry["requests"])
    for finding in in_query:
        assert finding.host == entry["requests"][0]["host"]
        assert finding.transport == "http"
        assert finding.flow.startswith("1:")
        assert finding.confidence >= 0.9


@pytest.mark.parametrize("name", ["ipv4_frag.pcap", "ipv6_ext_frag.pcap"])
def test_marker_split_across_ip_fragments_is_found_after_reassembly(name: str) -> None:
    datagram = ENTRIES[name]["datagrams"][0]
    found = [f for f in imei_findings(analyze(name)) if f.transport == "udp"]
    assert len(found) == 1
    assert found[0].where == "payload"
    assert found[0].dst.endswith(f":{datagram['dport']}")


def test_marker_at_the_end_of_a_disordered_body_is_found() -> None:
    found = imei_findings(analyze("reorder_retx.pcap"))
    assert {f.where for f in found} >= {"query:imei"}
    assert any(f.where.startswith("body") for f in found)


def test_capture_started_mid_flow_still_yields_the_request() -> None:
    result = analyze("midflow.pcap")
    assert len(imei_findings(result)) == 1


def test_truncated_capture_keeps_findings_before_the_cut() -> None:
    entry = ENTRIES["truncated.pcap"]
    result = analyze("truncated.pcap")
    assert not result.complete
    assert result.damage is not None and result.damage.offset is not None
    assert 0 < result.damage.offset <= entry["truncation"]["cut_offset"]
    assert len([f for f in imei_findings(result) if f.where == "query:imei"]) == 1


def test_pcapng_interfaces_and_vlan_tags() -> None:
    assert len(imei_findings(analyze("multi_if.pcapng"))) == 2
    assert len(imei_findings(analyze("eth_vlan.pcap"))) == 1
