"""HAR recordings through ``analyze``: the same pipeline, whatever recorder wrote them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.analyze import analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.sinks.jsonl import JsonlSink
from leaktrace.sources.har import HarSource, parse_har
from leaktrace.sources.pcap import CaptureError
from leaktrace.types import Diagnostic, Message

from .lab import VALUES


def entry(url: str, method: str = "GET", **request: Any) -> dict[str, Any]:
    return {
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "serverIPAddress": "203.0.113.9",
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", **request},
    }


def har(*entries: Any) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "test"}, "entries": list(entries)}}


DOC = har(
    entry(f"https://ulogs.umeng.com/t?imei={VALUES['imei']}", headers=[]),
    entry(
        "https://api.example.com/v1/login",
        "POST",
        httpVersion="h2",
        headers=[
            {"name": ":authority", "value": "api.example.com"},
            {"name": "content-type", "value": "application/json"},
            {"name": "content-encoding", "value": "gzip"},  # text below is already decoded
        ],
        postData={"mimeType": "application/json", "text": json.dumps({"phone": VALUES["phone"]})},
    ),
    entry(
        "http://loc.map.baidu.com/sdk.php",
        "POST",
        headers=[{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}],
        postData={
            "mimeType": "application/x-www-form-urlencoded",
            "params": [{"name": "imsi", "value": VALUES["imsi"]}],
        },
    ),
    entry(
        "https://h2.getui.net/api.php",
        "POST",
        headers=[{"name": "Content-Type", "value": "application/octet-stream"}],
        postData={
            "mimeType": "application/octet-stream",
            "encoding": "base64",
            "text": base64.b64encode(f"mac={VALUES['mac']}".encode()).decode(),
        },
    ),
    {"request": {"method": "GET"}},  # no URL: reported, the rest still read
)


def test_har_gives_findings_through_the_pipeline(
    tmp_path: Path, device_config: PipelineConfig
) -> None:
    path = tmp_path / "session.har"
    path.write_text(json.dumps(DOC))
    result = analyze_capture(path, device_config)
    got = {(f.type, f.host, f.where, f.transport) for f in result.findings}
    assert got == {
        ("imei", "ulogs.umeng.com", "query:imei", "https"),
        ("phone", "api.example.com", "body>json:$.phone", "https"),
        ("imsi", "loc.map.baidu.com", "body>form:imsi", "http"),
        ("mac", "h2.getui.net", "body>form:mac", "https"),  # base64 in HAR, form on the wire
    }
    assert {f.sdk for f in result.findings} >= {"umeng", "getui"}
    assert [d.name for d in result.diagnostics] == ["har_entry_malformed"]
    assert result.frames == 4 and result.coverage.flows_decoded == 4
    assert all(f.origin.startswith("har:session.har#") for f in result.findings)


def test_har_detected_by_content_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("\ufeff" + json.dumps(har()))
    from leaktrace.analyze import open_source

    assert isinstance(open_source(path), HarSource)


@pytest.mark.parametrize("content", ["{", "[]", '{"nolog": 1}'])
def test_not_a_har_is_unreadable(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.har"
    path.write_text(content)
    with pytest.raises(CaptureError, match="not a HAR"):
        HarSource(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
URLS = st.sampled_from(
    ["https://a.example/x?imei=1", "ftp://x", "http://[::1", "", "http://h:99999/"]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "request": st.fixed_dictionaries(
                    {"url": URLS | JSON, "method": JSON},
                    optional={"headers": JSON, "postData": JSON, "httpVersion": JSON},
                )
            },
            optional={"startedDateTime": JSON, "serverIPAddress": JSON, "connection": JSON},
        )
        | JSON,
        max_size=5,
    )
)
def test_any_har_content_yields_messages_or_diagnostics(entries: list[Any]) -> None:
    for item in parse_har(har(*entries)):
        assert isinstance(item, (Message, Diagnostic))


def test_lone_surrogates_in_a_har_still_reach_the_outputs(
    tmp_path: Path, device_config: PipelineConfig
) -> None:
    """JSON may spell a lone surrogate ("\\ud800"); in a URL, a header or cookie name
    or a body it used to stop the whole run (a UnicodeEncodeError) or lose the entry."""
    imei, phone = VALUES["imei"], VALUES["phone"]
    doc = har(
        entry(
            f"https://t\ud800.example/c?imei={imei}",
            "POST",
            headers=[
                {"name": "X-\udcff", "value": f"v\ud800 {phone}"},
                {"name": "Cookie", "value": f"k\ud800={imei}"},
            ],
            postData={"mimeType": "text/plain", "text": f"phone=\ud800{phone}"},
        )
    )
    path = tmp_path / "odd.har"
    path.write_text(json.dumps(doc))  # ASCII, with \ud800 escapes, as recorders write it
    out = tmp_path / "findings.jsonl"
    with out.open("w", encoding="utf-8") as stream:
        sink = JsonlSink(stream)
        result = analyze_capture(path, device_config, on_finding=sink.write)
    assert {(f.host, f.where) for f in result.findings} == {
        ("t\\ud800.example", "query:imei"),
        ("t\\ud800.example", "header:x-\\udcff"),
        ("t\\ud800.example", "cookie:k\\ud800"),
        ("t\\ud800.example", "body"),
    }
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(result.findings)
