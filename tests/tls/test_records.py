from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leaktrace.tls.records import HandshakeAssembler, Record, RecordReader


def _rec(ctype: int, body: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


records = st.lists(
    st.tuples(st.sampled_from([20, 21, 22, 23]), st.binary(max_size=300)), max_size=8
)


@given(records, st.integers(1, 50))
def test_records_survive_any_split(items: list[tuple[int, bytes]], step: int) -> None:
    wire = b"".join(_rec(ctype, body) for ctype, body in items)
    reader = RecordReader()
    got: list[Record] = []
    for start in range(0, len(wire), step):
        got += reader.feed(wire[start : start + step])
    assert [(r.ctype, r.fragment) for r in got] == items
    assert reader.buffered == 0 and not reader.broken


def test_non_tls_header_breaks_once() -> None:
    reader = RecordReader()
    assert reader.feed(_rec(23, b"ok") + b"GET / HTTP/1.1\r\n") == [Record(23, 0x0303, b"ok")]
    assert reader.broken and [d.name for d in reader.diagnostics] == ["tls_bad_record"]
    assert reader.feed(_rec(23, b"more")) == []


@given(st.binary(max_size=400))
def test_any_bytes_never_raise(data: bytes) -> None:
    RecordReader().feed(data)
    HandshakeAssembler().feed(data)


@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=100)), max_size=6),
    st.integers(1, 30),
)
def test_handshake_messages_across_fragments(msgs: list[tuple[int, bytes]], step: int) -> None:
    wire = b"".join(bytes([t]) + len(b).to_bytes(3, "big") + b for t, b in msgs)
    assembler = HandshakeAssembler()
    got: list[tuple[int, bytes]] = []
    for start in range(0, len(wire), step):
        got += assembler.feed(wire[start : start + step])
    assert [(t, m[4:]) for t, m in got] == msgs


def test_oversized_handshake_message_is_bounded() -> None:
    assembler = HandshakeAssembler()
    assert assembler.feed(b"\x0b\xff\xff\xff") == []
    assert assembler.broken and assembler.diagnostics[0].name == "tls_handshake_limit"


@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=100)), max_size=6),
    st.integers(1, 30),
)
def test_an_assembler_holds_what_it_has_not_handed_out(
    msgs: list[tuple[int, bytes]], step: int
) -> None:
    wire = b"".join(bytes([t]) + len(b).to_bytes(3, "big") + b for t, b in msgs)
    assembler = HandshakeAssembler()
    fed = out = 0
    for start in range(0, len(wire), step):
        piece = wire[start : start + step]
        fed += len(piece)
        out += sum(len(m) for _, m in assembler.feed(piece))
        assert assembler.buffered == fed - out
    assert assembler.buffered == 0
