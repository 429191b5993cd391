"""The narrow types passed between pipeline stages.

Every stage takes and returns these frozen records and nothing dict-shaped, so
that a pcap source and the proxy can feed the same decoders and detectors and
give the same findings for the same traffic.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Literal, TypeVar

_R = TypeVar("_R")


def slot_init(cls: type[_R]) -> type[_R]:
    """Give a frozen slotted dataclass an ``__init__`` that writes each slot through
    its descriptor, the same values with the same defaults.

    A frozen dataclass's own ``__init__`` goes through ``object.__setattr__`` by
    name for every field, which makes building one of these records take about
    1.7 times as long; fields, detections and findings are built per value on
    the hot path.
    """
    namespace: dict[str, object] = {}
    params: list[str] = []
    lines: list[str] = []
    for f in fields(cls):  # type: ignore[arg-type]
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        lines.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines) + "\n"
    exec(source, namespace)  # as dataclasses itself builds __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    setattr(cls, "__init__", init)  # noqa: B010 - mypy forbids assigning a method
    return cls


Transport = Literal["http", "https", "dns", "tls", "quic", "tcp", "udp"]
Party = Literal["first", "third", "unknown"]
DetectionMethod = Literal["pattern", "profile"]
HostBasis = Literal["header", "sni", "dns", "qname", "proxy", "none"]


class MessageKind(StrEnum):
    """What one outbound unit is; decides which decoders see it."""

    HTTP = "http"
    DNS = "dns"
    TLS_HELLO = "tls_hello"
    QUIC_HELLO = "quic_hello"
    RAW = "raw"


@slot_init
@dataclass(frozen=True, slots=True)
class FlowKey:
    """A connection's 5-tuple, oriented from the device (orig) to the server (resp).

    Field names follow Zeek's ``conn_id`` so findings join Zeek logs.
    """

    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: int  # IP protocol number: 6 TCP, 17 UDP

    @property
    def src(self) -> str:
        return _join_host_port(self.orig_h, self.orig_p)

    @property
    def dst(self) -> str:
        return _join_host_port(self.resp_h, self.resp_p)


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@slot_init
@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request as sent; the body is de-chunked but still content-encoded."""

    method: str
    target: str  # request-target as on the wire: origin form, absolute form or authority
    version: str  # "HTTP/1.1", "HTTP/2"
    headers: tuple[tuple[str, str], ...]  # in wire order, names as sent
    body: bytes = b""
    body_truncated: bool = False

    def header(self, name: str) -> str | None:
        """First value of a header, matched case-insensitively."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


@slot_init
@dataclass(frozen=True, slots=True)
class DnsQuestion:
    qname: str  # lower case, no trailing dot
    qtype: int


@slot_init
@dataclass(frozen=True, slots=True)
class TlsHello:
    """What a TLS or QUIC ClientHello says in the clear."""

    sni: str | None
    alpn: tuple[str, ...] = ()
    version: str | None = None  # highest offered, e.g. "TLS1.3"


@slot_init
@dataclass(frozen=True, slots=True)
class Message:
    """One outbound unit from the device, whichever source produced it.

    ``origin`` says where its bytes came from (``pcap:<file>#<frame>`` or
    ``proxy``) so evidence can be traced back.
    """

    ts: float
    flow: FlowKey
    community_id: str
    transport: Transport
    kind: MessageKind
    host: str | None
    host_basis: HostBasis
    origin: str
    trans_depth: int = 1  # 1-based index of this message within its flow
    http: HttpRequest | None = None
    dns: DnsQuestion | None = None
    tls: TlsHello | None = None
    payload: bytes = b""  # raw fallback bytes (kind RAW)
    payload_truncated: bool = False
    # Named values of a channel message (WebSocket, MQTT): (chain step, value), e.g.
    # ("mqtt:connect:client_id", b"..."); each is decoded like any other value.
    parts: tuple[tuple[str, bytes], ...] = ()


@slot_init
@dataclass(frozen=True, slots=True)
class Field:
    """A decoded value and the decoder chain that reached it.

    ``where`` is the chain as shown to users, e.g.
    ``body>form:data>base64>json:$.properties.$imei``. ``key`` is the nearest
    key name (query parameter, JSON key, header name), used as a hint.
    """

    where: str
    value: bytes
    key: str | None = None
    # The elements of one list joined by commas (``json:$.apps[*]``): scanned only by
    # the patterns for lists of values (``over_lists``), as each element is scanned alone.
    joined: bool = False


@slot_init
@dataclass(frozen=True, slots=True)
class Detection:
    """An identifier found in one field, before attribution.

    ``value`` is the identifier in its canonical plain form (never a hash), so
    the same identifier found two ways dedupes; it is masked before it leaves
    the pipeline unless the user asked to reveal.
    """

    type: str  # identifier type id, e.g. "imei"
    value: str
    method: DetectionMethod
    confidence: float
    where: str
    form: str = "plain"  # how it was carried: plain, md5, sha256, base64, bd09, ...
    evidence: tuple[str, ...] = ()  # e.g. ("luhn_ok", "key:imei")


@slot_init
@dataclass(frozen=True, slots=True)
class Attribution:
    host: str | None
    registrable_domain: str | None
    party: Party
    sdk: str | None  # signature id
    sdk_name: str | None = None
    basis: str = "none"  # how the SDK was matched: "domain:umeng.com", "path:/sa", ...


@slot_init
@dataclass(frozen=True, slots=True)
class Finding:
    """An identifier that left the device: the record users and policy act on."""

    ts: float
    flow: str  # Community ID v1
    src: str
    dst: str
    host: str | None
    transport: Transport
    party: Party
    sdk: str | None
    type: str
    method: DetectionMethod
    confidence: float
    where: str
    form: str
    value: str  # masked unless revealed
    origin: str
    trans_depth: int = 1
    evidence: tuple[str, ...] = ()


@slot_init
@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An anomaly or a bound that was hit: recorded and analysis goes on (Zeek's "weird")."""

    name: str  # "tcp_gap", "decode_limit", "capture_truncated", ...
    detail: str
    ts: float | None = None
    flow: str | None = None
    offset: int | None = None  # byte offset in the capture file, when known


@slot_init
@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """A mark on a session's timeline (``consent``, ``login``, ``screen:Settings``, ...).

    ``ts`` is wall-clock seconds, comparable with finding timestamps; ``mono``
    is the monotonic clock of the process that recorded it, for ordering
    within one live session.
    """

    ts: float
    name: str
    data: tuple[tuple[str, str], ...] = ()
    mono: float | None = None


@dataclass(slots=True)
class Coverage:
    """How much of the traffic was actually read, so a clean result is never over-claimed."""

    flows: int = 0
    flows_decoded: int = 0
    flows_opaque: int = 0
    bytes_outbound: int = 0
    bytes_decoded: int = 0
    bytes_opaque: int = 0
    opaque_reasons: dict[str, int] = field(default_factory=dict)
