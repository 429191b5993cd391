"""QUIC Initial decryption, checked against RFC 9001/9369 and a real aioquic client."""

from __future__ import annotations

import ssl

import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols import quic
from leaktrace.protocols.http3 import Http3Reader
from leaktrace.protocols.quic import (
    VERSION_1,
    VERSION_2,
    QuicHelloReader,
    crypto_frames,
    decode_packet_number,
    initial_keys,
    parse_long_header,
)
from leaktrace.protocols.quic_app import QuicAppReader, StreamChunk
from leaktrace.tls.keylog import KeyLog
from tls.captures import IMEI, IMSI, analyze, datagrams, keys, planted

DCID = bytes.fromhex("8394c8f03e515708")


def test_rfc9001_client_initial_keys() -> None:
    key, iv, hp = initial_keys(DCID, VERSION_1)
    assert (key.hex(), iv.hex(), hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d",
        "fa044b2f42a3fd3b46fb255c",
        "9f50449e04a0e810283a1e9933adedd2",
    )


def test_rfc9369_v2_client_initial_keys() -> None:
    key, iv, hp = initial_keys(DCID, VERSION_2)
    assert (key.hex(), iv.hex(), hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d",
        "91f73e2351d8fa91660e909f",
        "45b95e15235d6f45a6b19cbcb0294ba9",
    )


def test_packet_number_decoding_rfc9000_example() -> None:
    assert decode_packet_number(0xA82F30EA, 0x9B32, 2) == 0xA82F9B32
    assert decode_packet_number(-1, 0, 1) == 0


def _client_datagrams(
    sni: str, version: int = VERSION_1, alpn: tuple[str, ...] = ("h3",)
) -> list[bytes]:
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=list(alpn),
        server_name=sni,
        verify_mode=ssl.CERT_NONE,
        original_version=version,
    )
    conn = QuicConnection(configuration=config)
    conn.connect(("127.0.0.1", 4433), now=0.0)
    return [data for data, _ in conn.datagrams_to_send(now=0.0)]


@pytest.mark.parametrize("version", [VERSION_1, VERSION_2])
def test_sni_from_a_real_client_initial(version: int) -> None:
    reader = QuicHelloReader()
    for datagram in _client_datagrams("tsis.jpush.cn", version):
        if reader.feed(datagram) == "done":
            break
    assert reader.hello is not None
    assert (reader.hello.sni, reader.hello.alpn, reader.version) == (
        "tsis.jpush.cn",
        ("h3",),
        version,
    )


