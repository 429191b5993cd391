from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols.mqtt import MqttPacket, MqttReader, looks_like_connect


def _s(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    length, enc = len(body), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        enc.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(enc) + body


def _connect(level: int = 4, client_id: bytes = b"d:356938035643809") -> bytes:
    props = b"\x00" if level == 5 else b""
    body = _s(b"MQTT") + bytes([level, 0xC6]) + b"\x00\x3c" + props + _s(client_id)
    body += (props if level == 5 else b"") + _s(b"lwt/topic") + _s(b"bye")
    body += _s(b"user") + _s(b"imsi=460001234567890")
    return _packet(0x10, body)


def test_connect_publish_subscribe_311() -> None:
    wire = _connect()
    wire += _packet(0x32, _s(b"devices/460001234567890") + b"\x00\x07" + b'{"imei":"1"}')
    wire += _packet(0x82, b"\x00\x08" + _s(b"push/356938035643809") + b"\x01")
    wire += _packet(0xC0, b"")  # PINGREQ: nothing to scan
    got = MqttReader().feed(wire)
    assert got == [
        MqttPacket(
            "connect",
            (
                ("client_id", b"d:356938035643809"),
                ("will_topic", b"lwt/topic"),
                ("will_payload", b"bye"),
                ("username", b"user"),
                ("password", b"imsi=460001234567890"),
            ),
        ),
        MqttPacket(
            "publish", (("topic", b"devices/460001234567890"), ("payload", b'{"imei":"1"}'))
        ),
        MqttPacket("subscribe", (("topic", b"push/356938035643809"),)),
    ]
    assert looks_like_connect(wire) and not looks_like_connect(b"\x16\x03\x01")


def test_mqtt5_properties_are_skipped() -> None:
    reader = MqttReader()
    wire = _connect(level=5) + _packet(0x30, _s(b"t") + b"\x03\x01\x01\x00" + b"payload")
    got = reader.feed(wire)
    assert reader.level == 5
    assert got[0].parts[0] == ("client_id", b"d:356938035643809")
    assert got[1].parts == (("topic", b"t"), ("payload", b"payload"))


def test_oversized_packet_is_skipped_as_it_arrives() -> None:
    reader = MqttReader(max_packet=100)
    big = _packet(0x30, _s(b"t") + b"x" * 1000)
    after = _packet(0x30, _s(b"t2") + b"y")
    got = reader.feed(big[:300]) + reader.feed(big[300:] + after)
    assert got == [MqttPacket("publish", (("topic", b"t2"), ("payload", b"y")))]
    assert reader.diagnostics[0].name == "mqtt_packet_limit"


def test_lengths_past_the_packet_are_diagnosed() -> None:
    reader = MqttReader()
    assert reader.feed(_packet(0x30, b"\x00\x50abc")) == []
    assert reader.diagnostics[0].name == "mqtt_bad_packet"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    MqttReader().feed(data)
    looks_like_connect(data)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.binary(min_size=1, max_size=50), st.binary(max_size=300)), max_size=5),
    st.integers(1, 30),
)
def test_publish_round_trip(items: list[tuple[bytes, bytes]], step: int) -> None:
    wire = _connect() + b"".join(_packet(0x30, _s(t) + p) for t, p in items)
    reader = MqttReader()
    got: list[MqttPacket] = []
    for i in range(0, len(wire), step):
        got += reader.feed(wire[i : i + step])
    assert [p.parts for p in got[1:]] == [(("topic", t), ("payload", p)) for t, p in items]


def test_capture_mqtt_through_a_real_broker() -> None:
    from tls.captures import IMEI, IMSI, analyze, planted

    source, _, findings = analyze("mqtt.pcap")
    assert {
        ("imei", "mqtt:connect:client_id", None, IMEI),
        ("imsi", "mqtt:connect:password>form:imsi", None, IMSI),
        ("imsi", "mqtt:publish:topic", None, IMSI),
        ("imei", "mqtt:publish:payload>json:$.imei", None, IMEI),
    } <= planted(findings)
    assert source.coverage.flows_decoded == 1 and not source.coverage.opaque_reasons


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4), st.integers(1, 40))
def test_held_bytes_are_the_packet_not_yet_whole(payloads: list[bytes], step: int) -> None:
    wire = _connect() + b"".join(_packet(0x30, _s(b"t") + p) for p in payloads)
    reader = MqttReader()
    for end in range(step, len(wire) + step, step):
        reader.feed(wire[end - step : end])
        assert 0 <= reader.held_bytes <= min(end, len(wire))
    assert reader.held_bytes == 0
    last = _packet(0x30, _s(b"t") + payloads[-1])
    reader.feed(last[:-1])
    assert reader.held_bytes == len(last) - 1
