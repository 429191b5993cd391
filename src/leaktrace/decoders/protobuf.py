"""Protocol Buffers without a schema: the wire format walked into numbered leaves.

Apps and SDKs send protobuf bodies (gRPC, Firebase, many Chinese analytics
SDKs) whose ``.proto`` files nobody outside has. The wire format alone says
enough: each field has a number and a wire type, and a length-delimited
field is a string, raw bytes or a nested message. Leaves are named by their
field-number path (``3.1``: field 1 inside field 3), so findings read
``body>protobuf:field.3.1``.

Telling a nested message from a string is guesswork by nature; text that
reads as text is taken as a string, otherwise a strict full parse decides.
Parsing is bounded in depth and field count and never raises.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

from leaktrace.decoders.binary import is_meaningful

MAX_FIELDS: Final = 10_000
MAX_DEPTH: Final = 16
GRPC_PREFIX: Final = 5
DECLARED_TYPES: Final = frozenset(
    {
        "application/x-protobuf",
        "application/protobuf",
        "application/x-google-protobuf",
        "application/vnd.google.protobuf",
        "application/grpc",
        "application/grpc+proto",
        "application/x-protobuffer",
    }
)


@dataclass(frozen=True, slots=True)
class PbField:
    number: int
    wire: int  # 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
    value: int | bytes


@dataclass(frozen=True, slots=True)
class PbLeaf:
    path: str  # field numbers joined by dots, outermost first
    value: bytes
    is_text: bool  # a string or raw bytes (decoded further) rather than a number


def read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def parse_message(data: bytes, max_fields: int = MAX_FIELDS) -> list[PbField] | None:
    """Every field of ``data`` if all of it is a well-formed message; otherwise None."""
    fields: list[PbField] = []
    pos, end = 0, len(data)
    while pos < end:
        if len(fields) >= max_fields:
            return None
        key = read_varint(data, pos)
        if key is None:
            return None
        tag, pos = key
        number, wire = tag >> 3, tag & 0x07
        if number == 0 or number > 0x1FFFFFFF:
            return None
        value: int | bytes
        if wire == 0:
            read = read_varint(data, pos)
            if read is None:
                return None
            value, pos = read
        elif wire == 1:
            if pos + 8 > end:
                return None
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            read = read_varint(data, pos)
            if read is None:
                return None
            length, pos = read
            if pos + length > end:
                return None
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            if pos + 4 > end:
                return None
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            return None  # groups (3, 4) are long deprecated; 6 and 7 do not exist
        fields.append(PbField(number, wire, value))
    return fields


def leaves(
    data: bytes, max_depth: int = MAX_DEPTH, max_fields: int = MAX_FIELDS
) -> list[PbLeaf] | None:
    """The leaves of a message, or None when ``data`` is not one."""
    fields = parse_message(data, max_fields)
    if not fields:
        return None
    out: list[PbLeaf] = []
    _walk(fields, "", max_depth, out, max_fields)
    return out


def looks_like_message(data: bytes) -> bool:
    """For sniffing unlabelled binary: a full parse with at least one text leaf or sub-message."""
    if len(data) < 4 or is_meaningful(data):
        return False
    found = leaves(data, max_depth=4, max_fields=2000)
    return bool(found) and any(leaf.is_text and len(leaf.value) >= 4 for leaf in found or ())


def grpc_messages(data: bytes) -> list[bytes] | None:
    """The messages of a gRPC body (1-byte flag, 4-byte length, message; repeated)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + GRPC_PREFIX > len(data) or data[pos] not in (0, 1):
            return None
        length = int.from_bytes(data[pos + 1 : pos + 5], "big")
        out.append(data[pos + 5 : pos + 5 + length])
        pos += 5 + length
    return out


def _walk(fields: list[PbField], prefix: str, depth: int, out: list[PbLeaf], budget: int) -> None:
    for field in fields:
        if len(out) >= budget:
            return
        path = f"{prefix}{field.number}"
        value = field.value
        if isinstance(value, bytes):
            if not _clean_text(value) and depth > 1:
                nested = parse_message(value)
                if nested:
                    _walk(nested, path + ".", depth - 1, out, budget)
                    continue
            out.append(PbLeaf(path, value, True))
        else:
            out.append(PbLeaf(path, _number_text(field.wire, value).encode("ascii"), False))


_CONTROL: Final = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)) + b"\x7f"


def _clean_text(value: bytes) -> bool:
    """UTF-8 without control characters: a string, whatever else it might parse as."""
    if len(value.translate(None, _CONTROL)) != len(value):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _number_text(wire: int, value: int) -> str:
    """Varints as integers; fixed-width values as floats when they look like one (coordinates)."""
    if wire == 1:
        double = struct.unpack("<d", value.to_bytes(8, "little"))[0]
        if math.isfinite(double) and 1e-6 < abs(double) < 1e9:
            return repr(double)
    elif wire == 5:
        single = struct.unpack("<f", value.to_bytes(4, "little"))[0]
        if math.isfinite(single) and 1e-6 < abs(single) < 1e9:
            return f"{single:.8g}"
    return str(value)
