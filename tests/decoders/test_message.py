"""extract_fields on whole messages: field names, chains, keys and bounds."""

from __future__ import annotations

import base64
import gzip
import json
from urllib.parse import quote

import brotli
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.decoders import DecodeLimits, extract_fields
from leaktrace.types import DnsQuestion, Field, FlowKey, HttpRequest, Message, MessageKind, TlsHello

IMEI = b"869677023945285"
FLOW = FlowKey("10.0.0.2", 40000, "203.0.113.9", 80, 6)


def http(
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    target: str = "/",
    method: str = "POST",
) -> Message:
    return Message(
        ts=10.0,
        flow=FLOW,
        community_id="1:test",
        transport="http",
        kind=MessageKind.HTTP,
        host="api.example.com",
        host_basis="header",
        origin="test",
        http=HttpRequest(method, target, "HTTP/1.1", headers, body),
    )


def raw(payload: bytes) -> Message:
    return Message(
        ts=1.0,
        flow=FLOW,
        community_id="1:raw",
        transport="tcp",
        kind=MessageKind.RAW,
        host=None,
        host_basis="none",
        origin="test",
        payload=payload,
    )


def by_where(fields: list[Field]) -> dict[str, bytes]:
    return {f.where: f.value for f in fields}


def wheres(fields: list[Field]) -> list[str]:
    return [f.where for f in fields]


# -- HTTP ---------------------------------------------------------------------


def test_umeng_like_json_body() -> None:
    body = json.dumps(
        {
            "header": {
                "umid": "5f2a9c",
                "mc": "AC:37:43:4B:1C:2E",
                "imei": IMEI.decode(),
                "sdk_version": 9.4,
            },
            "analytics": {"sessions": [{"id": "s1", "lat": 39.9042}]},
            "debug": False,
        }
    ).encode()
    fields, diags = extract_fields(
        http(body, (("Content-Type", "application/json; charset=utf-8"),))
    )
    assert diags == []
    body_fields = [f for f in fields if f.where.startswith("body")]
    assert body_fields == [
        Field("body>json:$.header.umid", b"5f2a9c", "umid"),
        Field("body>json:$.header.mc", b"AC:37:43:4B:1C:2E", "mc"),
        Field("body>json:$.header.imei", IMEI, "imei"),
        Field("body>json:$.header.sdk_version", b"9.4", "sdk_version"),
        Field("body>json:$.analytics.sessions[0].id", b"s1", "id"),
        Field("body>json:$.analytics.sessions[0].lat", b"39.9042", "lat"),
        Field("body>json:$.debug", b"false", "debug"),
    ]


def test_mixpanel_style_form_with_base64_json() -> None:
    event = {
        "event": "App Open",
        "properties": {"$imei": IMEI.decode(), "token": "abc", "$os": "Android"},
    }
    data = base64.b64encode(json.dumps(event).encode()).decode()
    body = f"data={quote(data, safe='')}&ip=1".encode()
    fields, diags = extract_fields(
        http(body, (("Content-Type", "application/x-www-form-urlencoded"),), "/track/?verbose=1")
    )
    assert diags == []
    found = by_where(fields)
    assert found["body>form:data"] == data.encode()  # the original leaf is kept
    assert found["body>form:data>base64>json:$.properties.$imei"] == IMEI
    assert found["body>form:data>base64>json:$.event"] == b"App Open"
    assert found["body>form:ip"] == b"1"
    assert "body" not in found  # a parsed container is not emitted whole
    key = next(f.key for f in fields if f.where.endswith("$.properties.$imei"))
    assert key == "$imei"


def test_spec_example_chain_form_base64_gzip_json() -> None:
    inner = gzip.compress(json.dumps({"properties": {"$imei": IMEI.decode()}}).encode())
    body = b"data=" + quote(base64.b64encode(inner).decode(), safe="").encode()
    fields, _ = extract_fields(http(body))
    assert Field("body>form:data>base64>gzip>json:$.properties.$imei", IMEI, "$imei") in fields


