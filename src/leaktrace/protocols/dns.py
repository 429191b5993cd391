"""DNS message parser (RFC 1035) for queries and answers seen on the wire.

Queried names tell which host an app is about to contact even when the
connection itself is encrypted, and answers tie server addresses back to
names. Captured DNS is untrusted input: compression pointers may loop or
point forward, counts may lie, labels may hold any byte. The parser therefore
only follows pointers that point strictly backwards (so every name
terminates), caps the jumps, and escapes odd label bytes instead of failing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Final

from leaktrace.types import DnsQuestion, slot_init

# The same walk in C (_dns.c): names and record offsets, the text of the values
# still made here. Absent when leaktrace was installed without a compiler.
NATIVE: ModuleType | None
try:
    from leaktrace.protocols import _dns as NATIVE
except ImportError:  # pragma: no cover - depends on the build
    NATIVE = None

HEADER_LEN: Final = 12
MAX_NAME_WIRE_LEN: Final = 255  # RFC 1035 §3.1, counted as on the wire
MAX_POINTER_JUMPS: Final = 32

TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_PTR: Final = 12
TYPE_MX: Final = 15
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33

_NAME_TYPES: Final = frozenset({TYPE_NS, TYPE_CNAME, TYPE_PTR})


@slot_init
@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One answer record: A/AAAA as address text, NS/CNAME/PTR as a name.

    MX is ``"<preference> <name>"``, SRV ``"<priority> <weight> <port> <target>"``,
    SOA the seven fields space-separated, TXT its strings joined by spaces
    with non-printable bytes escaped; anything else is the RDATA in hex.
    """

    name: str
    rtype: int
    value: str


@slot_init
@dataclass(frozen=True, slots=True)
class DnsPacket:
    id: int
    is_response: bool
    rcode: int
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]


class _Malformed(Exception):
    """Internal: the message cannot be read past this point."""


_NameReader = Callable[[bytes, int], tuple[str, int]]


def parse_dns(data: bytes) -> DnsPacket | None:
    """Parse one DNS message; None when the header or a question is unreadable.

    A broken answer section ends the answers early rather than discarding
    the questions, which are what identify the app's destinations.
    """
    if NATIVE is None:
        return parse_dns_python(data)
    walked = NATIVE.parse(data)
    if walked is None:
        return None
    ident, flags, questions, records = walked
    return DnsPacket(
        id=ident,
        is_response=bool(flags & 0x8000),
        rcode=flags & 0x000F,
        questions=tuple([DnsQuestion(qname=name, qtype=qtype) for name, qtype in questions]),
        answers=tuple(
            [
                DnsRecord(name, rtype, _rdata_text(data, start, end, rtype, _native_name))
                for name, rtype, start, end in records
            ]
        ),
    )


def parse_dns_python(data: bytes) -> DnsPacket | None:
    """:func:`parse_dns` in Python alone: the reference the native walk is tested against."""
    if len(data) < HEADER_LEN:
        return None
    ident = int.from_bytes(data[0:2], "big")
    flags = int.from_bytes(data[2:4], "big")
    qdcount = int.from_bytes(data[4:6], "big")
    ancount = int.from_bytes(data[6:8], "big")
    questions: list[DnsQuestion] = []
    pos = HEADER_LEN
    names: dict[int, str] = {}  # names read whole, by offset: what answers point back to
    try:
        for _ in range(qdcount):
            name, pos = read_name(data, pos, names)
            if pos + 4 > len(data):
                raise _Malformed("question truncated")
            qtype = int.from_bytes(data[pos : pos + 2], "big")
            pos += 4
            questions.append(DnsQuestion(qname=name, qtype=qtype))
    except _Malformed:
        return None
    answers: list[DnsRecord] = []
    try:
        for _ in range(ancount):
            record, pos = _read_record(data, pos, names)
            answers.append(record)
    except _Malformed:
        pass
    return DnsPacket(
        id=ident,
        is_response=bool(flags & 0x8000),
        rcode=flags & 0x000F,
        questions=tuple(questions),
        answers=tuple(answers),
    )