def test_a_hello_over_two_initials_sets_the_ciphers_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ClientHello too big for one Initial (as a post-quantum key share makes it)
    comes in two; the second opens with the ciphers made for the first."""
    made: list[bytes] = []
    real = quic.initial_protection

    def counting(dcid: bytes, version: int) -> quic.InitialProtection:
        made.append(dcid)
        return real(dcid, version)

    monkeypatch.setattr(quic, "initial_protection", counting)
    alpn = ("h3", *(letter * 250 for letter in "vwxyz"))  # a 1,400-byte ClientHello
    datagrams = _client_datagrams("tsis.jpush.cn", alpn=alpn)
    assert len(datagrams) == 2
    reader = QuicHelloReader()
    assert [reader.feed(d) for d in datagrams] == ["need_more", "done"]
    assert reader.hello is not None and reader.hello.alpn == alpn
    assert len(made) == 1


def test_long_header_fields() -> None:
    datagram = _client_datagrams("a.example")[0]
    header = parse_long_header(datagram)
    assert header is not None and header.version == VERSION_1 and header.packet_type == 0
    assert len(header.dcid) == 8 and header.end <= len(datagram)
    assert parse_long_header(b"\x40\x00") is None  # short header


def test_truncated_initial_is_a_diagnostic_not_an_error() -> None:
    datagram = _client_datagrams("a.example")[0]
    reader = QuicHelloReader()
    reader.feed(datagram[:200])
    reader.close()
    assert reader.hello is None and reader.status == "done"
    assert reader.diagnostics[-1].name == "quic_no_client_hello"


def test_crypto_frames_skip_padding_and_acks() -> None:
    payload = b"\x00\x00\x02\x05\x00\x00\x00" + b"\x06\x00\x03abc" + b"\x01"
    assert crypto_frames(payload) == [(0, b"abc")]
    assert crypto_frames(b"\x08\x00") is None  # STREAM frames do not belong in an Initial


def test_quic_capture_is_attributed_without_keys() -> None:
    source, messages, findings = analyze("quic_h3.pcap")
    assert [(m.transport, m.host, m.host_basis) for m in messages] == [
        ("quic", "tsis.jpush.cn", "sni")
    ]
    assert findings == []
    assert source.coverage.opaque_reasons == {"quic_without_keys": 1}


def test_http3_inside_a_keyed_quic_capture_is_read() -> None:
    """aioquic's client, its key log: the 1-RTT packets open (AES-256-GCM, SHA-384) and
    the HTTP/3 POST inside gives its query and JSON body, as an HTTP/2 request would."""
    source, messages, findings = analyze("quic_h3.pcap", keys("quic_h3"))
    assert [(m.kind, m.transport, m.host) for m in messages] == [
        ("quic_hello", "quic", "tsis.jpush.cn"),
        ("http", "https", "tsis.jpush.cn"),
    ]
    request = messages[1].http
    assert request is not None and request.version == "HTTP/3" and request.method == "POST"
    assert planted(findings) == {
        ("imsi", "query:imsi", "tsis.jpush.cn", IMSI),
        ("imei", "body>json:$.imei", "tsis.jpush.cn", IMEI),
    }
    assert source.coverage.flows_decoded == 1 and source.coverage.opaque_reasons == {}


# Chromium's two captures: QUIC v1, and v2 (RFC 9369: its own salts and key labels).
CHROMIUM = {"quic_chromium": VERSION_1, "quic_chromium_v2": VERSION_2}
chromium_captures = pytest.mark.parametrize("name", list(CHROMIUM))


@chromium_captures
def test_http3_from_chromium_is_read(name: str) -> None:
    """Headless Chromium (the stack Android apps embed as Cronet) loads a page over
    HTTP/3, whose script POSTs the markers; its ClientHello, with a post-quantum key
    share, spans two Initial datagrams, and its requests use its own QPACK encoder.
    The server closes that connection, and Chromium resumes with 0-RTT for a GET."""
    source, messages, findings = analyze(f"{name}.pcap", keys(name))
    first, resumed = dict.fromkeys(m.community_id for m in messages)
    read = [
        (
            m.community_id,
            m.kind,
            m.http.method if m.http else None,
            m.http.target if m.http else None,
        )
        for m in messages
        if m.host == "tsis.jpush.cn" and (m.http is None or m.http.version == "HTTP/3")
    ]
    assert read == [
        (first, "quic_hello", None, None),
        (first, "http", "GET", "/page"),
        (first, "http", "POST", f"/v3/report?imsi={IMSI}"),
        (first, "http", "GET", "/v3/wait"),
        (resumed, "quic_hello", None, None),
        (resumed, "http", "GET", f"/v3/config?imsi={IMSI}"),
    ]
    assert {(f.flow, f.type, f.where, f.value) for f in findings} == {
        (first, "imsi", "query:imsi", IMSI),
        (first, "imei", "body>json:$.imei", IMEI),
        (resumed, "imsi", "query:imsi", IMSI),
    }
    assert source.coverage.flows_decoded == 2 and source.coverage.opaque_reasons == {}


def test_chromiums_0rtt_request_needs_the_early_secret() -> None:
    """The resumed connection's GET went out in 0-RTT packets only: without
    CLIENT_EARLY_TRAFFIC_SECRET it is not there to read. (Over QUIC v2 Chromium sent
    only its control stream early, and the GET after the handshake.)"""
    name = "quic_chromium"
    full = keys(name)
    early = KeyLog()
    for line in full.to_text().splitlines():
        label, random, secret = line.split()
        if label != "CLIENT_EARLY_TRAFFIC_SECRET":
            early.add(label, bytes.fromhex(random), bytes.fromhex(secret))
    assert len(early.to_text().splitlines()) == len(full.to_text().splitlines()) - 1
    _, messages, findings = analyze(f"{name}.pcap", early)
    targets = [m.http.target for m in messages if m.http is not None]
    assert f"/v3/config?imsi={IMSI}" not in targets and f"/v3/report?imsi={IMSI}" in targets
    assert len(findings) == 2


def _chromium_sent(name: str) -> dict[tuple[str, int], list[bytes]]:
    """What each Chromium connection's client sent, in order."""
    sent: dict[tuple[str, int], list[bytes]] = {}
    for client, data in datagrams(f"{name}.pcap"):
        if client is not None:
            sent.setdefault(client, []).append(data)
    return sent