def test_gzip_json_body_with_content_encoding() -> None:
    body = gzip.compress(json.dumps({"device": {"imei": IMEI.decode()}}).encode())
    headers = (("Content-Encoding", "gzip"), ("Content-Type", "application/json"))
    fields, diags = extract_fields(http(body, headers))
    assert diags == []
    assert wheres(fields)[-1:] == ["body>gzip>json:$.device.imei"]
    assert "body" not in wheres(fields)  # compressed bytes are not worth scanning


def test_stacked_content_encodings_are_undone_in_reverse() -> None:
    plain = b"imei=" + IMEI
    body = brotli.compress(gzip.compress(plain))
    fields, diags = extract_fields(http(body, (("Content-Encoding", "gzip, br"),)))
    assert diags == []
    assert by_where(fields)["body>br>gzip>form:imei"] == IMEI


def test_declared_coding_that_fails_is_reported_and_body_sniffed() -> None:
    body = json.dumps({"imei": IMEI.decode()}).encode()
    fields, diags = extract_fields(http(body, (("Content-Encoding", "gzip"),)))
    assert [d.name for d in diags] == ["decode_error"]
    assert diags[0].detail.startswith("gzip: ")
    assert diags[0].detail.endswith(": body")
    assert diags[0].flow == "1:test"
    assert by_where(fields)["body>json:$.imei"] == IMEI


def test_json_compressed_without_content_encoding_is_sniffed_quietly() -> None:
    body = gzip.compress(json.dumps({"imei": IMEI.decode()}).encode())
    fields, diags = extract_fields(http(body, (("Content-Type", "application/json"),)))
    assert diags == []
    assert by_where(fields)["body>gzip>json:$.imei"] == IMEI


def test_unsupported_coding_is_reported() -> None:
    fields, diags = extract_fields(http(b"imei=1", (("Content-Encoding", "compress"),)))
    assert [(d.name, d.detail) for d in diags] == [
        ("decode_error", "compress: unsupported content-encoding: body")
    ]
    assert by_where(fields)["body>form:imei"] == b"1"


def test_declared_json_that_is_not_json_is_reported_then_sniffed() -> None:
    fields, diags = extract_fields(http(b"a=1&b=2", (("Content-Type", "application/json"),)))
    assert [d.name for d in diags] == ["decode_error"]
    assert by_where(fields)["body>form:b"] == b"2"


def test_multipart_upload_with_json_part() -> None:
    boundary = "xYzZY"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="meta"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f'{{"imei":"{IMEI.decode()}","apps":["com.tencent.mm","com.eg.android.AlipayGphone"]}}\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="log"; filename="a.txt"\r\n\r\n'
        "plain log line\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = (("Content-Type", f"multipart/form-data; boundary={boundary}"),)
    fields, diags = extract_fields(http(body, headers))
    assert diags == []
    body_fields = [f for f in fields if f.where.startswith("body")]
    assert body_fields == [
        Field("body>multipart:meta>json:$.imei", IMEI, "imei"),
        Field("body>multipart:meta>json:$.apps[0]", b"com.tencent.mm", "apps"),
        Field("body>multipart:meta>json:$.apps[1]", b"com.eg.android.AlipayGphone", "apps"),
        # the array once more, whole, for the patterns of lists (an app list)
        Field(
            "body>multipart:meta>json:$.apps[*]",
            b"com.tencent.mm,com.eg.android.AlipayGphone",
            "apps",
            joined=True,
        ),
        Field("body>multipart:log", b"plain log line", "log"),
    ]


def test_url_query_headers_and_cookies() -> None:
    headers = (
        ("Host", "api.example.com"),
        ("X-Device", base64.b64encode(json.dumps({"oaid": "a1b2"}).encode()).decode()),
        ("Cookie", 'uid=u-1; sess="q w"; flag'),
        ("x-device", "second"),
    )
    fields, diags = extract_fields(
        http(b"", headers, "/v1/%E4%B8%AD/track?imei=86967%2002&a=x+y", "GET")
    )
    assert diags == []
    assert fields[:3] == [
        Field("url:path", "/v1/中/track".encode(), None),
        Field("query:imei", b"86967 02", "imei"),
        Field("query:a", b"x y", "a"),
    ]
    found = [(f.where, f.value, f.key) for f in fields[3:]]
    assert found == [
        ("header:host", b"api.example.com", "host"),
        ("header:x-device", headers[1][1].encode(), "x-device"),
        ("header:x-device>base64>json:$.oaid", b"a1b2", "oaid"),
        ("cookie:uid", b"u-1", "uid"),
        ("cookie:sess", b"q w", "sess"),
        ("cookie:flag", b"", "flag"),
        ("header:x-device", b"second", "x-device"),
    ]


