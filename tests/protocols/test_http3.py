"""HTTP/3 requests from client stream chunks: framing, QPACK's dynamic table, order and bounds."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from pylsqpack import Encoder

from leaktrace.protocols.http3 import Http3Reader, _varint, read_request_stream
from leaktrace.protocols.quic_app import StreamChunk
from leaktrace.types import Diagnostic, HttpRequest

HEADERS = [
    (b":method", b"POST"),
    (b":scheme", b"https"),
    (b":authority", b"tsis.jpush.cn"),
    (b":path", b"/v3/report?imsi=460001234567890"),
    (b"content-type", b"application/json"),
]
BODY = b'{"imei": "352099001761481"}'


def frame(ftype: int, payload: bytes) -> bytes:
    return _varint(ftype) + _varint(len(payload)) + payload


def connection(requests: int, body: bytes = BODY) -> tuple[bytes, dict[int, bytes]]:
    """What a client sends: its QPACK encoder stream, and each request stream's bytes.
    The encoder refers to its dynamic table from the second request on."""
    encoder = Encoder()
    instructions = b"\x02" + encoder.apply_settings(4096, 16)
    streams: dict[int, bytes] = {}
    for n in range(requests):
        sid = 4 * n
        more, block = encoder.encode(sid, HEADERS)
        instructions += more
        streams[sid] = frame(0x01, block) + frame(0x00, body[:10]) + frame(0x00, body[10:])
    return instructions, streams


def chunks_of(sid: int, data: bytes, cuts: list[int]) -> list[StreamChunk]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [
        StreamChunk(sid, a, data[a:b], fin=b == len(data) and sid % 4 == 0)
        for a, b in itertools.pairwise(points)
    ]


def expected() -> HttpRequest:
    return HttpRequest(
        method="POST",
        target="/v3/report?imsi=460001234567890",
        version="HTTP/3",
        headers=(("Host", "tsis.jpush.cn"), ("content-type", "application/json")),
        body=BODY,
    )


def requests(items: list[HttpRequest | Diagnostic]) -> list[HttpRequest]:
    assert [i for i in items if isinstance(i, Diagnostic)] == []
    return [i for i in items if isinstance(i, HttpRequest)]


def test_requests_in_order_with_the_dynamic_table() -> None:
    instructions, streams = connection(3)
    reader = Http3Reader()
    got = requests(reader.feed([StreamChunk(2, 0, instructions, False)]))
    for sid, data in streams.items():
        got += requests(reader.feed([StreamChunk(sid, 0, data, True)]))
    assert got == [expected()] * 3
    assert reader.held_bytes == 0 and reader.requests == 3


def test_a_request_waits_for_the_table_entries_it_needs() -> None:
    instructions, streams = connection(2)
    reader = Http3Reader()
    first, second = (StreamChunk(sid, 0, data, True) for sid, data in streams.items())
    assert requests(reader.feed([first, second])) == [expected()]  # the second is blocked
    assert requests(reader.feed([StreamChunk(2, 0, instructions, False)])) == [expected()]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=8), st.randoms(use_true_random=False))
def test_any_split_and_order_of_the_chunks_gives_the_same_requests(
    cuts: list[int], rnd: random.Random
) -> None:
    instructions, streams = connection(3)
    chunks = chunks_of(2, instructions, cuts)
    for sid, data in streams.items():
        chunks += chunks_of(sid, data, cuts)
    rnd.shuffle(chunks)
    chunks += chunks[: len(chunks) // 2]  # retransmissions
    reader = Http3Reader()
    got: list[HttpRequest] = []
    for chunk in chunks:
        got += requests(reader.feed([chunk]))
    assert got == [expected()] * 3


def test_a_body_past_the_bound_is_cut_and_said_so() -> None:
    instructions, streams = connection(1, body=b"x" * 5000)
    reader = Http3Reader(max_body=1000)
    reader.feed([StreamChunk(2, 0, instructions, False)])
    (request,) = requests(reader.feed([StreamChunk(0, 0, streams[0], True)]))
    assert request.body == b"x" * 1000 and request.body_truncated


def test_a_stream_that_never_ends_is_given_as_far_as_it_got_when_the_flow_closes() -> None:
    instructions, streams = connection(1)
    reader = Http3Reader()
    reader.feed([StreamChunk(2, 0, instructions, False)])
    assert requests(reader.feed([StreamChunk(0, 0, streams[0][:-5], False)])) == []
    assert reader.held_bytes > 0
    (request,) = requests(reader.close())
    assert request.body == BODY[:-5] and request.body_truncated


def test_a_table_larger_than_the_decoder_allows_is_reported() -> None:
    encoder = Encoder()
    instructions = b"\x02" + encoder.apply_settings(65536, 16)
    items = Http3Reader().feed([StreamChunk(2, 0, instructions, False)])
    assert [i.name for i in items if isinstance(i, Diagnostic)] == ["h3_qpack_error"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 300), st.binary(max_size=80), st.booleans())
    )
)
def test_arbitrary_chunks_never_raise(items: list[tuple[int, int, bytes, bool]]) -> None:
    reader = Http3Reader(max_body=100)
    for sid, offset, data, fin in items:
        reader.feed([StreamChunk(sid, offset, data, fin)])
    reader.close()
    assert reader.held_bytes == 0


def test_one_stream_read_whole() -> None:
    encoder = Encoder()
    _, block = encoder.encode(0, HEADERS)  # no table settings: the static table alone
    data = frame(0x01, block) + frame(0x00, BODY)
    assert read_request_stream(data) == [expected()]
    assert read_request_stream(data[:-3])[0].body_truncated  # no end: cut


def settings_stream(capacity: int, blocked: int = 16) -> bytes:
    pairs = _varint(0x01) + _varint(capacity) + _varint(0x07) + _varint(blocked)
    return b"\x00" + frame(0x04, pairs)  # a control stream: its type, then SETTINGS


def test_the_table_size_the_server_announced_is_used() -> None:
    """A server that allows 64 KiB: its SETTINGS, on a control stream that need not be the
    first it opens, size the decoder before the client's encoder speaks."""
    encoder = Encoder()
    instructions = b"\x02" + encoder.apply_settings(65536, 16)
    more, block = encoder.encode(0, HEADERS)
    more2, block2 = encoder.encode(4, HEADERS)  # from the table
    reader = Http3Reader()
    data = settings_stream(65536)
    assert reader.server([StreamChunk(7, 0, b"\x02", False)]) == []  # its encoder stream
    assert reader.server([StreamChunk(3, 0, data[:4], False)]) == []
    assert reader.server([StreamChunk(3, 4, data[4:], False)]) == []
    assert reader.server_settings == {0x01: 65536, 0x07: 16} and reader.table_capacity == 65536
    got = requests(reader.feed([StreamChunk(2, 0, instructions + more + more2, False)]))
    got += requests(reader.feed([StreamChunk(0, 0, frame(0x01, block) + frame(0x00, BODY), True)]))
    got += requests(reader.feed([StreamChunk(4, 0, frame(0x01, block2) + frame(0x00, BODY), True)]))
    assert got == [expected()] * 2


def test_settings_read_after_the_encoder_spoke_change_nothing() -> None:
    instructions, streams = connection(2)
    reader = Http3Reader()
    reader.feed([StreamChunk(2, 0, instructions, False)])
    items = reader.server([StreamChunk(3, 0, settings_stream(65536), False)])
    assert [i.name for i in items if isinstance(i, Diagnostic)] == ["h3_qpack_error"]
    assert reader.table_capacity == 4096
    for sid, data in streams.items():
        assert requests(reader.feed([StreamChunk(sid, 0, data, True)])) == [expected()]


def test_a_frame_past_the_bound_drops_its_stream() -> None:
    reader = Http3Reader()
    huge = _varint(0x01) + _varint(1 << 20) + b"x" * 100  # HEADERS said to be 1 MiB
    items = reader.feed([StreamChunk(0, 0, huge, False)])
    assert [i.name for i in items if isinstance(i, Diagnostic)] == ["h3_frame_limit"]
    assert reader.feed([StreamChunk(0, len(huge), b"x" * 1000, False)]) == []
    assert reader.held_bytes == 0
