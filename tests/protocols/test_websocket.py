"""WebSocket client frames, produced by wsproto's client (which masks, as clients must)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

from leaktrace.protocols.websocket import WebSocketReader, WsMessage


def _client(deflate: bool = False) -> Connection:
    extensions = []
    if deflate:
        ext = PerMessageDeflate()
        ext.finalize(str(ext.offer()))  # as if the server accepted the offer as made
        extensions.append(ext)
    return Connection(ConnectionType.CLIENT, extensions=extensions)


def _read(wire: bytes, step: int = 0) -> list[WsMessage]:
    reader = WebSocketReader()
    chunks = [wire] if not step else [wire[i : i + step] for i in range(0, len(wire), step)]
    out: list[WsMessage] = []
    for chunk in chunks:
        out += reader.feed(chunk)
    return out + reader.close()


def test_text_binary_and_fragments() -> None:
    conn = _client()
    wire = conn.send(TextMessage(data='{"imei":"356938035643809"}'))
    wire += conn.send(BytesMessage(data=b"\x00imsi=460001234567890", message_finished=False))
    wire += conn.send(BytesMessage(data=b"|tail", message_finished=True))
    wire += conn.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE))
    expected = [
        WsMessage("text", b'{"imei":"356938035643809"}'),
        WsMessage("binary", b"\x00imsi=460001234567890|tail"),
    ]
    assert _read(wire) == expected
    assert _read(wire, step=3) == expected


def test_permessage_deflate_is_inflated() -> None:
    conn = _client(deflate=True)
    wire = conn.send(TextMessage(data="imei=356938035643809 " * 20))
    wire += conn.send(TextMessage(data="second imei=356938035643809 " * 5))
    got = _read(wire)
    assert [m.data for m in got] == [
        b"imei=356938035643809 " * 20,
        b"second imei=356938035643809 " * 5,
    ]
    assert all(m.compressed for m in got)


def test_oversized_message_is_cut_and_marked() -> None:
    conn = _client()
    wire = conn.send(BytesMessage(data=b"x" * 5000))
    reader = WebSocketReader(max_message=1000)
    got = reader.feed(wire)
    assert [(len(m.data), m.truncated) for m in got] == [(1000, True)]


def test_bad_opcode_breaks_once() -> None:
    reader = WebSocketReader()
    assert reader.feed(b"\x83\x80abcd") == []
    assert reader.broken and reader.diagnostics[0].name == "ws_bad_frame"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    reader = WebSocketReader(max_message=256)
    reader.feed(data)
    reader.close()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=100)), max_size=6),
    st.integers(1, 40),
)
def test_round_trip(messages: list[bytes | str], step: int) -> None:
    conn = _client()
    wire = b""
    for message in messages:
        event = (
            TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        )
        wire += conn.send(event)
    got = _read(wire, step)
    assert [m.data for m in got] == [m.encode() if isinstance(m, str) else m for m in messages]


def test_capture_websocket_messages_are_scanned() -> None:
    from tls.captures import IMEI, IMSI, analyze, planted

    source, _, findings = analyze("websocket.pcap")
    assert planted(findings) == {
        ("imei", "ws:text>json:$.imei", "sdk.open.talk.getui.net", IMEI),
        ("imsi", "ws:binary", "sdk.open.talk.getui.net", IMSI),
    }
    assert {f.sdk for f in findings} == {"getui"}
    assert source.coverage.flows_decoded == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4), st.integers(1, 40))
def test_held_bytes_stay_within_what_was_fed_and_end_at_zero(
    messages: list[bytes], step: int
) -> None:
    conn = _client()
    wire = b"".join(conn.send(BytesMessage(data=m)) for m in messages)
    reader = WebSocketReader()
    for end in range(step, len(wire) + step, step):
        reader.feed(wire[end - step : end])
        assert 0 <= reader.held_bytes <= min(end, len(wire))
    assert reader.held_bytes == 0
    one = _client().send(BytesMessage(data=messages[0] + b"!"))
    partial = WebSocketReader()
    partial.feed(one[:-1])  # the message short of its last byte: the rest is held
    assert partial.held_bytes == len(messages[0])