def split_tcp_dns(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut DNS-over-TCP bytes (RFC 1035 §4.2.2 length prefix) into messages and the rest."""
    messages: list[bytes] = []
    pos = 0
    while len(buffer) - pos >= 2:
        length = int.from_bytes(buffer[pos : pos + 2], "big")
        if len(buffer) - pos - 2 < length:
            break
        messages.append(buffer[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return messages, buffer[pos:]


def read_name(data: bytes, pos: int, names: dict[int, str] | None = None) -> tuple[str, int]:
    """Read a possibly compressed name at ``pos``; return it and the offset after it.

    Each pointer must target an offset below the lowest one reached so far,
    so a name visits every byte at most once and always terminates. ``names``
    holds the names of this message already read whole, by offset: a name that
    is nothing but a pointer to one of them (an answer naming its question) is
    taken from there, and a name read whole without pointers is added.
    """
    start = pos
    labels: list[bytes] = []
    wire_len = 1
    end: int | None = None
    floor = pos
    jumps = 0
    while True:
        if pos >= len(data):
            raise _Malformed("name runs past the end")
        length = data[pos]
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= len(data):
                raise _Malformed("pointer truncated")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end is None:
                end = pos + 2
            jumps += 1
            if target >= floor or jumps > MAX_POINTER_JUMPS:
                raise _Malformed("compression pointer does not point backwards")
            if not labels and names is not None and target in names:
                return names[target], end
            floor = target
            pos = target
            continue
        if kind:
            raise _Malformed("reserved label type")
        if length == 0:
            if end is not None:
                return _name_text(labels), end
            text = _name_text(labels)
            if names is not None:
                names[start] = text
            return text, pos + 1
        wire_len += length + 1
        if wire_len > MAX_NAME_WIRE_LEN or pos + 1 + length > len(data):
            raise _Malformed("name too long or truncated")
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length


def _name_text(labels: list[bytes]) -> str:
    """The labels as one name; all plain (nearly every real name): one check, one decode."""
    if _PLAIN_LABEL.fullmatch(b"".join(labels)):
        return b".".join(labels).decode("ascii").lower()
    return ".".join(map(_label_text, labels))


# Printable ASCII but "." and "\\": the labels of nearly every real name, which
# need no escaping and can be lower-cased in one call.
_PLAIN_LABEL = re.compile(rb"[\x21-\x2d\x2f-\x5b\x5d-\x7e]*")


def _label_text(raw: bytes) -> str:
    """Lower-case a label and escape bytes that are not plain ASCII (``\\DDD``, as dig prints)."""
    if _PLAIN_LABEL.fullmatch(raw):
        return raw.decode("ascii").lower()
    out: list[str] = []
    for byte in raw:
        if byte in (0x2E, 0x5C):  # "." and "\" inside a label
            out.append("\\" + chr(byte))
        elif 0x21 <= byte <= 0x7E:
            out.append(chr(byte).lower())
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _native_name(data: bytes, pos: int) -> tuple[str, int]:
    """:func:`read_name` by the native walk (without the message's name memo)."""
    assert NATIVE is not None
    read: tuple[str, int] | None = NATIVE.read_name(data, pos)
    if read is None:
        raise _Malformed("name unreadable")
    return read


def _read_record(data: bytes, pos: int, names: dict[int, str]) -> tuple[DnsRecord, int]:
    name, pos = read_name(data, pos, names)
    if pos + 10 > len(data):
        raise _Malformed("record header truncated")
    rtype = int.from_bytes(data[pos : pos + 2], "big")
    rdlength = int.from_bytes(data[pos + 8 : pos + 10], "big")
    start = pos + 10
    end = start + rdlength
    if end > len(data):
        raise _Malformed("rdata truncated")
    return DnsRecord(name=name, rtype=rtype, value=_rdata_text(data, start, end, rtype)), end


def _rdata_text(
    data: bytes, start: int, end: int, rtype: int, name_at: _NameReader = read_name
) -> str:
    rdata = data[start:end]
    try:
        if rtype == TYPE_A and len(rdata) == 4:
            return socket.inet_ntoa(rdata)
        if rtype == TYPE_AAAA and len(rdata) == 16:
            return str(ipaddress.IPv6Address(rdata))
        if rtype in _NAME_TYPES:
            return name_at(data, start)[0]
        if rtype == TYPE_MX and len(rdata) >= 3:
            return f"{int.from_bytes(rdata[:2], 'big')} {name_at(data, start + 2)[0]}"
        if rtype == TYPE_SRV and len(rdata) >= 7:
            prio, weight, port = (int.from_bytes(rdata[i : i + 2], "big") for i in (0, 2, 4))
            return f"{prio} {weight} {port} {name_at(data, start + 6)[0]}"
        if rtype == TYPE_SOA:
            return _soa_text(data, start, end, name_at)
        if rtype == TYPE_TXT:
            return _txt_text(rdata)
    except _Malformed:
        pass
    return rdata.hex()


def _soa_text(data: bytes, start: int, end: int, name_at: _NameReader) -> str:
    mname, pos = name_at(data, start)
    rname, pos = name_at(data, pos)
    if pos + 20 > end:
        raise _Malformed("SOA truncated")
    numbers = [str(int.from_bytes(data[pos + i : pos + i + 4], "big")) for i in range(0, 20, 4)]
    return " ".join([mname, rname, *numbers])


def _txt_text(rdata: bytes) -> str:
    parts: list[str] = []
    pos = 0
    while pos < len(rdata):
        length = rdata[pos]
        if pos + 1 + length > len(rdata):
            raise _Malformed("TXT string truncated")
        chunk = rdata[pos + 1 : pos + 1 + length]
        parts.append("".join(chr(b) if 0x20 <= b <= 0x7E else f"\\{b:03d}" for b in chunk))
        pos += 1 + length
    return " ".join(parts)
