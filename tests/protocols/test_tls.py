"""TLS ClientHello: real hellos from Python's ssl module, record reassembly, bounds."""

from __future__ import annotations

import contextlib
import ssl
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.protocols.tls import HelloBuffer, parse_client_hello
from leaktrace.types import TlsHello


def client_hello_bytes(server_hostname: str | None, alpn: list[str] | None = None) -> bytes:
    """The first flight of a real TLS client, as it would be on the wire."""
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    if server_hostname is None:
        ctx.check_hostname = False
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with contextlib.suppress(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


def handshake_of(records: bytes) -> bytes:
    """Concatenate the handshake fragments of a record stream."""
    out = b""
    pos = 0
    while pos < len(records):
        length = struct.unpack("!H", records[pos + 3 : pos + 5])[0]
        out += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return out


def as_records(handshake: bytes, size: int) -> bytes:
    return b"".join(
        b"\x16\x03\x01" + struct.pack("!H", len(handshake[i : i + size])) + handshake[i : i + size]
        for i in range(0, len(handshake), size)
    )


def test_real_hello_gives_sni_alpn_and_version() -> None:
    wire = client_hello_bytes("api.example.com", ["h2", "http/1.1"])
    buf = HelloBuffer()
    assert buf.feed(wire) == "done"
    assert buf.hello == TlsHello(sni="api.example.com", alpn=("h2", "http/1.1"), version="TLS1.3")
    assert buf.diagnostics == []


def test_parse_client_hello_takes_the_message_with_its_header() -> None:
    message = handshake_of(client_hello_bytes("ulogs.umeng.com"))
    hello = parse_client_hello(message + b"trailing bytes of a CRYPTO frame")
    assert hello is not None
    assert hello.sni == "ulogs.umeng.com"
    assert hello.alpn == ()
    assert parse_client_hello(message[4:]) is None  # without the header it is not read


def test_no_sni_when_connecting_to_an_address() -> None:
    hello = parse_client_hello(handshake_of(client_hello_bytes(None)))
    assert hello is not None
    assert hello.sni is None


def test_hello_split_over_records_and_segments() -> None:
    message = handshake_of(client_hello_bytes("tsis.jpush.cn", ["http/1.1"]))
    wire = as_records(message, 100)
    buf = HelloBuffer()
    statuses = [buf.feed(wire[i : i + 7]) for i in range(0, len(wire), 7)]
    assert statuses[-1] == "done"
    assert set(statuses[:-1]) == {"need_more"}
    assert buf.hello is not None
    assert buf.hello.sni == "tsis.jpush.cn"
    assert buf.hello.alpn == ("http/1.1",)


def test_not_tls() -> None:
    assert HelloBuffer().feed(b"GET / HTTP/1.1\r\n\r\n") == "not_tls"
    assert HelloBuffer().feed(b"\x17\x03\x03\x00\x10" + b"\x00" * 16) == "not_tls"
    buf = HelloBuffer()
    assert buf.feed(b"\x16\x03") == "need_more"
    assert buf.feed(b"\x01\x00") == "need_more"


def test_hello_claiming_more_than_the_cap() -> None:
    buf = HelloBuffer()
    assert buf.feed(b"\x16\x03\x01\x00\x04\x01\xff\xff\xff") == "done"
    assert buf.hello is None
    assert [d.name for d in buf.diagnostics] == ["tls_hello_limit"]


def test_buffering_is_capped_while_waiting() -> None:
    buf = HelloBuffer(max_bytes=1000)
    message = b"\x01\x00\x03\x00" + b"\x00" * 200  # claims 768 bytes, within the cap
    assert buf.feed(as_records(message, 50)) == "need_more"
    big = HelloBuffer(max_bytes=1000)
    assert big.feed(b"\x16\x03\x01\x40\x00" + b"\x00" * 5000) == "done"
    assert big.hello is None
    assert [d.name for d in big.diagnostics] == ["tls_hello_limit"]


def test_other_record_before_hello_ends() -> None:
    message = handshake_of(client_hello_bytes("a.cn"))
    wire = as_records(message[:50], 50) + b"\x15\x03\x03\x00\x02\x02\x28"
    buf = HelloBuffer()
    assert buf.feed(wire) == "done"
    assert buf.hello is None
    assert buf.diagnostics[0].name == "tls_bad_client_hello"
    assert buf.feed(b"more") == "done"


def test_malformed_hello_is_done_without_result() -> None:
    message = bytearray(handshake_of(client_hello_bytes("a.cn")))
    suites_at = 4 + 2 + 32 + 1 + message[4 + 2 + 32]
    message[suites_at : suites_at + 2] = b"\xff\xff"  # cipher suites run past the message
    buf = HelloBuffer()
    assert buf.feed(as_records(bytes(message), 16384)) == "done"
    assert buf.hello is None
    assert [d.name for d in buf.diagnostics] == ["tls_bad_client_hello"]


def _extension(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def build_hello(extensions: bytes, legacy: int = 0x0303) -> bytes:
    body = struct.pack("!H", legacy) + b"\x00" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    return b"\x01" + len(body).to_bytes(3, "big") + body


def test_versions_grease_and_legacy() -> None:
    grease_and_12 = _extension(43, b"\x04\x0a\x0a\x03\x03")
    assert parse_client_hello(build_hello(grease_and_12)) == TlsHello(None, (), "TLS1.2")
    assert parse_client_hello(build_hello(b"", legacy=0x0301)) == TlsHello(None, (), "TLS1.0")
    assert parse_client_hello(build_hello(b"", legacy=0x9999)) == TlsHello(None, (), None)
    draft = _extension(43, b"\x02\x7f\x1c")
    assert parse_client_hello(build_hello(draft)) == TlsHello(None, (), "TLS1.3")


def test_sni_is_lowercased_without_trailing_dot() -> None:
    name = b"API.Example.COM."
    sni = _extension(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    hello = parse_client_hello(build_hello(sni))
    assert hello is not None and hello.sni == "api.example.com"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    parse_client_hello(data)
    parse_client_hello(b"\x01" + len(data).to_bytes(3, "big") + data)
    buf = HelloBuffer(max_bytes=256)
    buf.feed(b"\x16\x03\x01" + struct.pack("!H", len(data)) + data)
    buf.feed(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 64), st.data())
def test_any_record_and_segment_split_gives_same_hello(
    record_size: int, data: st.DataObject
) -> None:
    message = _REAL
    wire = as_records(message, record_size)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    buf = HelloBuffer()
    status = "need_more"
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        status = buf.feed(wire[a:b])
    assert status == "done"
    assert buf.hello == TlsHello(sni="split.example", alpn=("h2",), version="TLS1.3")


_REAL = handshake_of(client_hello_bytes("split.example", ["h2"]))


def test_held_bytes_are_the_hello_read_so_far() -> None:
    message = handshake_of(client_hello_bytes("tsis.jpush.cn", ["http/1.1"]))
    wire = as_records(message, 100)
    buf = HelloBuffer()
    fed = 0
    for i in range(0, len(wire) - 7, 7):
        assert buf.feed(wire[i : i + 7]) == "need_more"
        fed += len(wire[i : i + 7])
        records_done = (fed // 105) * 5  # each whole 100-byte record's header is dropped
        assert fed - records_done - 5 <= buf.held_bytes <= fed
    assert buf.feed(wire[fed:]) == "done"
    assert buf.hello is not None and buf.hello.sni == "tsis.jpush.cn"
    assert buf.held_bytes == 0  # read: nothing kept for the rest of the flow's life


# -- the offset parser against the cursor parser it replaced ---------------------------


class _Cursor:
    """The bounds-checked cursor the parser used to read with: the reference."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise IndexError
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, len_bytes: int) -> _Cursor:
        length = self.uint(len_bytes)
        if self.pos + length > self.end:
            raise IndexError
        sub = _Cursor(self.data, self.pos, self.pos + length)
        self.pos += length
        return sub

    def remaining(self) -> int:
        return self.end - self.pos


def _reference_hello(data: bytes) -> TlsHello | None:
    try:
        outer = _Cursor(data)
        if outer.uint(1) != 1:
            return None
        msg = outer.vector(3)
        legacy = msg.uint(2)
        msg.take(32)
        msg.vector(1)
        msg.vector(2)
        msg.vector(1)
        sni: str | None = None
        alpn: tuple[str, ...] = ()
        offered: list[int] = []
        if msg.remaining():
            extensions = msg.vector(2)
            if msg.remaining():
                return None
            while extensions.remaining():
                ext_type = extensions.uint(2)
                body = extensions.vector(2)
                if ext_type == 0:
                    sni = None
                    names = body.vector(2)
                    while names.remaining():
                        name_type = names.uint(1)
                        name = names.vector(2)
                        if name_type == 0:
                            raw = name.take(name.remaining())
                            sni = raw.decode("ascii", "backslashreplace").lower().rstrip(".")
                            sni = sni or None
                            break
                elif ext_type == 16:
                    protocols, found = body.vector(2), []
                    while protocols.remaining():
                        proto = protocols.vector(1)
                        found.append(
                            proto.take(proto.remaining()).decode("ascii", "backslashreplace")
                        )
                    alpn = tuple(found)
                elif ext_type == 43:
                    versions = body.vector(1)
                    offered = [versions.uint(2) for _ in range(versions.remaining() // 2)]
    except IndexError:
        return None
    codes = [0x0304 if c & 0xFF00 == 0x7F00 else c for c in offered]
    known = [c for c in codes if c in _NAMES]
    version = _NAMES[max(known)] if known else _NAMES.get(legacy)
    return TlsHello(sni=sni, alpn=alpn, version=version)


_NAMES = {0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1", 0x0303: "TLS1.2", 0x0304: "TLS1.3"}

_length_prefixed = st.binary(max_size=12).map(lambda b: struct.pack("!H", len(b)) + b)
_SNI_BODIES = st.one_of(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([b"", b"a.cn", b"API.Example.", b"\xff"])),
        max_size=3,
    ).map(
        lambda names: (
            struct.pack("!H", sum(3 + len(n) for _, n in names))
            + b"".join(struct.pack("!BH", t, len(n)) + n for t, n in names)
        )
    ),
    st.binary(max_size=8),
)
_ALPN_BODIES = st.lists(st.sampled_from([b"h2", b"http/1.1", b""]), max_size=3).map(
    lambda ps: (
        struct.pack("!H", sum(1 + len(p) for p in ps)) + b"".join(bytes([len(p)]) + p for p in ps)
    )
)
_VERSION_BODIES = st.lists(
    st.sampled_from([0x0304, 0x0303, 0x0A0A, 0x7F1C, 0x0301, 0x9999]), max_size=4
).map(lambda vs: bytes([2 * len(vs)]) + b"".join(struct.pack("!H", v) for v in vs))
_EXTENSIONS = st.lists(
    st.one_of(
        st.tuples(st.just(0), _SNI_BODIES),
        st.tuples(st.just(16), _ALPN_BODIES),
        st.tuples(st.just(43), _VERSION_BODIES | st.binary(max_size=5)),
        st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=6)),
    ),
    max_size=6,
).map(lambda exts: b"".join(_extension(t, body) for t, body in exts))


@settings(max_examples=600, deadline=None)
@given(
    extensions=_EXTENSIONS,
    legacy=st.sampled_from([0x0303, 0x0301, 0x9999]),
    damage=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=2),
    cut=st.integers(0, 400),
    tail=st.binary(max_size=4),
)
def test_offsets_read_what_the_cursor_read(
    extensions: bytes, legacy: int, damage: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    """Well-formed hellos with any extensions, then the same followed by more bytes
    (after the message, or inside it after the extensions), with bytes changed or cut
    short: the parser answers as the cursor parser did."""
    hello = bytearray(build_hello(extensions, legacy))
    body = bytes(hello[4:]) + tail  # bytes after the extensions, inside the message
    cases = [bytes(hello), bytes(hello) + tail, b"\x01" + len(body).to_bytes(3, "big") + body]
    for at, value in damage:
        if at < len(hello):
            hello[at] = value
    cases += [bytes(hello), bytes(hello[:cut])]
    for data in cases:
        assert parse_client_hello(data) == _reference_hello(data)


def test_a_hello_read_again_is_answered_from_the_last_read() -> None:
    """The session and the decryptor of a keyed flow read the same message: the second
    read is the first's answer, and any other message is read afresh."""
    first = handshake_of(client_hello_bytes("again.example", ["h2"]))
    other = handshake_of(client_hello_bytes("other.example"))
    hello = parse_client_hello(first)
    assert hello is not None and hello.sni == "again.example"
    assert parse_client_hello(bytes(bytearray(first))) is hello
    assert parse_client_hello(bytearray(first)) is hello
    assert parse_client_hello(other) == TlsHello("other.example", (), "TLS1.3")
    assert parse_client_hello(first[:-1]) is None  # cut short: another message, read afresh
    assert parse_client_hello(first + b"\x00") == hello  # bytes after it are ignored
    assert parse_client_hello(b"") is None and parse_client_hello(b"") is None