def test_md5_value_is_emitted_raw_and_not_decoded() -> None:
    md5 = b"d41d8cd98f00b204e9800998ecf8427e"
    fields, _ = extract_fields(http(b"idmd5=" + md5))
    assert fields == [Field("url:path", b"/"), Field("body>form:idmd5", md5, "idmd5")]


def test_json_inside_a_json_string_and_form_inside_a_string() -> None:
    payload = json.dumps({"imei": IMEI.decode()})
    body = json.dumps({"payload": payload, "q": "mac=02%3A00&ssid=home"}).encode()
    fields, _ = extract_fields(http(body, (("Content-Type", "application/json"),)))
    found = by_where(fields)
    assert found["body>json:$.payload"] == payload.encode()
    assert found["body>json:$.payload>json:$.imei"] == IMEI
    assert found["body>json:$.q"] == b"mac=02%3A00&ssid=home"
    assert found["body>json:$.q>form:mac"] == b"02:00"


def test_hex_and_base64url_in_query() -> None:
    hexed = json.dumps({"lat": "39.9"}).encode().hex()
    b64url = base64.urlsafe_b64encode(b'{"k":"??>>"}').decode().rstrip("=")
    fields, _ = extract_fields(http(target=f"/a?h={hexed}&u={b64url}", method="GET"))
    found = by_where(fields)
    assert found["query:h>hex>json:$.lat"] == b"39.9"
    assert found["query:u>base64url>json:$.k"] == b"??>>"


def test_percent_encoded_string_in_json_is_decoded() -> None:
    body = json.dumps({"mac": "02%3A00%3A00%3A4B%3A1C%3A2E"}).encode()
    fields, _ = extract_fields(http(body, (("Content-Type", "application/json"),)))
    assert by_where(fields)["body>json:$.mac>urldecode"] == b"02:00:00:4B:1C:2E"


def test_binary_with_percent_signs_is_not_url_decoded() -> None:
    fields, _ = extract_fields(raw(b"\x00\x01%41%42\xff"))
    assert wheres(fields) == ["payload"]


def test_plain_body_is_emitted() -> None:
    fields, diags = extract_fields(http(b"hello " + IMEI, (("Content-Type", "text/plain"),)))
    assert diags == []
    assert fields[-1] == Field("body", b"hello " + IMEI)


def test_ndjson_body() -> None:
    body = b'{"event_id":"1"}\n{"type":"event"}\n{"user":{"id":"' + IMEI + b'"}}\n'
    fields, _ = extract_fields(http(body, (("Content-Type", "application/x-sentry-envelope"),)))
    found = by_where(fields)
    assert found["body>line:0>json:$.event_id"] == b"1"
    assert found["body>line:2>json:$.user.id"] == IMEI


# -- DNS, TLS, raw --------------------------------------------------------------


def test_dns_and_tls_give_one_field_each() -> None:
    dns = Message(
        ts=0.0,
        flow=FLOW,
        community_id="c",
        transport="dns",
        kind=MessageKind.DNS,
        host=None,
        host_basis="qname",
        origin="t",
        dns=DnsQuestion("tsis.jpush.cn", 1),
    )
    assert extract_fields(dns) == ([Field("dns:qname", b"tsis.jpush.cn")], [])
    tls = Message(
        ts=0.0,
        flow=FLOW,
        community_id="c",
        transport="tls",
        kind=MessageKind.TLS_HELLO,
        host=None,
        host_basis="sni",
        origin="t",
        tls=TlsHello("ulogs.umeng.com", ("h2",), "TLS1.3"),
    )
    assert extract_fields(tls) == ([Field("tls:sni", b"ulogs.umeng.com")], [])
    no_sni = Message(
        ts=0.0,
        flow=FLOW,
        community_id="c",
        transport="tls",
        kind=MessageKind.TLS_HELLO,
        host=None,
        host_basis="none",
        origin="t",
        tls=TlsHello(None),
    )
    assert extract_fields(no_sni) == ([], [])


