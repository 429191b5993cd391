"""The control endpoint, over real HTTP on loopback, against a recorder fed by hand."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy.control import MAX_PAGE, ControlServer
from leaktrace.proxy.recorder import Recorder
from leaktrace.testing import http_message

from .lab import VALUES


@pytest.fixture(scope="module")
def control(device_config: PipelineConfig) -> Iterator[ControlServer]:
    recorder = Recorder(device_config)
    recorder.process(http_message("ulogs.umeng.com", f"/t?imei={VALUES['imei']}"))
    server = ControlServer(recorder, info={"proxy": "http://127.0.0.1:1", "ca_cert": "/ca.pem"})
    server.start()
    yield server
    server.stop()


def call(
    server: ControlServer, method: str, path: str, token: str | None, body: object = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/findings"), ("GET", "/summary"), ("POST", "/events")]
)
@pytest.mark.parametrize("token", [None, "", "nearly-the-token"])
def test_refused_without_the_token(
    control: ControlServer, method: str, path: str, token: str | None
) -> None:
    status, body = call(control, method, path, token, {"event": "consent"})
    assert status == 401
    assert "token" in body["error"]
    assert control.url.startswith("http://127.0.0.1:")


def test_findings_are_paged_and_masked(control: ControlServer) -> None:
    status, body = call(control, "GET", "/findings?since=0", control.token)
    assert status == 200
    [finding] = body["findings"]
    assert (finding["type"], finding["host"], finding["sdk"]) == (
        "imei",
        "ulogs.umeng.com",
        "umeng",
    )
    assert finding["value"] != VALUES["imei"] and "*" in finding["value"]
    assert body["next"] == 1
    assert call(control, "GET", "/findings?since=1", control.token)[1] == {
        "findings": [],
        "next": 1,
    }
    assert call(control, "GET", "/findings?since=x", control.token)[0] == 400
    assert MAX_PAGE >= 100


def test_events_are_marked_and_summarised(control: ControlServer) -> None:
    status, event = call(
        control, "POST", "/events", control.token, {"event": "consent", "data": {"tap": 1}}
    )
    assert status == 201
    assert event["event"] == "consent" and event["data"] == {"tap": "1"} and "mono" in event
    status, summary = call(control, "GET", "/summary", control.token)
    assert (status, summary["findings"]) == (200, 1)
    assert summary["events"] >= 1
    assert call(control, "GET", "/events", control.token)[1]["events"][-1] == event
    assert call(control, "POST", "/events", control.token, {"data": {}})[0] == 400
    assert call(control, "POST", "/events", control.token, ["consent"])[0] == 400
    assert call(control, "GET", "/nowhere", control.token)[0] == 404


def test_revealed_session_serves_full_values(device_config: PipelineConfig) -> None:
    config = PipelineConfig(device_config.signatures, device_config.device, reveal=True)
    recorder = Recorder(config)
    recorder.process(http_message("ulogs.umeng.com", f"/t?imei={VALUES['imei']}"))
    server = ControlServer(recorder)
    server.start()
    try:
        body = call(server, "GET", "/findings", server.token)[1]
    finally:
        server.stop()
    assert body["findings"][0]["value"] == VALUES["imei"]
