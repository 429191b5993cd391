"""DNS parser: names, compression safety, record values, TCP framing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

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
