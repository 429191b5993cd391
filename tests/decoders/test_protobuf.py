"""Schema-less protobuf: wire-format walk, field-number chains, bounds."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.decoders import extract_fields
from leaktrace.decoders.protobuf import grpc_messages, leaves, looks_like_message, parse_message
from leaktrace.testing import http_message
from leaktrace.types import Message
from tls.captures import IMEI, IMSI, analyze, planted


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    key = varint(number << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else payload)


DEVICE = field(1, 2, IMEI.encode()) + field(2, 0, varint(int(IMSI)))
BODY = (
    field(1, 0, varint(7))
    + field(3, 2, DEVICE)
    + field(5, 1, struct.pack("<d", 39.908722))
    + field(6, 5, struct.pack("<f", 116.3975))
)


def test_leaves_are_named_by_field_path() -> None:
    got = {(leaf.path, leaf.value) for leaf in leaves(BODY) or []}
    assert got == {
        ("1", b"7"),
        ("3.1", IMEI.encode()),
        ("3.2", IMSI.encode()),
        ("5", b"39.908722"),
        ("6", b"116.3975"),
    }


def _fields(body: bytes, content_type: str) -> dict[str, bytes]:
    msg: Message = http_message("h.example", "/p", body, (("Content-Type", content_type),))
    found, _ = extract_fields(msg)
    return {f.where: f.value for f in found}


def test_declared_protobuf_body_gets_protobuf_chains() -> None:
    fields = _fields(BODY, "application/x-protobuf")
    assert fields["body>protobuf:field.3.1"] == IMEI.encode()
    assert fields["body>protobuf:field.3.2"] == IMSI.encode()


def test_grpc_framing_is_removed() -> None:
    framed = b"\x00" + len(BODY).to_bytes(4, "big") + BODY
    assert grpc_messages(framed) == [BODY]
    assert _fields(framed, "application/grpc")["body>protobuf:field.3.1"] == IMEI.encode()


def test_unlabelled_binary_protobuf_is_sniffed_but_text_is_not() -> None:
    assert looks_like_message(BODY)
    assert not looks_like_message(b"hello world, plain text")
    fields = _fields(BODY, "application/octet-stream")
    assert fields["body>protobuf:field.3.1"] == IMEI.encode()


def test_strings_inside_are_decoded_further() -> None:
    inner = field(1, 2, b'{"imei":"' + IMEI.encode() + b'"}')
    fields = _fields(field(4, 2, inner), "application/x-protobuf")
    assert fields["body>protobuf:field.4.1>json:$.imei"] == IMEI.encode()


def test_malformed_is_not_a_message() -> None:
    assert parse_message(b"\x0a\x10short") is None  # length past the end
    assert parse_message(b"\x0b\x00") is None  # group start: deprecated wire type 3
    assert parse_message(b"\x00\x01") is None  # field number 0


def test_capture_protobuf_body() -> None:
    _, _, findings = analyze("protobuf.pcap")
    assert {
        ("imei", "body>protobuf:field.3.1", "beacon.sensorsdata.cn", IMEI),
        ("imsi", "body>protobuf:field.3.2", "beacon.sensorsdata.cn", IMSI),
    } <= planted(findings)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    leaves(data)
    looks_like_message(data)
    grpc_messages(data)
    _fields(data, "application/x-protobuf")


scalars = st.one_of(
    st.tuples(st.integers(1, 1000), st.just(0), st.integers(0, 2**64 - 1)),
    st.tuples(st.integers(1, 1000), st.just(2), st.text(min_size=1, max_size=30)),
)


@given(st.lists(scalars, min_size=1, max_size=20))
def test_round_trip(items: list[tuple[int, int, int | str]]) -> None:
    wire = b"".join(
        field(n, 0, varint(v)) if isinstance(v, int) else field(n, 2, v.encode())
        for n, _, v in items
    )
    parsed = parse_message(wire)
    assert parsed is not None
    assert [(f.number, f.value) for f in parsed] == [
        (n, v if isinstance(v, int) else v.encode()) for n, _, v in items
    ]
