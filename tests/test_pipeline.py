"""The pipeline core on Messages built directly, as any source (proxy, harness) would build them."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from functools import cache

from leaktrace.declaration import AppDeclaration, parse_declaration
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.signatures.loader import SignatureSet, load_signatures
from leaktrace.testing import http_message
from leaktrace.types import (
    Diagnostic,
    DnsQuestion,
    Finding,
    FlowKey,
    Message,
    MessageKind,
)

IMEI = "868915034726190"
APP = parse_declaration({"app": {"id": "com.example.shop"}, "first_party": ["example.com"]})


@cache
def signatures() -> SignatureSet:
    return load_signatures()


def pipeline(*, reveal: bool = False, app: AppDeclaration | None = APP) -> Pipeline:
    return Pipeline(PipelineConfig(signatures=signatures(), app=app, reveal=reveal))


def http(
    host: str, target: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> Message:
    return http_message(host, target, body, headers, transport="https")


def findings(items: Iterable[object]) -> list[Finding]:
    return [i for i in items if isinstance(i, Finding)]


def test_nested_identifier_to_an_sdk_is_attributed_and_masked() -> None:
    inner = base64.b64encode(gzip.compress(json.dumps({"imei": IMEI}).encode())).decode()
    msg = http("alog.umeng.com", "/app_logs", f"data={inner}".encode())
    (found,) = findings(pipeline().process(msg))
    assert (found.type, found.sdk, found.party, found.transport) == (
        "imei",
        "umeng",
        "third",
        "https",
    )
    assert found.where == "body>form:data>base64>gzip>json:$.imei"
    assert found.value == "86**********190"
    assert found.flow.startswith("1:") and found.dst == "203.0.113.7:443"


def test_reveal_shows_the_value() -> None:
    msg = http("api.shop.example.com", f"/v1/init?imei={IMEI}")
    (found,) = findings(pipeline(reveal=True).process(msg))
    assert found.value == IMEI
    assert found.party == "first" and found.sdk is None


def test_without_a_declaration_unknown_hosts_are_unknown_party() -> None:
    msg = http("api.shop.example.com", f"/v1/init?imei={IMEI}")
    (found,) = findings(pipeline(app=None).process(msg))
    assert found.party == "unknown"


def test_messages_without_identifiers_still_count_as_destinations() -> None:
    run = pipeline()
    dns = Message(
        ts=1.0,
        flow=FlowKey("192.168.1.5", 5353, "192.168.1.1", 53, 17),
        community_id="1:dns",
        transport="dns",
        kind=MessageKind.DNS,
        host="app-measurement.com",
        host_basis="qname",
        origin="pcap:x#1",
        dns=DnsQuestion("app-measurement.com", 1),
    )
    assert findings(run.process(dns)) == []
    dest = run.summary.destinations["app-measurement.com"]
    assert dest.sdk == "firebase_analytics" and dest.party == "third"
    assert dest.transports == {"dns"}


def test_decoder_limits_surface_as_diagnostics_and_analysis_goes_on() -> None:
    bomb = gzip.compress(b"0" * (40 << 20))
    msg = http("api.shop.example.com", f"/x?imei={IMEI}", bomb, (("Content-Encoding", "gzip"),))
    items = list(pipeline().process(msg))
    assert any(isinstance(i, Diagnostic) and i.name == "decode_limit" for i in items)
    assert [f.type for f in findings(items)] == ["imei"]


_PACKAGES = [
    "com.tencent.mm",
    "com.taobao.taobao",
    "com.sina.weibo",
    "com.baidu.BaiduMap",
    "com.jingdong.app.mall",
    "com.xunmeng.pinduoduo",
]


def test_an_app_list_sent_as_a_json_array_or_a_repeated_key_is_found() -> None:
    """One package name is an app id; six in one list are the user's app list, whether
    the app sends them in one string, as a JSON array or as a repeated key."""
    as_array = json.dumps({"apps": [{"pkg": p, "v": "1.0"} for p in _PACKAGES]}).encode()
    messages = [
        http("ulogs.umeng.com", "/apps", as_array, (("Content-Type", "application/json"),)),
        http("ulogs.umeng.com", "/apps?" + "&".join(f"pkg={p}" for p in _PACKAGES)),
    ]
    found = findings(pipeline().run(messages))
    assert [(f.type, f.where, f.sdk) for f in found] == [
        ("installed_apps", "body>json:$.apps[*].pkg", "umeng"),
        ("installed_apps", "query:pkg", "umeng"),
    ]
    assert all(f.value.count("*") for f in found)  # masked like any value