def test_raw_push_channel_json_and_form_line() -> None:
    fields, _ = extract_fields(raw(b'{"cid":"abc","imei":"' + IMEI + b'"}'))
    assert wheres(fields) == ["payload", "payload>json:$.cid", "payload>json:$.imei"]
    fields, _ = extract_fields(raw(b"imei=" + IMEI + b"&mac=02:00\r\n"))
    assert by_where(fields) == {
        "payload": b"imei=" + IMEI + b"&mac=02:00\r\n",
        "payload>form:imei": IMEI,
        "payload>form:mac": b"02:00",
    }


def test_sniffed_broken_gzip_is_silent() -> None:
    fields, diags = extract_fields(raw(b"\x1f\x8b\x08\x00garbage"))
    assert diags == []
    assert wheres(fields) == ["payload"]


# -- bounds ---------------------------------------------------------------------


def test_gigabyte_gzip_bomb_is_cut_with_a_diagnostic(gigabyte_bomb: bytes) -> None:
    fields, diags = extract_fields(http(gigabyte_bomb, (("Content-Encoding", "gzip"),)))
    assert [(d.name, d.detail) for d in diags] == [("decode_limit", "max_total_bytes: body>gzip")]
    assert by_where(fields)["body>gzip"] == bytes(16 << 20)  # the partial output is still scanned


def test_ratio_bound() -> None:
    plain = b"imei=" + IMEI + b"&pad=" + b"0" * 200_000
    limits = DecodeLimits(max_ratio=10.0, ratio_grace_bytes=0)
    fields, diags = extract_fields(
        http(gzip.compress(plain), (("Content-Encoding", "gzip"),)), limits
    )
    assert [(d.name, d.detail) for d in diags] == [("decode_limit", "max_ratio: body>gzip")]
    assert by_where(fields)["body>gzip>form:imei"] == IMEI  # partial output still decoded


def test_small_outputs_are_not_held_to_the_ratio() -> None:
    plain = json.dumps({"events": ["open"] * 2000}).encode()
    fields, diags = extract_fields(http(gzip.compress(plain), (("Content-Encoding", "gzip"),)))
    assert diags == []
    assert len(fields) == 2002


def test_depth_bound_keeps_the_deepest_value() -> None:
    value = json.dumps({"imei": IMEI.decode()}).encode()
    for _ in range(10):
        value = base64.b64encode(value)
    fields, diags = extract_fields(raw(value), DecodeLimits(max_depth=4))
    assert [(d.name, d.detail) for d in diags] == [
        ("decode_limit", "max_depth: payload>base64>base64>base64>base64")
    ]
    assert wheres(fields)[-1] == "payload>base64>base64>base64>base64"
    _, diags = extract_fields(raw(value))  # default max_depth=8
    assert [d.detail for d in diags] == ["max_depth: payload" + ">base64" * 8]
    full, _ = extract_fields(raw(value), DecodeLimits(max_depth=11))
    assert by_where(full)["payload" + ">base64" * 10 + ">json:$.imei"] == IMEI


def test_field_bound() -> None:
    body = json.dumps(list(range(50_000))).encode()
    fields, diags = extract_fields(http(body, (("Content-Type", "application/json"),)))
    assert len(fields) == 20_000
    assert [(d.name, d.detail) for d in diags] == [
        ("decode_limit", "max_fields: body>json:$[19998]")
    ]


def test_total_bound_across_many_values() -> None:
    blob = base64.b64encode(b"x" * 3000).decode()
    body = json.dumps([blob] * 10).encode()
    fields, diags = extract_fields(raw(body), DecodeLimits(max_total_bytes=10_000))
    decoded = [f for f in fields if f.where.endswith(">base64")]
    assert sum(len(f.value) for f in decoded) == 10_000
    assert diags[0].name == "decode_limit"
    assert diags[0].detail.startswith("max_total_bytes: payload>json:$[3]>base64")


# -- properties -------------------------------------------------------------------

Layer = tuple[str, str]  # (kind, name)

