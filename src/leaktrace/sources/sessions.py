"""Per-flow protocol state: what the device's bytes on one flow are, turned into Messages.

Sans-IO: it sees in-order flow data and yields Messages, so any packet source
(pcap today, other capture back ends later) shares it. It also keeps the
flow's share of the coverage figures, because only it knows whether a flow's
bytes were read or stayed opaque.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leaktrace.protocols.dns import parse_dns, split_tcp_dns
from leaktrace.protocols.sniff import sniff_stream
from leaktrace.protocols.tls import HelloBuffer
from leaktrace.sources.appstream import AppItem, AppStream, ChannelParts, RawBytes, sniff_mode
from leaktrace.sources.dnsmap import DnsMap
from leaktrace.sources.flows import FlowData, FlowState
from leaktrace.tls.keylog import KeyLog
from leaktrace.types import (
    Diagnostic,
    HostBasis,
    HttpRequest,
    Message,
    MessageKind,
    TlsHello,
    Transport,
)

# QUIC and TLS decryption (cryptography) load when a flow first needs them.
if TYPE_CHECKING:
    from leaktrace.protocols.http3 import Http3Reader
    from leaktrace.protocols.quic import QuicHelloReader
    from leaktrace.protocols.quic_app import QuicAppReader, StreamChunk
    from leaktrace.tls.connection import TlsDecryptor

RAW_CHUNK_BYTES = 64 << 10  # raw payloads are scanned in chunks of at most this size
SNIFF_LIMIT = 64  # bytes after which an unrecognised flow is treated as raw
QUIC_SERVER_PACKETS = 32  # a server's 1-RTT packets opened for its SETTINGS, at most

DecodedItem = Message | Diagnostic


@dataclass(slots=True)
class FlowOutcome:
    """What a finished flow contributed to coverage."""

    decoded: bool
    opaque_reason: str | None
    bytes_outbound: int
    bytes_decoded: int
    bytes_opaque: int


class FlowSession:
    """Protocol detection and message building for one flow."""

    __slots__ = (
        "_app",
        "_app_start",
        "_dns_tcp_buf",
        "_dns_tcp_rbuf",
        "_h3",
        "_hello",
        "_last_host",
        "_origin",
        "_pending",
        "_quic",
        "_quic_app",
        "_quic_first",
        "_quic_server",
        "_raw",
        "_raw_frame",
        "_raw_transport",
        "_raw_ts",
        "_tls",
        "bytes_decoded",
        "bytes_opaque",
        "bytes_outbound",
        "depth",
        "dns_map",
        "flow",
        "keylog",
        "kind",
        "opaque_reason",
        "sni_host",
    )

    def __init__(
        self, flow: FlowState, origin: str, dns_map: DnsMap, keylog: KeyLog | None = None
    ) -> None:
        self.flow = flow
        self._origin = origin
        self.dns_map = dns_map
        self.keylog = keylog
        self.kind: str | None = None  # "http" | "mqtt" | "tls" | "dns" | "quic" | "raw"
        self._pending = b""
        # The application stream: plain HTTP/MQTT, or what TLS decryption yields.
        self._app: AppStream | None = None
        # When the first byte of the HTTP/1 request being read arrived (None: none held).
        self._app_start: float | None = None
        self._hello: HelloBuffer | None = None
        self._tls: TlsDecryptor | None = None
        self._quic: QuicHelloReader | None = None
        self._quic_first = (0.0, 0)
        # With the client's traffic secret: its 1-RTT packets opened, HTTP/3 read from them.
        self._quic_app: QuicAppReader | None = None
        self._quic_server: QuicAppReader | None = None  # until the server's SETTINGS are read
        self._h3: Http3Reader | None = None
        self._last_host: tuple[str | None, HostBasis] = (None, "none")
        self._raw_transport: Transport = "tcp"
        self._dns_tcp_buf = b""
        self._dns_tcp_rbuf = b""
        self._raw = bytearray()
        self._raw_ts = 0.0
        self._raw_frame = 0
        self.depth = 0
        self.sni_host: str | None = None
        self.bytes_outbound = 0
        self.bytes_decoded = 0
        self.bytes_opaque = 0
        self.opaque_reason: str | None = None

    @property
    def held_bytes(self) -> int:
        """Bytes this flow keeps for messages not yet complete (what closing it would free)."""
        held = len(self._pending) + len(self._raw)
        held += len(self._dns_tcp_buf) + len(self._dns_tcp_rbuf)
        for part in (self._app, self._hello, self._tls, self._quic, self._h3):
            if part is not None:
                held += part.held_bytes
        return held

    # -- events -------------------------------------------------------------

    def on_data(self, ev: FlowData) -> Iterator[DecodedItem]:
        if ev.is_orig:
            self.bytes_outbound += len(ev.data)
        if self.flow.key.proto == 17:
            yield from self._on_datagram(ev)
            return
        if not ev.is_orig:
            if self.kind == "dns":
                yield from self._on_tcp_dns_bytes(ev.data, ev.ts, ev.frame, from_client=False)
            elif self._tls is not None:
                yield from self._on_tls_server(ev)
            return
        if self.kind is None:
            yield from self._sniff_client(ev.data, ev.ts, ev.frame)
        else:
            yield from self._on_client_bytes(ev.data, ev.ts, ev.frame)

    def _sniff_client(self, data: bytes, ts: float, frame: int) -> Iterator[DecodedItem]:
        """A client stream's first bytes, held until they tell what it speaks."""
        if not self._pending:
            self._app_start = ts
        self._pending += data
        verdict = sniff_stream(self._pending, 6, self.flow.key.orig_p, self.flow.key.resp_p)
        if len(self._pending) < SNIFF_LIMIT and (
            verdict == "need_more"
            # the start of an HTTP/2 preface, cut by a small first segment
            or (verdict == "unknown" and sniff_mode(self._pending) is None)
        ):
            return
        self._start(verdict, self._pending)
        data, self._pending = self._pending, b""
        yield from self._on_client_bytes(data, ts, frame)

    def on_close(self, ts: float) -> Iterator[DecodedItem]:
        if self._pending:
            self._start("unknown", self._pending)
            data, self._pending = self._pending, b""
            yield from self._on_client_bytes(data, ts, 0)
        if self._app is not None:
            yield from self._app_items(self._app, self._app.close(), ts, 0, self._app_start)
        if self._hello is not None and self._hello.hello is None and self.kind == "tls":
            self.opaque_reason = "tls_incomplete_hello"
        elif self._tls is not None:
            self._tls_outcome()
        if self._quic is not None and self._quic.status == "need_more":
            self._quic.close()
            yield from self._quic_hello()
        if self._h3 is not None:
            yield from self._h3_items(self._h3.close(), ts, 0)
            self._quic_outcome()
        yield from self._flush_raw()

    def outcome(self) -> FlowOutcome:
        return FlowOutcome(
            decoded=self.kind in ("http", "mqtt", "dns", "tls", "quic")
            and self.opaque_reason is None,
            opaque_reason=self.opaque_reason,
            bytes_outbound=self.bytes_outbound,
            bytes_decoded=self.bytes_decoded,
            bytes_opaque=self.bytes_opaque,
        )

    # -- protocol dispatch --------------------------------------------------

    def _start(self, verdict: str, first_bytes: bytes) -> None:
        mode = sniff_mode(first_bytes) if verdict not in ("http", "tls", "dns") else None
        if verdict == "http" or mode == "http2":
            self.kind = "http"
            self._app = AppStream("http" if verdict == "http" else "http2", tunnels=True)
        elif mode == "mqtt":
            self.kind = "mqtt"
            self._app = AppStream("mqtt")
        elif verdict == "tls":
            self.kind = "tls"
            self._hello = HelloBuffer()
            if self.keylog:
                # Decryption needs the ServerHello: the server's bytes are read until then.
                from leaktrace.tls.connection import TlsDecryptor

                self._tls = TlsDecryptor(self.keylog)
                self.flow.want_resp = True
        elif verdict == "dns":
            self.kind = "dns"
            self.flow.want_resp = True
        else:
            self.kind = "raw"
            self.opaque_reason = "unknown_protocol"
        if self._app is None:
            self._app_start = None  # no application stream reads it: no request starts here

    def _on_client_bytes(self, data: bytes, ts: float, frame: int) -> Iterator[DecodedItem]:
        kind = self.kind
        if kind in ("http", "mqtt"):
            app = self._app
            assert app is not None
            yield from self._feed_app(app, data, ts, frame)
            if app.mode == "tunnel":
                yield from self._enter_tunnel(app, ts, frame)
        elif kind == "tls":
            assert self._hello is not None
            if self._tls is not None:
                yield from self._tls_client(data, ts, frame)
            if self._hello.hello is not None or self.opaque_reason == "not_tls":
                if self._tls is None or self._tls.failure is not None:
                    self.bytes_opaque += len(data)
                return
            state = self._hello.feed(data)
            if self._hello.diagnostics:
                yield from self._hello.diagnostics
                self._hello.diagnostics.clear()
            if state == "done" and self._hello.hello is not None:
                self.bytes_decoded += len(data)
                if self._tls is None:
                    self.opaque_reason = "tls_without_keys"
                yield self._tls_message(self._hello.hello, ts, frame, "tls", MessageKind.TLS_HELLO)
            elif state == "not_tls":
                self.kind = "raw"
                self.opaque_reason = "unknown_protocol"
                yield from self._add_raw(data, ts, frame)
            else:
                self.bytes_decoded += len(data)
        elif kind == "dns":
            yield from self._on_tcp_dns_bytes(data, ts, frame)
        else:
            yield from self._add_raw(data, ts, frame)

    def _enter_tunnel(self, app: AppStream, ts: float, frame: int) -> Iterator[DecodedItem]:
        """After a CONNECT through an HTTP proxy, the client's bytes are a new stream.

        A capture taken between a device and its proxy holds TLS to the named host
        inside the tunnel: it is read as a connection of its own (named by its SNI,
        decrypted with the key log). The proxy's answer to the CONNECT precedes any
        server byte TLS reads, and nothing reads it until then.
        """
        tunneled = app.take_tunneled()
        self.kind, self._app, self._app_start = None, None, None
        if tunneled:
            yield from self._sniff_client(tunneled, ts, frame)

    def _on_datagram(self, ev: FlowData) -> Iterator[DecodedItem]:
        key = self.flow.key
        if self.kind is None:
            verdict = sniff_stream(ev.data, 17, key.orig_p, key.resp_p)
            if verdict == "dns":
                self.kind = "dns"
            elif verdict == "quic":
                self.kind = "quic"
                self.opaque_reason = "quic_without_keys"
                from leaktrace.protocols.quic import QuicHelloReader

                self._quic = QuicHelloReader()
                self._quic_first = (ev.ts, ev.frame)
            else:
                self.kind = "raw"
                self.opaque_reason = "unknown_protocol"
                if not ev.is_orig:
                    return
        if self.kind == "dns":
            yield from self._dns_datagram(ev.data, ev.ts, ev.frame, ev.is_orig)
        elif not ev.is_orig:
            if self._quic_server is not None:
                yield from self._on_quic_server(ev)
        elif self.kind == "quic":
            yield from self._on_quic_client(ev)
        else:
            self.bytes_opaque += len(ev.data)
            yield self._raw_message(ev.data, ev.ts, ev.frame, "udp")

    # -- DNS ----------------------------------------------------------------

    def _dns_datagram(
        self, data: bytes, ts: float, frame: int, from_client: bool
    ) -> Iterator[DecodedItem]:
        packet = parse_dns(data)
        if from_client:
            self.bytes_decoded += len(data)
        if packet is None:
            yield Diagnostic("dns_malformed", f"{len(data)} bytes", ts, self.flow.community_id)
            return
        if packet.is_response:
            self.dns_map.learn_from(packet)
            return
        for question in packet.questions:
            named: tuple[str | None, HostBasis] = (question.qname, "qname")
            yield self._message(MessageKind.DNS, "dns", named, ts, frame, dns=question)

    def _on_tcp_dns_bytes(
        self, data: bytes, ts: float, frame: int, from_client: bool = True
    ) -> Iterator[DecodedItem]:
        if from_client:
            messages, self._dns_tcp_buf = split_tcp_dns(self._dns_tcp_buf + data)
        else:
            messages, self._dns_tcp_rbuf = split_tcp_dns(self._dns_tcp_rbuf + data)
        for msg in messages:
            yield from self._dns_datagram(msg, ts, frame, from_client)

    # -- raw ----------------------------------------------------------------

    def _add_raw(self, data: bytes, ts: float, frame: int) -> Iterator[DecodedItem]:
        self.bytes_opaque += len(data)
        yield from self._raw_chunk(data, ts, frame)

    def _raw_chunk(self, data: bytes, ts: float, frame: int) -> Iterator[DecodedItem]:
        """Collect raw bytes into scan-sized chunks (accounting is the caller's)."""
        if not self._raw:
            self._raw_ts, self._raw_frame = ts, frame
        self._raw += data
        while len(self._raw) >= RAW_CHUNK_BYTES:
            chunk = bytes(self._raw[:RAW_CHUNK_BYTES])
            del self._raw[:RAW_CHUNK_BYTES]
            yield self._raw_message(chunk, self._raw_ts, self._raw_frame, self._raw_transport)
            self._raw_ts, self._raw_frame = ts, frame

    def _flush_raw(self) -> Iterator[DecodedItem]:
        if self._raw:
            chunk = bytes(self._raw)
            self._raw.clear()
            yield self._raw_message(chunk, self._raw_ts, self._raw_frame, self._raw_transport)

    # -- application streams, TLS and QUIC -------------------------------------------

    def _feed_app(
        self, app: AppStream, data: bytes, ts: float, frame: int
    ) -> Iterator[DecodedItem]:
        """``data`` through an application stream, an HTTP/1 request timed by its first byte.

        The proxy times a request by its first byte (mitmproxy's ``timestamp_start``),
        HAR files by when it started, and a raw chunk here is timed so too: an upload
        that began before consent was given began before it, however long it took to
        arrive or however late a memory bound closed it. HTTP/1 requests follow one
        another on a connection, so the bytes held between calls are the start of the
        next one; HTTP/2 streams interleave, and keep the time they completed.
        """
        before = app.mode
        started = self._app_start if self._app_start is not None else ts
        items = app.feed(data)
        http1 = before == "http" or app.mode == "http"
        if app.mode in ("http", "sniff") and app.held_bytes:
            done = any(isinstance(item, HttpRequest) for item in items)
            self._app_start = ts if done else started
        else:
            self._app_start = None
        yield from self._app_items(app, items, ts, frame, started if http1 else None)

    def _app_items(
        self,
        app: AppStream,
        items: list[AppItem],
        ts: float,
        frame: int,
        started: float | None = None,
    ) -> Iterator[DecodedItem]:
        """Messages from an application stream's items; its byte counts join the flow's.

        ``started`` times the first HTTP request among them (see ``_feed_app``)."""
        secure = self._tls is not None
        if not secure:  # a plain stream's bytes are the flow's own (TLS counts its records)
            self.bytes_decoded += app.bytes_decoded
            self.bytes_opaque += app.bytes_opaque
            app.bytes_decoded = app.bytes_opaque = 0
            if app.opaque_reason is not None:
                self.opaque_reason = self.opaque_reason or app.opaque_reason
        for item in items:
            if isinstance(item, HttpRequest):
                at = ts if started is None else started
                started = None
                msg = self._http_message(item, at, frame, "https" if secure else "http")
                self._last_host = (msg.host, msg.host_basis)  # names a WebSocket that follows
                yield msg
            elif isinstance(item, ChannelParts):
                yield self._channel_message(item, ts, frame, app.mode, secure)
            elif isinstance(item, RawBytes):
                self._raw_transport = "tls" if secure else "tcp"
                yield from self._raw_chunk(item.data, ts, frame)
            else:
                yield _with_flow(item, ts, self.flow.community_id)

    def _tls_client(self, data: bytes, ts: float, frame: int) -> Iterator[DecodedItem]:
        tls = self._tls
        assert tls is not None
        chunks = tls.client_data(data)
        if tls.failure is None and self._hello is not None and self._hello.hello is not None:
            self.bytes_decoded += len(data)
        yield from self._tls_plaintext(chunks, ts, frame)

    def _on_tls_server(self, ev: FlowData) -> Iterator[DecodedItem]:
        tls = self._tls
        assert tls is not None
        chunks = tls.server_data(ev.data)
        if not tls.wants_server:
            self.flow.want_resp = False  # the rest of the download does not matter
        yield from self._tls_plaintext(chunks, ev.ts, ev.frame)

    def _tls_plaintext(self, chunks: list[bytes], ts: float, frame: int) -> Iterator[DecodedItem]:
        tls = self._tls
        assert tls is not None
        if tls.diagnostics:
            for diag in tls.diagnostics:
                yield _with_flow(diag, ts, self.flow.community_id)
            tls.diagnostics.clear()
        if not chunks:
            return
        if self._app is None:
            self._app = AppStream()
        for chunk in chunks:
            yield from self._feed_app(self._app, chunk, ts, frame)

    def _tls_outcome(self) -> None:
        """The coverage reason of a TLS flow read with a key log."""
        tls = self._tls
        assert tls is not None
        if tls.failure is not None:
            self.opaque_reason = tls.failure
        elif tls.decrypted_records == 0:
            self.opaque_reason = "tls_no_app_data"
        elif self._app is not None and self._app.opaque_reason is not None:
            self.opaque_reason = self._app.opaque_reason

    def _on_quic_client(self, ev: FlowData) -> Iterator[DecodedItem]:
        quic = self._quic
        read = False  # this datagram was read: the ClientHello's, or a packet opened
        if quic is not None and quic.status == "need_more":
            # The ClientHello's datagrams are read (the Initial keys are public), as a
            # TLS hello's records are; a hello spread over several counts them all.
            if quic.feed(ev.data) == "need_more":
                self.bytes_decoded += len(ev.data)
                return
            self._quic_first = (ev.ts, ev.frame)
            yield from self._quic_hello()
            self._start_quic_app(quic)  # 0-RTT packets may share the hello's datagram
            read = quic.hello is not None
        app, h3 = self._quic_app, self._h3
        chunks: list[StreamChunk] = []
        if app is not None and h3 is not None:
            opened = app.opened
            chunks = app.feed(ev.data)
            if app.opened > opened:
                read = True
                self.opaque_reason = None
        if read:
            self.bytes_decoded += len(ev.data)
        else:
            self.bytes_opaque += len(ev.data)
        if chunks and h3 is not None:
            yield from self._h3_items(h3.feed(chunks), ev.ts, ev.frame)

    def _start_quic_app(self, quic: QuicHelloReader) -> None:
        """Read on with the key log's client traffic secret, for an HTTP/3 connection."""
        hello = quic.hello
        if not self.keylog or hello is None or quic.client_random is None or quic.dcid is None:
            return
        if "h3" not in hello.alpn:
            return  # stream data of another protocol (DNS over QUIC, say) stays opaque
        secret = self.keylog.get(quic.client_random, "CLIENT_TRAFFIC_SECRET_0")
        if secret is None:
            return  # stays quic_without_keys
        from leaktrace.protocols.http3 import Http3Reader
        from leaktrace.protocols.quic import VERSION_1
        from leaktrace.protocols.quic_app import QuicAppReader

        version = quic.version or VERSION_1
        early = self.keylog.get(quic.client_random, "CLIENT_EARLY_TRAFFIC_SECRET")
        self._quic_app = QuicAppReader(secret, quic.dcid, early_secret=early, version=version)
        self._h3 = Http3Reader()
        self.opaque_reason = "quic_no_app_data"  # until a 1-RTT packet opens
        server_secret = self.keylog.get(quic.client_random, "SERVER_TRAFFIC_SECRET_0")
        if server_secret is not None and quic.client_cid is not None:
            cid_len = len(quic.client_cid)
            self._quic_server = QuicAppReader(server_secret, cid_len=cid_len, version=version)

    def _on_quic_server(self, ev: FlowData) -> Iterator[DecodedItem]:
        """The server's first 1-RTT packets, for the QPACK table size its SETTINGS give."""
        server, h3 = self._quic_server, self._h3
        assert server is not None and h3 is not None
        items = h3.server(server.feed(ev.data))
        if h3.server_settings is not None or server.opened + server.failed >= QUIC_SERVER_PACKETS:
            self._quic_server = None  # the rest is the server's answers: never read
        yield from self._h3_items(items, ev.ts, ev.frame)

    def _h3_items(
        self, items: list[HttpRequest | Diagnostic], ts: float, frame: int
    ) -> Iterator[DecodedItem]:
        for item in items:
            if isinstance(item, HttpRequest):
                yield self._http_message(item, ts, frame, "https")
            else:
                yield _with_flow(item, ts, self.flow.community_id)

    def _quic_outcome(self) -> None:
        app = self._quic_app
        if app is not None and app.opened == 0:
            self.opaque_reason = "quic_decrypt_failed" if app.failed else "quic_no_app_data"

    def _quic_hello(self) -> Iterator[DecodedItem]:
        quic = self._quic
        assert quic is not None
        for diag in quic.diagnostics:
            yield _with_flow(diag, self._quic_first[0], self.flow.community_id)
        quic.diagnostics.clear()
        hello = quic.hello or TlsHello(sni=None)
        ts, frame = self._quic_first
        yield self._tls_message(hello, ts, frame, "quic", MessageKind.QUIC_HELLO)

    # -- message builders ---------------------------------------------------

    def _name(self) -> tuple[str | None, HostBasis]:
        name = self.dns_map.name_of(self.flow.key.resp_h)
        return (name, "dns") if name else (None, "none")

    def _http_message(
        self, req: HttpRequest, ts: float, frame: int, transport: Transport = "http"
    ) -> Message:
        host, basis = _http_host(req)
        if host is None:
            host, basis = self._sni_or_name()
        return self._message(MessageKind.HTTP, transport, (host, basis), ts, frame, http=req)

    def _tls_message(
        self, hello: TlsHello, ts: float, frame: int, transport: Transport, kind: MessageKind
    ) -> Message:
        named = (hello.sni.lower(), "sni") if hello.sni else self._name()
        return self._message(kind, transport, named, ts, frame, tls=hello)

    def _channel_message(
        self, item: ChannelParts, ts: float, frame: int, mode: str, secure: bool
    ) -> Message:
        named = self._last_host if self._last_host[0] is not None else self._sni_or_name()
        transport: Transport
        if mode == "websocket":
            transport = "https" if secure else "http"
        else:
            transport = "tls" if secure else "tcp"
        return self._message(
            MessageKind.RAW,
            transport,
            named,
            ts,
            frame,
            payload_truncated=item.truncated,
            parts=item.parts,
        )

    def _sni_or_name(self) -> tuple[str | None, HostBasis]:
        """The TLS server name of a decrypted flow, else the DNS name of its address."""
        hello = self._hello.hello if self._hello is not None else None
        if hello is not None and hello.sni:
            return hello.sni.lower(), "sni"
        return self._name()

    def _raw_message(self, data: bytes, ts: float, frame: int, transport: Transport) -> Message:
        named = self._sni_or_name()
        return self._message(MessageKind.RAW, transport, named, ts, frame, payload=data)

    def _message(
        self,
        kind: MessageKind,
        transport: Transport,
        named: tuple[str | None, HostBasis],
        ts: float,
        frame: int,
        **content: Any,
    ) -> Message:
        """Number the flow's next message and fill in what every message of this flow shares."""
        self.depth += 1
        return Message(
            ts=ts,
            flow=self.flow.key,
            community_id=self.flow.community_id,
            transport=transport,
            kind=kind,
            host=named[0],
            host_basis=named[1],
            origin=f"{self._origin}#{frame}",
            trans_depth=self.depth,
            **content,
        )


def _http_host(req: HttpRequest) -> tuple[str | None, HostBasis]:
    """The host a request names: absolute-form target first (proxies), then Host."""
    target = req.target
    if "://" in target[:10]:
        authority = target.split("://", 1)[1].split("/", 1)[0]
        return strip_port(authority), "header"
    host = req.header("host")
    if host:
        return strip_port(host.strip()), "header"
    return None, "none"


def strip_port(authority: str) -> str:
    """``Host`` header value to a bare lower-case host name (IPv6 brackets removed)."""
    authority = authority.rsplit("@", 1)[-1]
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0].lower()
    if authority.count(":") == 1:
        authority = authority.split(":", 1)[0]
    return authority.lower().rstrip(".")


def _with_flow(diag: Diagnostic, ts: float, flow: str) -> Diagnostic:
    """A parser's diagnostic stamped with the flow and time it happened in."""
    if diag.flow is not None:
        return diag
    return Diagnostic(diag.name, diag.detail, diag.ts if diag.ts is not None else ts, flow)
