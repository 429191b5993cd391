"""mitmproxy flow files through ``analyze``, and the flow → Message conversion they share."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import io as mitm_io
from mitmproxy import websocket
from mitmproxy.test import tflow

from leaktrace.analyze import analyze_capture, open_source
from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy import convert
from leaktrace.sources.mitmfile import MitmSource, looks_like_flows
from leaktrace.sources.pcap import CaptureError
from leaktrace.types import Diagnostic, Message, MessageKind

from .lab import VALUES


def http_flow(host: str, path: str, http2: bool = False) -> object:
    flow = tflow.tflow(resp=True)
    flow.request.host = host
    flow.request.path = path
    if http2:
        flow.request.http_version = "HTTP/2.0"
        flow.request.headers.pop("Host", None)
        flow.request.authority = host
    else:
        flow.request.headers["Host"] = host
    return flow


def ws_flow() -> object:
    flow = tflow.twebsocketflow()
    flow.request.host = "push.getui.net"
    flow.request.headers["Host"] = "push.getui.net"
    assert flow.websocket is not None
    flow.websocket.messages = [
        websocket.WebSocketMessage(1, True, f'{{"imei":"{VALUES["imei"]}"}}'.encode()),
        websocket.WebSocketMessage(1, False, f'{{"imsi":"{VALUES["imsi"]}"}}'.encode()),
    ]
    return flow


def write(path: Path, flows: list[object]) -> None:
    with path.open("wb") as stream:
        writer = mitm_io.FlowWriter(stream)
        for flow in flows:
            writer.add(flow)  # type: ignore[arg-type]


def test_flow_file_gives_http_http2_and_client_websocket_findings(
    tmp_path: Path, device_config: PipelineConfig
) -> None:
    path = tmp_path / "recorded"  # no suffix: found by its first bytes
    flows = [
        http_flow("ulogs.umeng.com", f"/t?imei={VALUES['imei']}"),
        http_flow("api.example.com", f"/l?phone={VALUES['phone']}", http2=True),
        ws_flow(),
    ]
    write(path, flows)
    assert isinstance(open_source(path), MitmSource)
    result = analyze_capture(path, device_config)
    got = {(f.type, f.host, f.where, f.transport) for f in result.findings}
    # the server's WebSocket message (imsi) is not the device's: not scanned
    assert got == {
        ("imei", "ulogs.umeng.com", "query:imei", "http"),
        ("phone", "api.example.com", "query:phone", "http"),
        ("imei", "push.getui.net", "payload>json:$.imei", "http"),
    }
    assert result.complete and result.frames == 3


def test_cut_flow_file_reports_damage_after_the_good_flows(
    tmp_path: Path, device_config: PipelineConfig
) -> None:
    path = tmp_path / "cut.mitm"
    write(path, [http_flow("ulogs.umeng.com", f"/t?imei={VALUES['imei']}")] * 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    result = analyze_capture(path, device_config)
    assert [f.type for f in result.findings] == ["imei"]
    assert result.damage is not None and result.damage.offset == len(data) // 2


def test_not_a_flow_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mitm"
    path.write_bytes(b"GET / HTTP/1.1\r\n")
    with pytest.raises(CaptureError, match="not a mitmproxy flow file"):
        MitmSource(path)


def test_http2_request_gets_a_host_header_and_no_pseudo_headers() -> None:
    flow = http_flow("api.example.com", "/x", http2=True)
    msg = convert.http_message(flow)  # type: ignore[arg-type]
    assert msg.http is not None and msg.http.version == "HTTP/2.0"
    assert msg.http.headers[0] == ("Host", "api.example.com")
    assert not any(k.startswith(":") for k, _ in msg.http.headers)
    assert (msg.host, msg.host_basis, msg.kind) == ("api.example.com", "proxy", MessageKind.HTTP)


def test_endpoints_prefer_real_addresses() -> None:
    flow = tflow.tflow()
    flow.client_conn.peername = ("::ffff:192.168.1.5", 40000)
    flow.server_conn.peername = None
    flow.server_conn.address = ("ulogs.umeng.com", 443)
    flow.client_conn.sockname = ("10.0.0.1", 8080)
    key = convert.flow_key(flow.client_conn, flow.server_conn)
    assert (key.src, key.dst) == ("192.168.1.5:40000", "10.0.0.1:8080")
    flow.server_conn.peername = ("203.0.113.7", 443)
    assert convert.flow_key(flow.client_conn, flow.server_conn).dst == "203.0.113.7:443"


def test_body_over_the_cap_is_cut_and_marked() -> None:
    flow = http_flow("a.example", "/")
    flow.request.content = b"x" * (convert.MAX_BODY_BYTES + 1)
    request = convert.http_request(flow.request)  # type: ignore[arg-type]
    assert len(request.body) == convert.MAX_BODY_BYTES and request.body_truncated


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_classified_without_error(data: bytes) -> None:
    assert isinstance(looks_like_flows(data), bool)
    hello = convert.parse_hello(data)
    assert hello is None or hello.sni is None or isinstance(hello.sni, str)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_garbage_after_a_good_flow_is_damage_not_an_exception(tail: bytes) -> None:
    stream = io.BytesIO()
    mitm_io.FlowWriter(stream).add(http_flow("a.example", "/"))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mitm"
        path.write_bytes(stream.getvalue() + tail)
        items = list(MitmSource(path))
    first = items[0]
    assert isinstance(first, Message) and first.kind is MessageKind.HTTP
    assert all(isinstance(i, (Message, Diagnostic)) for i in items)


def test_undecodable_host_bytes_give_a_writable_host() -> None:
    """mitmproxy keeps Host bytes that are not UTF-8 as lone surrogates."""
    flow = tflow.tflow()
    flow.request.headers[b"host"] = b"t\xff.example"
    msg = convert.http_message(flow)
    assert msg.host == "t\\udcff.example"