_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def layers(draw: st.DrawFn) -> list[Layer]:
    """Encodings applied inside-out; a gzip layer is always wrapped as text right after."""
    out: list[Layer] = []
    for _ in range(draw(st.integers(0, 6))):
        if out and out[-1][0] == "gzip":
            kind = draw(st.sampled_from(["base64", "base64url", "hex"]))
        else:
            kind = draw(st.sampled_from(["json", "form", "base64", "base64url", "hex", "gzip"]))
        out.append((kind, draw(_name)))
    return out


def build(value: bytes, stack: list[Layer]) -> tuple[bytes, list[str]]:
    """Wrap ``value`` and return the chain the decoders should report, outermost first."""
    steps: list[str] = []
    for kind, name in stack:
        if kind == "json":
            value = json.dumps({name: value.decode("latin-1")}, ensure_ascii=False).encode()
            step = f"json:$.{name}"
        elif kind == "form":
            value = f"{name}={quote(value, safe='')}".encode()
            step = f"form:{name}"
        elif kind == "gzip":
            value = gzip.compress(value, mtime=0)
            step = "gzip"
        elif kind == "hex":
            value = value.hex().encode()
            step = "hex"
        else:
            value = base64.b64encode(value) if kind == "base64" else base64.urlsafe_b64encode(value)
            urlish = b"-" in value or b"_" in value
            step = "base64url" if urlish else "base64"
        steps.append(step)
    return value, list(reversed(steps))


@settings(max_examples=200, deadline=None)
@given(layers())
def test_nested_encodings_are_found_with_the_exact_chain(stack: list[Layer]) -> None:
    inner = json.dumps({"imei": IMEI.decode()}).encode()
    wire, steps = build(inner, stack)
    fields, _ = extract_fields(raw(wire))
    expected = ">".join(["payload", *steps, "json:$.imei"])
    assert Field(expected, IMEI, "imei") in fields


_headers = st.lists(
    st.tuples(
        st.sampled_from(["Content-Type", "Content-Encoding", "Cookie", "X-Data"]),
        st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=b",
                "gzip",
                "br",
                "deflate",
                "zstd",
                "gzip, br",
                "a=1; b=2",
                "text/plain",
                "",
            ]
        ),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), _headers, st.text(max_size=40))
def test_arbitrary_messages_never_raise_and_respect_bounds(
    body: bytes, headers: list[tuple[str, str]], target: str
) -> None:
    limits = DecodeLimits(max_depth=3, max_total_bytes=2000, max_fields=50)
    fields, diags = extract_fields(http(body, tuple(headers), target or "/"), limits)
    assert len(fields) <= 50
    assert all(d.name in ("decode_limit", "decode_error") for d in diags)
    fields, _ = extract_fields(raw(body), limits)
    assert len(fields) <= 50


_nested_text = st.recursive(
    st.text(max_size=30) | st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    lambda inner: st.one_of(
        inner.map(lambda s: base64.b64encode(s.encode("utf-8", "surrogatepass")).decode()),
        st.tuples(_name, inner).map(lambda kv: json.dumps({kv[0]: kv[1]})),
        st.tuples(_name, inner).map(lambda kv: f"{kv[0]}={quote(kv[1], safe='')}"),
        st.lists(inner, max_size=3).map(json.dumps),
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(_nested_text, st.integers(1, 6), st.integers(1, 40))
def test_structured_input_respects_depth_and_field_bounds(
    text: str, depth: int, max_fields: int
) -> None:
    limits = DecodeLimits(max_depth=depth, max_fields=max_fields)
    fields, _ = extract_fields(raw(text.encode("utf-8", "surrogatepass")), limits)
    assert len(fields) <= max_fields
    for field in fields:
        if '["' not in field.where:
            assert field.where.count(">") <= depth


def test_header_and_cookie_names_with_lone_surrogates_give_writable_paths() -> None:
    """The proxy keeps undecodable header bytes as lone surrogates (surrogateescape)."""
    headers = (("X-\udcff", IMEI.decode()), ("Cookie", f"k\udcfe={IMEI.decode()}"))
    fields, _ = extract_fields(http(headers=headers))
    got = by_where(fields)
    assert got["header:x-\\udcff"] == IMEI and got["cookie:k\\udcfe"] == IMEI
    for field in fields:
        field.where.encode("utf-8")
