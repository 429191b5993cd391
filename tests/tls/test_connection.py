"""TLS decryption end to end on captures made by real stacks (OpenSSL, Python ssl, curl)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.tls.connection import TlsDecryptor, parse_server_hello
from leaktrace.tls.keylog import KeyLog

from .captures import DATA, IMEI, IMSI, analyze, keys, planted

TLS_CAPTURES = {
    "tls12_aes128gcm": "ulogs.umeng.com",
    "tls12_chacha20": "ulogs.umeng.com",
    "tls13_aes128gcm": "sdk.open.phone.igexin.com",
    "tls13_aes256gcm": "sdk.open.phone.igexin.com",
    "tls13_chacha20": "sdk.open.phone.igexin.com",
}
SDK_OF = {"ulogs.umeng.com": "umeng", "sdk.open.phone.igexin.com": "getui"}


@pytest.mark.parametrize("name", sorted(TLS_CAPTURES))
def test_key_log_opens_the_planted_identifiers(name: str) -> None:
    host = TLS_CAPTURES[name]
    source, messages, findings = analyze(f"{name}.pcap", keys(name))
    assert planted(findings) == {
        ("imsi", "query:imsi", host, IMSI),
        ("imei", "body>json:$.imei", host, IMEI),
    }
    assert {f.transport for f in findings} == {"https"}
    assert {f.sdk for f in findings} == {SDK_OF[host]}
    http = [m for m in messages if m.http is not None]
    assert len(http) == 1 and http[0].http is not None
    assert http[0].http.method == "POST" and http[0].http.version == "HTTP/1.1"
    assert source.coverage.flows_decoded == 1 and not source.coverage.opaque_reasons


@pytest.mark.parametrize("name", sorted(TLS_CAPTURES))
def test_without_keys_the_flow_keeps_its_host_and_sdk(name: str) -> None:
    source, messages, findings = analyze(f"{name}.pcap")
    assert findings == []
    assert [(m.transport, m.host, m.host_basis) for m in messages] == [
        ("tls", TLS_CAPTURES[name], "sni")
    ]
    assert source.coverage.opaque_reasons == {"tls_without_keys": 1}


def test_tls_through_an_http_proxys_tunnel_is_opened_with_the_key_log() -> None:
    """Captured between the client and its proxy: a CONNECT, the proxy's answer, then
    TLS 1.3 to the host it named, read as a connection of its own."""
    source, messages, findings = analyze("proxy_connect.pcap", keys("proxy_connect"))
    assert [(m.kind, m.transport, m.host) for m in messages] == [
        ("http", "http", "ulogs.umeng.com"),
        ("tls_hello", "tls", "ulogs.umeng.com"),
        ("http", "https", "ulogs.umeng.com"),
    ]
    assert [m.http.method for m in messages if m.http is not None] == ["CONNECT", "POST"]
    assert planted(findings) == {
        ("imsi", "query:imsi", "ulogs.umeng.com", IMSI),
        ("imei", "body>json:$.imei", "ulogs.umeng.com", IMEI),
    }
    assert {f.transport for f in findings} == {"https"}
    coverage = source.coverage
    assert coverage.flows_decoded == 1 and coverage.bytes_decoded == coverage.bytes_outbound
    bare, _, none = analyze("proxy_connect.pcap")
    assert none == [] and bare.coverage.opaque_reasons == {"tls_without_keys": 1}


def test_keys_of_another_connection_count_as_missing() -> None:
    source, messages, findings = analyze("tls13_chacha20.pcap", keys("tls12_chacha20"))
    assert findings == [] and messages[0].host == "sdk.open.phone.igexin.com"
    assert source.coverage.opaque_reasons == {"tls_without_keys": 1}


def test_wrong_secret_is_reported_not_guessed() -> None:
    text = (DATA / "tls13_aes128gcm.keys").read_text()
    log = KeyLog()
    for line in text.splitlines():
        if line.startswith(("CLIENT_TRAFFIC_SECRET_0", "CLIENT_HANDSHAKE_TRAFFIC_SECRET")):
            label, cr, secret = line.split()
            flipped = ("0" if secret[0] != "0" else "1") + secret[1:]
            line = f"{label} {cr} {flipped}"
        log.add_text(line.encode())
    source, _, findings = analyze("tls13_aes128gcm.pcap", log)
    assert findings == []
    assert source.coverage.opaque_reasons == {"tls_decrypt_failed": 1}


def test_handshake_secret_is_optional_for_tls13() -> None:
    """Some Frida key loggers only write the application traffic secrets."""
    log = KeyLog()
    for line in (DATA / "tls13_aes256gcm.keys").read_text().splitlines():
        if line.startswith("CLIENT_TRAFFIC_SECRET_0"):
            log.add_text(line.encode())
    _, _, findings = analyze("tls13_aes256gcm.pcap", log)
    assert {f.type for f in findings} == {"imei", "imsi"}


def test_secrets_embedded_in_pcapng_are_used() -> None:
    source, _, findings = analyze("tls13_aes128gcm_dsb.pcapng")
    assert planted(findings) == {
        ("imsi", "query:imsi", "sdk.open.phone.igexin.com", IMSI),
        ("imei", "body>json:$.imei", "sdk.open.phone.igexin.com", IMEI),
    }
    assert source.keylog.entries == 5


def test_http2_over_tls_becomes_http2_requests() -> None:
    _, messages, findings = analyze("http2_tls.pcap", keys("http2_tls"))
    http = [m.http for m in messages if m.http is not None]
    assert len(http) == 1 and http[0] is not None
    assert (http[0].method, http[0].target, http[0].version) == (
        "POST",
        "/rqd/async?aid=demo",
        "HTTP/2",
    )
    assert http[0].header("host") == "android.bugly.qq.com"
    assert planted(findings) == {
        ("imsi", "header:x-imsi", "android.bugly.qq.com", IMSI),
        ("imei", "body>json:$.imei", "android.bugly.qq.com", IMEI),
    }
    assert {f.sdk for f in findings} == {"tencent_bugly"}


def test_http2_without_keys_still_names_the_host() -> None:
    source, messages, _ = analyze("http2_tls.pcap")
    assert [(m.host, m.tls.alpn if m.tls else None) for m in messages] == [
        ("android.bugly.qq.com", ("h2", "http/1.1"))
    ]
    assert source.coverage.opaque_reasons == {"tls_without_keys": 1}


# -- unit level -------------------------------------------------------------------------


def _record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


def _client_hello(random: bytes) -> bytes:
    body = b"\x03\x03" + random + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    return bytes([1]) + len(body).to_bytes(3, "big") + body


def _server_hello(suite: int, version_ext: bool = False) -> bytes:
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    if version_ext:
        body += b"\x00\x06\x00\x2b\x00\x02\x03\x04"
    return bytes([2]) + len(body).to_bytes(3, "big") + body


def test_unsupported_suite_is_a_coverage_reason() -> None:
    random = bytes(range(32))
    log = KeyLog()
    log.add("CLIENT_RANDOM", random, b"\x00" * 48)
    tls = TlsDecryptor(log)
    tls.client_data(_record(22, _client_hello(random)))
    assert tls.hello is not None and tls.client_random == random
    tls.server_data(_record(22, _server_hello(0x002F)))  # AES_128_CBC_SHA
    assert tls.failure == "tls_unsupported_suite"
    assert not tls.wants_server


def test_server_hello_fields() -> None:
    hello = parse_server_hello(_server_hello(0x1302, version_ext=True))
    assert hello is not None
    assert (hello.suite_code, hello.version, hello.random) == (0x1302, 0x0304, b"\x11" * 32)
    assert parse_server_hello(b"\x02\x00\x00") is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=12))
def test_any_bytes_in_either_direction_never_raise(chunks: list[tuple[bool, bytes]]) -> None:
    log = KeyLog()
    log.add("CLIENT_RANDOM", bytes(32), b"\x01" * 48)
    tls = TlsDecryptor(log)
    for from_client, data in chunks:
        out = tls.client_data(data) if from_client else tls.server_data(data)
        assert isinstance(out, list)
