"""DNS parser: names, compression safety, record values, TCP framing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from leaktrace.protocols import dns
from leaktrace.protocols.dns import DnsPacket, parse_dns, split_tcp_dns
from leaktrace.types import DnsQuestion


def header(ident: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, 0)


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\x00"


def test_query_built_by_scapy() -> None:
    wire = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="Alog.UMENG.com.", qtype="AAAA")))
    packet = parse_dns(wire)
    assert packet == DnsPacket(
        id=7,
        is_response=False,
        rcode=0,
        questions=(DnsQuestion("alog.umeng.com", 28),),
        answers=(),
    )


def test_response_answers_a_aaaa_cname() -> None:
    wire = bytes(
        DNS(
            id=1,
            qr=1,
            qd=DNSQR(qname="tsis.jpush.cn"),
            an=[
                DNSRR(rrname="tsis.jpush.cn", type="CNAME", rdata="edge.jpush.cn"),
                DNSRR(rrname="edge.jpush.cn", type="A", rdata="123.196.118.23"),
                DNSRR(rrname="edge.jpush.cn", type="AAAA", rdata="2001:db8::1"),
            ],
        )
    )
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.is_response
    assert [(a.name, a.rtype, a.value) for a in packet.answers] == [
        ("tsis.jpush.cn", 5, "edge.jpush.cn"),
        ("edge.jpush.cn", 1, "123.196.118.23"),
        ("edge.jpush.cn", 28, "2001:db8::1"),
    ]


def test_compressed_names_are_followed() -> None:
    question = encode_name("api.example.com")
    # Answer name is a pointer to the question name (offset 12); CNAME target
    # is "cdn" + pointer to "example.com" (offset 12 + 4).
    rdata = b"\x03cdn\xc0\x10"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, len(rdata)) + rdata
    wire = header(flags=0x8180, an=1) + question + b"\x00\x01\x00\x01" + answer
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.answers[0].name == "api.example.com"
    assert packet.answers[0].value == "cdn.example.com"


def test_pointer_loop_and_forward_pointer_rejected() -> None:
    self_loop = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    assert parse_dns(self_loop) is None
    forward = header() + b"\xc0\x12" + b"\x00\x01\x00\x01" + b"\x01a\x00"
    assert parse_dns(forward) is None


def test_mutual_pointer_loop_in_answer_ends_answers_not_questions() -> None:
    question = encode_name("x.cn") + b"\x00\x01\x00\x01"
    base = 12 + len(question)
    # Two names pointing at each other.
    loop = struct.pack("!H", 0xC000 | (base + 2)) + struct.pack("!H", 0xC000 | base)
    wire = header(an=1) + question + loop + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04"
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.questions == (DnsQuestion("x.cn", 1),)
    assert packet.answers == ()


def test_odd_label_bytes_are_escaped_and_lowercased() -> None:
    name = b"\x03A.b\x04caf\xe9\x02 x\x00"
    packet = parse_dns(header() + name + b"\x00\x10\x00\x01")
    assert packet is not None
    assert packet.questions[0].qname == "a\\.b.caf\\233.\\032x"


def test_root_name_and_truncated_question() -> None:
    root = parse_dns(header() + b"\x00\x00\x02\x00\x01")
    assert root is not None and root.questions[0].qname == ""
    assert parse_dns(header() + encode_name("a.cn") + b"\x00") is None
    assert parse_dns(b"\x00" * 11) is None


def test_other_record_types_have_text_values() -> None:
    wire = bytes(
        DNS(
            qr=1,
            qd=DNSQR(qname="_psis._udp.jpush.cn", qtype="SRV"),
            an=[
                DNSRR(rrname="a.cn", type="TXT", rdata=[b"v=1", b"x\x01"]),
                DNSRR(rrname="a.cn", type="NULL", rdata=b"\xde\xad"),
            ],
        )
    )
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.questions[0].qtype == 33
    assert [a.value for a in packet.answers] == ["v=1 x\\001", "dead"]


def test_split_tcp_dns() -> None:
    one = bytes(DNS(id=1, qd=DNSQR(qname="a.cn")))
    two = bytes(DNS(id=2, qd=DNSQR(qname="b.cn")))
    stream = struct.pack("!H", len(one)) + one + struct.pack("!H", len(two)) + two
    messages, rest = split_tcp_dns(stream[:-3])
    assert messages == [one]
    assert rest == stream[2 + len(one) : -3]
    messages, rest = split_tcp_dns(stream)
    assert [parse_dns(m).id for m in messages] == [1, 2]  # type: ignore[union-attr]
    assert rest == b""
    assert split_tcp_dns(b"\x00") == ([], b"\x00")


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
_name = st.lists(_label, min_size=1, max_size=6).map(".".join)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_name, st.integers(1, 255)), min_size=1, max_size=3), st.integers(0, 0xFFFF)
)
def test_roundtrip_scapy_built_queries(questions: list[tuple[str, int]], ident: int) -> None:
    qd = [DNSQR(qname=name, qtype=qtype) for name, qtype in questions]
    wire = bytes(DNS(id=ident, qd=qd))
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.id == ident
    assert packet.questions == tuple(DnsQuestion(n, t) for n, t in questions)


class Compressor:
    """A DNS name encoder that compresses every repeated suffix, as servers do."""

    def __init__(self, start: int) -> None:
        self.out = bytearray()
        self.start = start
        self.seen: dict[str, int] = {}

    def name(self, name: str) -> None:
        labels = name.split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in self.seen:
                self.out += struct.pack("!H", 0xC000 | self.seen[suffix])
                return
            self.seen[suffix] = self.start + len(self.out)
            self.out += bytes([len(labels[i])]) + labels[i].encode()
        self.out += b"\x00"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_name, _name), min_size=1, max_size=5), st.ip_addresses(v=4))
def test_roundtrip_compressed_answers(cnames: list[tuple[str, str]], address: object) -> None:
    enc = Compressor(start=12)
    enc.name(cnames[0][0])
    enc.out += b"\x00\x01\x00\x01"
    for owner, target in cnames:
        enc.name(owner)
        enc.out += struct.pack("!HHI", 5, 1, 300)
        length_at = len(enc.out)
        enc.out += b"\x00\x00"
        enc.name(target)
        struct.pack_into("!H", enc.out, length_at, len(enc.out) - length_at - 2)
    enc.name(cnames[-1][1])
    enc.out += struct.pack("!HHIH", 1, 1, 300, 4) + bytes(map(int, str(address).split(".")))
    wire = header(flags=0x8180, an=len(cnames) + 1) + bytes(enc.out)
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.questions == (DnsQuestion(cnames[0][0], 1),)
    expected = [(owner, 5, target) for owner, target in cnames]
    expected.append((cnames[-1][1], 1, str(address)))
    assert [(a.name, a.rtype, a.value) for a in packet.answers] == expected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    parse_dns(data)
    parse_dns(header(qd=3, an=5) + data)
    split_tcp_dns(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0x3FFF), min_size=1, max_size=40), st.binary(max_size=40))
def test_pointer_mazes_terminate(pointers: list[int], tail: bytes) -> None:
    maze = b"".join(struct.pack("!H", 0xC000 | (12 + (p % 80))) for p in pointers)
    parse_dns(header(an=2) + maze + tail)


def _escaped(raw: bytes) -> str:
    """The label text byte by byte, as dig prints it."""
    return "".join(
        "\\" + chr(b) if b in b".\\" else chr(b).lower() if 0x21 <= b <= 0x7E else f"\\{b:03d}"
        for b in raw
    )


@given(st.binary(max_size=63) | st.text(alphabet="aZ09-_.\\ é", max_size=20).map(str.encode))
def test_any_label_reads_as_dig_prints_it(raw: bytes) -> None:
    packet = parse_dns(header() + bytes([len(raw)]) + raw + b"\x00\x00\x01\x00\x01")
    assert packet is not None
    assert packet.questions[0].qname == (_escaped(raw) if raw else "")


def test_names_pointing_back_to_a_question_read_alike_whatever_its_labels() -> None:
    """An answer that is only a pointer to its question takes the question's name as
    read; a pointer into the middle of it, or past a label, is read label by label."""
    question = b"\x03API\x04ex\\m\x03com\x00"  # upper case and a backslash: escaped
    records = b""
    for pointer in (b"\xc0\x0c", b"\xc0\x10", b"\x01x\xc0\x0c"):
        records += pointer + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x0a\x00\x00\x01"
    wire = header(flags=0x8180, an=3) + question + b"\x00\x01\x00\x01" + records
    packet = parse_dns(wire)
    assert packet is not None
    assert packet.questions[0].qname == "api.ex\\\\m.com"
    assert [r.name for r in packet.answers] == [
        "api.ex\\\\m.com",
        "ex\\\\m.com",
        "x.api.ex\\\\m.com",
    ]


# -- the native walk (_dns.c) against the Python parser ------------------------

NATIVE = pytest.mark.skipif(dns.NATIVE is None, reason="built without the C module")

_LABEL = st.one_of(
    st.sampled_from([b"api", b"Log", b"umeng", b"com", b"a.b", b"x\\y", b"caf\xe9", b" "]),
    st.binary(min_size=1, max_size=63),
)


@st.composite
def _names(draw: st.DrawFn, offsets: list[int]) -> bytes:
    """A name on the wire: labels, then the root or a pointer (often to an earlier
    offset of the message, sometimes anywhere); now and then a broken ending."""
    labels = draw(st.lists(_LABEL, max_size=6))
    out = b"".join(bytes([len(label)]) + label for label in labels)
    ending = draw(st.sampled_from(["root", "root", "pointer", "any", "reserved", "cut"]))
    if ending == "pointer" and offsets:
        return out + struct.pack("!H", 0xC000 | draw(st.sampled_from(offsets)))
    if ending == "any":
        return out + struct.pack("!H", 0xC000 | draw(st.integers(0, 0x3FFF)))
    if ending == "reserved":
        return out + bytes([draw(st.sampled_from([0x40, 0x80])) | 1, 0])
    if ending == "cut":
        return out[: draw(st.integers(0, len(out)))]
    return out + b"\x00"


_RDATA = {
    1: st.binary(min_size=4, max_size=4),
    28: st.binary(min_size=16, max_size=16),
    16: st.binary(max_size=30),
    99: st.binary(max_size=12),
}


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    """DNS messages with questions and records of many kinds, compression pointers
    among them, counts that may lie, and a tail that may be cut anywhere."""
    qd, an = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    wire = bytearray(header(draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)), qd, an))
    offsets: list[int] = []
    for _ in range(qd):
        offsets.append(len(wire))
        wire += draw(_names(offsets)) + struct.pack("!HH", draw(st.integers(0, 300)), 1)
    for _ in range(an):
        offsets.append(len(wire))
        wire += draw(_names(offsets))
        rtype = draw(st.sampled_from([1, 28, 5, 2, 12, 15, 33, 6, 16, 99]))
        if rtype in _RDATA:
            rdata = draw(_RDATA[rtype])
        else:  # names, after the numbers MX (2 bytes), SRV (6) and SOA (20, after) carry
            offsets.append(len(wire) + 10)
            lead = {15: 2, 33: 6}.get(rtype, 0)
            rdata = bytes(lead) + draw(_names(offsets))
            if rtype == 6:
                rdata += draw(_names(offsets)) + bytes(draw(st.sampled_from([20, 12])))
        length = len(rdata) + draw(st.sampled_from([0, 0, 0, 3, -1]))
        wire += struct.pack("!HHIH", rtype, 1, 60, max(0, length)) + rdata
    cut = draw(st.sampled_from([None, None, *range(len(wire))]))
    return bytes(wire if cut is None else wire[:cut])


@NATIVE
@settings(max_examples=400, deadline=None)
@given(_messages())
def test_native_walk_reads_messages_as_the_python_parser_does(wire: bytes) -> None:
    assert parse_dns(wire) == dns.parse_dns_python(wire)


@NATIVE
@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 320))
def test_native_walk_agrees_on_arbitrary_bytes(data: bytes, pos: int) -> None:
    for wire in (data, header(qd=2, an=3) + data):
        assert parse_dns(wire) == dns.parse_dns_python(wire)
    assert dns.NATIVE is not None
    native = dns.NATIVE.read_name(data, pos)
    try:
        expected: tuple[str, int] | None = dns.read_name(data, pos)
    except dns._Malformed:
        expected = None
    assert native == expected


@NATIVE
def test_native_walk_takes_any_buffer_and_the_longest_names() -> None:
    label = bytes(range(128, 191))  # 63 bytes, every one written as \DDD
    name = (bytes([63]) + label) * 3 + bytes([61]) + label[:61] + b"\x00"  # 255 on the wire
    wire = header() + name + b"\x00\x01\x00\x01"
    packet = parse_dns(memoryview(wire))
    assert packet is not None and packet == dns.parse_dns_python(wire)
    assert len(packet.questions[0].qname) == 3 * (63 * 4 + 1) + 61 * 4
    too_long = header() + (bytes([63]) + label) * 4 + b"\x00" + b"\x00\x01\x00\x01"
    assert parse_dns(bytearray(too_long)) is None is dns.parse_dns_python(too_long)