def _client_hellos(name: str) -> dict[tuple[str, int], list[bytes]]:
    """Each connection's first two datagrams: its ClientHello, in two Initials."""
    return {client: sent[:2] for client, sent in _chromium_sent(name).items()}


@chromium_captures
def test_chromiums_client_hello_spans_two_initial_datagrams(name: str) -> None:
    hellos = _client_hellos(name)
    assert len(hellos) == 2
    for first, second in hellos.values():
        reader = QuicHelloReader()
        assert [reader.feed(first), reader.feed(second)] == ["need_more", "done"]
        assert reader.hello is not None and reader.hello.sni == "tsis.jpush.cn"
        assert reader.hello.alpn == ("h3",) and reader.version == CHROMIUM[name]


@chromium_captures
def test_chromiums_resumed_connection_opens_with_0rtt_packets(name: str) -> None:
    """Its second connection's first packets after the ClientHello are 0-RTT, opened
    with CLIENT_EARLY_TRAFFIC_SECRET under the version's own key labels."""
    log = keys(name)
    *_, sent = _chromium_sent(name).values()  # the resumed connection
    hello = QuicHelloReader()
    assert [hello.feed(d) for d in sent[:2]] == ["need_more", "done"]
    assert hello.client_random is not None and hello.dcid is not None
    secret = log.get(hello.client_random, "CLIENT_TRAFFIC_SECRET_0")
    early = log.get(hello.client_random, "CLIENT_EARLY_TRAFFIC_SECRET")
    assert secret is not None and early is not None
    opened = []
    for early_secret in (early, None):
        reader = QuicAppReader(
            secret, hello.dcid, early_secret=early_secret, version=CHROMIUM[name]
        )
        for data in sent[2:]:
            reader.feed(data)
        opened.append(reader.opened)
    assert opened[0] > opened[1] > 0


@chromium_captures
def test_the_client_hellos_datagrams_count_as_decoded(name: str) -> None:
    """Without keys the hello's datagrams are still read (as a TLS hello's records are);
    with them, the datagrams whose packets open count as well."""
    hello = sum(len(d) for firsts in _client_hellos(name).values() for d in firsts)
    bare, _, _ = analyze(f"{name}.pcap")
    keyed, _, _ = analyze(f"{name}.pcap", keys(name))
    assert bare.coverage.bytes_decoded == hello
    assert bare.coverage.bytes_decoded + bare.coverage.bytes_opaque == bare.coverage.bytes_outbound
    assert hello < keyed.coverage.bytes_decoded < keyed.coverage.bytes_outbound


def test_a_key_log_without_this_connection_leaves_it_opaque() -> None:
    source, _, findings = analyze("quic_h3.pcap", keys("tls13_aes128gcm"))
    assert findings == [] and source.coverage.opaque_reasons == {"quic_without_keys": 1}


def test_a_wrong_secret_is_reported_as_a_failed_decryption() -> None:
    log = keys("quic_h3")
    wrong = KeyLog()
    for line in log.to_text().splitlines():
        label, random, secret = line.split()
        if label == "CLIENT_TRAFFIC_SECRET_0":
            secret = "00" * (len(secret) // 2)
        wrong.add(label, bytes.fromhex(random), bytes.fromhex(secret))
    source, _, findings = analyze("quic_h3.pcap", wrong)
    assert findings == [] and source.coverage.opaque_reasons == {"quic_decrypt_failed": 1}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1300))
def test_arbitrary_datagrams_never_raise(data: bytes) -> None:
    parse_long_header(data)
    crypto_frames(data)
    reader = QuicHelloReader()
    reader.feed(b"\xc0\x00\x00\x00\x01\x08" + data)
    reader.feed(data)
    reader.close()


def test_the_session_reads_the_servers_settings_then_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[int, int] | None] = []
    real = Http3Reader.server

    def spy(self: Http3Reader, chunks: list[StreamChunk]) -> list[object]:
        out = real(self, chunks)
        seen.append(self.server_settings)
        return out  # type: ignore[return-value]

    monkeypatch.setattr(Http3Reader, "server", spy)
    analyze("quic_h3.pcap", keys("quic_h3"))
    assert seen and seen[-1] is not None and seen[-1][0x01] == 4096
    assert seen.index(seen[-1]) == len(seen) - 1  # no server datagram opened after them
