from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from leaktrace.declaration import parse_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy import recorder as recorder_module
from leaktrace.proxy.declared import is_declared, undeclared
from leaktrace.proxy.recorder import Recorder
from leaktrace.testing import finding, http_message
from leaktrace.timeline import parse_timeline
from leaktrace.types import Finding, TimelineEvent

from .lab import VALUES

APP = parse_declaration(
    {
        "app": {"id": "com.example.shop"},
        "first_party": ["example.com"],
        "collects": [{"type": "phone"}],
        "shares": [
            {"party": "umeng", "types": ["android_id"]},
            {"party": "map.baidu.com", "types": ["location"]},
        ],
    }
)


def test_declared_by_sdk_id_by_domain_and_first_party_collects() -> None:
    assert is_declared(APP, finding(sdk="umeng", type="android_id"))
    assert not is_declared(APP, finding(sdk="umeng", type="imei"))
    assert is_declared(APP, finding(sdk=None, host="loc.map.baidu.com", type="location"))
    assert not is_declared(APP, finding(sdk=None, host="notmap.baidu.com", type="location"))
    assert is_declared(APP, finding(party="first", sdk=None, host="api.example.com", type="phone"))
    assert not is_declared(APP, finding(party="first", sdk=None, type="imei"))
    assert not is_declared(APP, finding(party="unknown", sdk=None, host="x.test", type="phone"))
    assert undeclared(APP, [finding(type="imei"), finding(type="android_id")]) == [
        finding(type="imei")
    ]


def test_timeline_gets_every_record_while_memory_is_bounded(
    device_config: PipelineConfig,
) -> None:
    stream = io.StringIO()
    seen: list[Finding] = []
    recorder = Recorder(device_config, timeline=stream, on_finding=seen.append, max_kept=2)
    recorder.mark("consent", {"button": "ok"})
    for n in range(3):
        recorder.process(http_message("ulogs.umeng.com", f"/t{n}?imei={VALUES['imei']}"))
    assert len(recorder.findings()) == 2 and recorder.findings_total == 3 and len(seen) == 3
    assert recorder.findings(1) == recorder.findings()[1:]
    records = list(parse_timeline(stream.getvalue().splitlines()))
    assert isinstance(records[0], TimelineEvent) and records[0].name == "consent"
    assert [r for r in records if isinstance(r, Finding)] == seen
    assert recorder.summary_record()["diagnostics"] == {"proxy_findings_not_kept": 1}


def test_result_renders_like_an_analysis(device_config: PipelineConfig) -> None:
    recorder = Recorder(device_config)
    recorder.process(http_message("ulogs.umeng.com", f"/t?imei={VALUES['imei']}"))
    recorder.process(
        http_message("pinned.umeng.com", transport="https"), opaque_reason="tls_refused"
    )
    result = recorder.result("live")
    assert result.capture == "live" and len(result.findings) == 1
    cov = result.coverage
    assert (cov.flows, cov.flows_decoded, cov.opaque_reasons) == (2, 1, {"tls_refused": 1})


def test_concurrent_marks_and_messages_are_all_kept(device_config: PipelineConfig) -> None:
    recorder = Recorder(device_config)

    def marks() -> None:
        for n in range(200):
            recorder.mark(f"step:{n}")

    thread = threading.Thread(target=marks)
    thread.start()
    for n in range(20):
        recorder.process(http_message("ulogs.umeng.com", f"/t{n}?imei={VALUES['imei']}"))
    thread.join()
    assert len(recorder.events()) == 200 and len(recorder.findings()) == 20


def test_findings_past_the_memory_window_are_read_back_from_the_timeline_file(
    device_config: PipelineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a timeline file, memory holds a fixed number of findings however many are
    made; every one is still returned, the later ones from the file."""
    monkeypatch.setattr(recorder_module, "FILE_BACKED_KEPT", 3)
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"record": "event", "ts": 1.0, "event": "earlier session"}\n')
    seen: list[Finding] = []
    with path.open("a", encoding="utf-8") as stream:
        recorder = Recorder(device_config, timeline=stream, on_finding=seen.append)
        for n in range(10):
            recorder.mark("tick", {"n": n})  # events interleaved with findings in the file
            recorder.process(http_message("ulogs.umeng.com", f"/t{n}?imei={VALUES['imei']}"))
        assert len(recorder._findings) == 3  # the memory window, not the session
        assert recorder.findings_total == len(seen) == 10

        def comparable(items: list[Finding]) -> list[tuple[object, ...]]:
            return [(f.flow, f.type, f.value, f.where, round(f.ts, 6)) for f in items]

        assert comparable(recorder.findings()) == comparable(seen)
        assert comparable(recorder.findings(7)) == comparable(seen[7:])
        assert comparable(recorder.findings(2)) == comparable(seen[2:])
        assert recorder.findings(10) == []
        assert len(recorder.result().findings) == 10
        assert "proxy_findings_not_kept" not in recorder.summary_record()["diagnostics"]
