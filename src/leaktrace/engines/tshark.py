"""A second engine: the same Messages, built from Wireshark's dissectors through pyshark.

The native engine is fast and reads the protocols leaktrace knows; Wireshark
reads hundreds more and has been tested against decades of odd traffic. This
engine runs tshark over the capture (decrypting with ``tls.keylog_file``
when a key log is given), and turns what its dissectors report into the same
``Message`` records the native path makes, so the rest of the pipeline is
shared. It serves as a cross-check of the native parsers and as a way into
protocols they lack. Flows are oriented, named and numbered the way the
native path does it (Community ID, Host header, then SNI, then DNS answers),
so findings from both engines can be compared one to one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from leaktrace.flowid import community_id
from leaktrace.sources.dnsmap import DnsMap
from leaktrace.sources.flows import SERVER_PORTS
from leaktrace.sources.pcap import CaptureError, CaptureReader
from leaktrace.sources.sessions import strip_port
from leaktrace.tls.keylog import KeyLog
from leaktrace.types import (
    Coverage,
    Diagnostic,
    DnsQuestion,
    FlowKey,
    HostBasis,
    HttpRequest,
    Message,
    MessageKind,
    TlsHello,
    Transport,
)

RAW_CHUNK_BYTES: Final = 64 << 10
# Layers that mean a dissector understood the payload (anything else is raw data).
_APP_LAYERS: Final = frozenset(
    {"http", "http2", "websocket", "mqtt", "tls", "ssl", "dns", "mdns", "quic", "gquic"}
)
_PREFS: Final = {
    "http.decompress_body": "FALSE",  # the pipeline's own decoders name each coding step
    "tcp.reassemble_out_of_order": "TRUE",  # as the native reassembler does
}


@dataclass(slots=True)
class _Flow:
    key: FlowKey
    cid: str
    depth: int = 0
    sni: str | None = None
    hello_sent: bool = False
    quic: bool = False
    decoded: bool = False
    tls: bool = False
    last_host: tuple[str | None, HostBasis] = (None, "none")
    raw: bytearray = field(default_factory=bytearray)
    raw_ts: float = 0.0
    raw_frame: int = 0
    proto_seen: bool = False
    outbound: int = 0
    h2: dict[int, tuple[list[tuple[str, str]], bytearray]] = field(default_factory=dict)


class TsharkSource:
    """Iterate a pcap/pcapng file as Messages, dissected by tshark.

    Raises ``CaptureError`` when the file cannot be read at all, like the
    native source, so callers treat both engines alike.
    """

    def __init__(self, path: str | os.PathLike[str], keylog: KeyLog | None = None) -> None:
        self.path = Path(path)
        if shutil.which("tshark") is None or importlib.util.find_spec("pyshark") is None:
            raise CaptureError(
                "the tshark engine needs tshark (Debian package tshark) and pyshark "
                "(pip install 'leaktrace[tshark]')"
            )
        reader = CaptureReader(self.path)  # same up-front checks as the native engine
        self._size = reader.size
        self.keylog = keylog
        self.coverage = Coverage()
        self.frames = 0
        self.damage: Diagnostic | None = None
        self.dns_map = DnsMap()
        self._flows: dict[tuple[str, int, str, int, int], tuple[_Flow, bool]] = {}

    @property
    def size(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Message | Diagnostic]:
        import pyshark  # optional dependency: only this engine needs it

        prefs = dict(_PREFS)
        keyfile: str | None = None
        if self.keylog:
            handle, keyfile = tempfile.mkstemp(prefix="leaktrace-", suffix=".keys")
            with os.fdopen(handle, "w") as out:
                out.write(self.keylog.to_text())
            prefs["tls.keylog_file"] = keyfile
        capture = pyshark.FileCapture(
            str(self.path),
            use_json=True,
            include_raw=True,
            keep_packets=False,
            override_prefs=prefs,
        )
        try:
            for packet in capture:
                self.frames += 1
                yield from self._packet(packet)
        except Exception as exc:  # tshark died or printed something pyshark cannot parse
            self.damage = Diagnostic("tshark_error", _last_line(exc))
        finally:
            try:
                capture.close()
            except Exception as exc:  # pyshark reports tshark's exit code here
                capture._running_processes.clear()  # or pyshark raises again on collection
                if self.damage is None:
                    self.damage = Diagnostic("tshark_error", _last_line(exc))
            if keyfile is not None:
                os.unlink(keyfile)
        for flow, _ in {id(f): (f, o) for f, o in self._flows.values()}.values():
            yield from self._close(flow)
        if self.damage is not None:
            yield self.damage

    # -- packets ----------------------------------------------------------------------

    def _packet(self, packet: Any) -> Iterator[Message | Diagnostic]:
        layers = {layer.layer_name: layer for layer in reversed(packet.layers)}
        names = [layer.layer_name for layer in packet.layers]
        ip = layers.get("ip") or layers.get("ipv6")
        transport = layers.get("tcp") or layers.get("udp")
        if ip is None or transport is None:
            return
        fields_ip = ip._all_fields
        prefix = "ip" if ip.layer_name == "ip" else "ipv6"
        src, dst = fields_ip.get(f"{prefix}.src"), fields_ip.get(f"{prefix}.dst")
        tf = transport._all_fields
        proto = 6 if transport.layer_name == "tcp" else 17
        tname = transport.layer_name
        try:
            sport, dport = int(tf[f"{tname}.srcport"]), int(tf[f"{tname}.dstport"])
        except (KeyError, ValueError):
            return
        if not isinstance(src, str) or not isinstance(dst, str):
            return
        flags = int(str(tf.get("tcp.flags", "0")), 16) if proto == 6 else 0
        flow, is_orig = self._flow(src, sport, dst, dport, proto, flags)
        ts, frame = float(packet.sniff_timestamp), int(packet.number)
        payload_len = _payload_len(tf, proto)
        if is_orig:
            flow.outbound += payload_len
        secure = "tls" in names or "ssl" in names
        if secure:
            flow.tls = True
        for layer in _with_repeats(packet.layers):
            name = layer.layer_name
            data = layer._all_fields
            if name in ("dns", "mdns"):
                yield from self._dns(flow, data, is_orig, ts, frame)
            elif name in ("tls", "ssl") and is_orig:
                yield from self._tls(flow, data, ts, frame)
            elif name == "quic" and is_orig:
                yield from self._quic(flow, data, ts, frame)
            elif name == "http" and is_orig:
                yield from self._http(flow, data, ts, frame, secure)
            elif name == "http2" and is_orig:
                yield from self._http2(flow, data, ts, frame, secure)
            elif name == "websocket" and is_orig:
                yield from self._websocket(flow, data, ts, frame, secure)
            elif name == "mqtt" and is_orig:
                yield from self._mqtt(flow, data, ts, frame, secure)
        if is_orig and payload_len and not _APP_LAYERS.intersection(names):
            yield from self._raw(flow, layers, ts, frame, proto)

    def _flow(
        self, src: str, sport: int, dst: str, dport: int, proto: int, flags: int
    ) -> tuple[_Flow, bool]:
        tup = (src, sport, dst, dport, proto)
        entry = self._flows.get(tup)
        if entry is not None:
            return entry
        if proto == 6 and flags & 0x02:
            is_orig = not flags & 0x10
        else:
            src_server, dst_server = _server_port(sport), _server_port(dport)
            is_orig = dst_server if src_server != dst_server else True
        if is_orig:
            key = FlowKey(src, sport, dst, dport, proto)
        else:
            key = FlowKey(dst, dport, src, sport, proto)
        cid = community_id(key.orig_h, key.orig_p, key.resp_h, key.resp_p, proto)
        flow = _Flow(key, cid)
        self._flows[tup] = (flow, is_orig)
        self._flows[(dst, dport, src, sport, proto)] = (flow, not is_orig)
        return flow, is_orig

    # -- protocols --------------------------------------------------------------------

    def _dns(
        self, flow: _Flow, data: dict[str, Any], is_orig: bool, ts: float, frame: int
    ) -> Iterator[Message]:
        flow.decoded = flow.proto_seen = True
        names = [n.lower().rstrip(".") for n in _strings(data, "dns.qry.name")]
        if _first(data, "dns.flags.response") == "1":
            asked = names[0] if names else None
            for rtype, value, rname in _answers(data):
                if rtype in ("1", "28") and value:
                    self.dns_map.learn(value, asked or rname)
            return
        if not is_orig:
            return
        types = _strings(data, "dns.qry.type")
        for index, qname in enumerate(names):
            qtype = int(types[index]) if index < len(types) and types[index].isdigit() else 0
            yield self._message(
                flow,
                ts,
                frame,
                "dns",
                MessageKind.DNS,
                (qname, "qname"),
                dns=DnsQuestion(qname, qtype),
            )

    def _tls(self, flow: _Flow, data: dict[str, Any], ts: float, frame: int) -> Iterator[Message]:
        flow.proto_seen = True
        if flow.hello_sent or "1" not in _strings(data, "tls.handshake.type"):
            return
        hello = _hello(data)
        flow.sni = hello.sni
        flow.hello_sent = True
        host = (hello.sni, "sni") if hello.sni else self._dns_name(flow)
        yield self._message(flow, ts, frame, "tls", MessageKind.TLS_HELLO, host, tls=hello)

    def _quic(self, flow: _Flow, data: dict[str, Any], ts: float, frame: int) -> Iterator[Message]:
        flow.quic = flow.proto_seen = True
        if flow.hello_sent or "1" not in _strings(data, "tls.handshake.type"):
            return
        hello = _hello(data)
        flow.sni = hello.sni
        flow.hello_sent = True
        host = (hello.sni, "sni") if hello.sni else self._dns_name(flow)
        yield self._message(flow, ts, frame, "quic", MessageKind.QUIC_HELLO, host, tls=hello)

    def _http(
        self, flow: _Flow, data: dict[str, Any], ts: float, frame: int, secure: bool
    ) -> Iterator[Message]:
        flow.proto_seen = True
        method = _first(data, "http.request.method")
        if method is None:
            return
        flow.decoded = True
        target = _first(data, "http.request.uri") or "/"
        version = _first(data, "http.request.version") or "HTTP/1.1"
        headers: list[tuple[str, str]] = []
        for line in _strings(data, "http.request.line"):
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        body = b"".join(_raws(data, "http.file_data"))
        request = HttpRequest(method, target, version, tuple(headers), body)
        yield self._request(flow, request, ts, frame, secure)

    def _http2(
        self, flow: _Flow, data: dict[str, Any], ts: float, frame: int, secure: bool
    ) -> Iterator[Message]:
        flow.proto_seen = flow.decoded = True
        for stream in _find(data, "http2.stream"):
            if not isinstance(stream, dict):
                continue
            ftype = stream.get("http2.type")
            try:
                sid = int(stream.get("http2.streamid", "0"))
            except (TypeError, ValueError):
                continue
            end = _first(stream, "http2.flags.end_stream") == "1"
            if ftype == "1":
                fields_ = []
                for header in _find(stream, "http2.header"):
                    if isinstance(header, dict) and "http2.header.name" in header:
                        fields_.append(
                            (
                                str(header["http2.header.name"]),
                                str(header.get("http2.header.value", "")),
                            )
                        )
                entry = flow.h2.setdefault(sid, ([], bytearray()))
                entry[0].extend(fields_)
            elif ftype == "0" and sid in flow.h2:
                for chunk in _raws(stream, "http2.data.data"):
                    flow.h2[sid][1].extend(chunk)
            else:
                continue
            if end and sid in flow.h2:
                yield from self._h2_finish(flow, sid, ts, frame, secure)

    def _h2_finish(
        self, flow: _Flow, sid: int, ts: float, frame: int, secure: bool
    ) -> Iterator[Message]:
        from leaktrace.protocols.http2 import to_request

        fields_, body = flow.h2.pop(sid)
        if any(name == ":method" for name, _ in fields_):
            yield self._request(flow, to_request(fields_, bytes(body), False), ts, frame, secure)

    def _websocket(
        self, flow: _Flow, data: dict[str, Any], ts: float, frame: int, secure: bool
    ) -> Iterator[Message]:
        flow.proto_seen = flow.decoded = True
        opcode = _first(data, "websocket.opcode")
        if opcode not in ("1", "2"):
            return
        payload = b"".join(_raws(data, "websocket.payload"))
        kind = "text" if opcode == "1" else "binary"
        yield self._channel(
            flow, ((f"ws:{kind}", payload),), ts, frame, "https" if secure else "http"
        )

    def _mqtt(
        self, flow: _Flow, data: dict[str, Any], ts: float, frame: int, secure: bool
    ) -> Iterator[Message]:
        flow.proto_seen = flow.decoded = True
        kind = {"1": "connect", "3": "publish", "8": "subscribe"}.get(
            _first(data, "mqtt.msgtype") or ""
        )
        if kind is None:
            return
        names = {
            "connect": [
                ("mqtt.clientid", "client_id"),
                ("mqtt.willtopic", "will_topic"),
                ("mqtt.willmsg", "will_payload"),
                ("mqtt.username", "username"),
                ("mqtt.passwd", "password"),
            ],
            "publish": [("mqtt.topic", "topic"), ("mqtt.msg", "payload")],
            "subscribe": [("mqtt.topic", "topic")],
        }[kind]
        parts = tuple(
            (f"mqtt:{kind}:{part}", value)
            for field_name, part in names
            for value in _raws(data, field_name)
        )
        yield self._channel(flow, parts, ts, frame, "tls" if secure else "tcp")

    def _raw(
        self, flow: _Flow, layers: dict[str, Any], ts: float, frame: int, proto: int
    ) -> Iterator[Message]:
        data_layer = layers.get("data")
        chunk = b"".join(_raws(data_layer._all_fields, "data.data")) if data_layer else b""
        if not chunk:
            return
        if proto == 17:
            yield self._message(
                flow, ts, frame, "udp", MessageKind.RAW, self._dns_name(flow), payload=chunk
            )
            return
        if not flow.raw:
            flow.raw_ts, flow.raw_frame = ts, frame
        flow.raw += chunk
        while len(flow.raw) >= RAW_CHUNK_BYTES:
            piece = bytes(flow.raw[:RAW_CHUNK_BYTES])
            del flow.raw[:RAW_CHUNK_BYTES]
            yield self._raw_message(flow, piece)
            flow.raw_ts, flow.raw_frame = ts, frame

    def _close(self, flow: _Flow) -> Iterator[Message]:
        for sid in list(flow.h2):
            yield from self._h2_finish(flow, sid, flow.raw_ts, flow.raw_frame, flow.tls)
        if flow.raw:
            piece = bytes(flow.raw)
            flow.raw.clear()
            yield self._raw_message(flow, piece)
        self._account(flow)

    def _raw_message(self, flow: _Flow, piece: bytes) -> Message:
        """Undecoded TCP bytes, stamped with the packet that began them."""
        return self._message(
            flow,
            flow.raw_ts,
            flow.raw_frame,
            "tcp",
            MessageKind.RAW,
            self._dns_name(flow),
            payload=piece,
        )

    # -- message building -----------------------------------------------------------------

    def _request(
        self, flow: _Flow, request: HttpRequest, ts: float, frame: int, secure: bool
    ) -> Message:
        host = _request_host(request)
        if host[0] is None:
            host = (flow.sni, "sni") if flow.sni else self._dns_name(flow)
        flow.last_host = host
        return self._message(
            flow, ts, frame, "https" if secure else "http", MessageKind.HTTP, host, http=request
        )

    def _channel(
        self,
        flow: _Flow,
        parts: tuple[tuple[str, bytes], ...],
        ts: float,
        frame: int,
        transport: Transport,
    ) -> Message:
        host = flow.last_host
        if host[0] is None:
            host = (flow.sni, "sni") if flow.sni else self._dns_name(flow)
        return self._message(flow, ts, frame, transport, MessageKind.RAW, host, parts=parts)

    def _message(
        self,
        flow: _Flow,
        ts: float,
        frame: int,
        transport: Transport,
        kind: MessageKind,
        host: tuple[str | None, HostBasis],
        *,
        http: HttpRequest | None = None,
        dns: DnsQuestion | None = None,
        tls: TlsHello | None = None,
        payload: bytes = b"",
        parts: tuple[tuple[str, bytes], ...] = (),
    ) -> Message:
        flow.depth += 1
        return Message(
            ts=ts,
            flow=flow.key,
            community_id=flow.cid,
            transport=transport,
            kind=kind,
            host=host[0],
            host_basis=host[1],
            origin=f"tshark:{self.path.name}#{frame}",
            trans_depth=flow.depth,
            http=http,
            dns=dns,
            tls=tls,
            payload=payload,
            parts=parts,
        )

    def _dns_name(self, flow: _Flow) -> tuple[str | None, HostBasis]:
        if flow.sni:
            return flow.sni, "sni"
        name = self.dns_map.name_of(flow.key.resp_h)
        return (name, "dns") if name else (None, "none")

    def _account(self, flow: _Flow) -> None:
        cov = self.coverage
        cov.flows += 1
        cov.bytes_outbound += flow.outbound
        reason: str | None = None
        if flow.quic and not flow.decoded:
            reason = "quic_without_keys"
        elif flow.tls and not flow.decoded:
            reason = "tls_without_keys"
        elif not flow.proto_seen and flow.outbound:
            reason = "unknown_protocol"
        if reason is None and flow.decoded:
            cov.flows_decoded += 1
            cov.bytes_decoded += flow.outbound
        elif reason is not None:
            cov.flows_opaque += 1
            cov.bytes_opaque += flow.outbound
            cov.opaque_reasons[reason] = cov.opaque_reasons.get(reason, 0) + 1


# -- JSON field helpers ------------------------------------------------------------------------


def _find(obj: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in pyshark's nested JSON layer."""
    if isinstance(obj, dict):
        for k, value in obj.items():
            if k == key:
                if isinstance(value, list) and not _is_raw_entry(value):
                    yield from value
                else:
                    yield value
            if isinstance(value, (dict, list)):
                yield from _find(value, key)
    elif isinstance(obj, list):
        for item in obj:
            yield from _find(item, key)


def _is_raw_entry(value: list[Any]) -> bool:
    """A ``*_raw`` value: [hex, offset, length, bitmask, type]."""
    return len(value) == 5 and isinstance(value[0], str) and isinstance(value[1], int)


def _strings(data: Any, key: str) -> list[str]:
    return [value for value in _find(data, key) if isinstance(value, str)]


def _with_repeats(layers: list[Any]) -> Iterator[Any]:
    """Every layer, a repeated one included: in JSON mode pyshark keeps a second layer
    of a name (the HTTP request inside a CONNECT tunnel's TLS, after the proxy's own
    ``http`` layer) only as ``duplicate_layers`` of the first."""
    for layer in layers:
        yield layer
        yield from getattr(layer, "duplicate_layers", ())


def _first(data: Any, key: str) -> str | None:
    found = _strings(data, key)
    return found[0] if found else None


def _raws(data: Any, key: str) -> list[bytes]:
    """The exact bytes of a field, from the ``<key>_raw`` hex tshark reports."""
    out: list[bytes] = []
    for value in _find(data, key + "_raw"):
        if isinstance(value, list) and value and isinstance(value[0], str):
            text = value[0]
        elif isinstance(value, str):
            text = value
        else:
            continue
        try:
            out.append(bytes.fromhex(text))
        except ValueError:
            continue
    return out


def _answers(data: Any) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for answers in _find(data, "Answers"):
        if not isinstance(answers, dict):
            continue
        for record in answers.values():
            if not isinstance(record, dict):
                continue
            rtype = str(record.get("dns.resp.type", ""))
            value = record.get("dns.a") or record.get("dns.aaaa") or ""
            rname = str(record.get("dns.resp.name", "")).lower().rstrip(".")
            out.append((rtype, str(value), rname))
    return out


def _hello(data: Any) -> TlsHello:
    sni = _first(data, "tls.handshake.extensions_server_name")
    alpn = tuple(_strings(data, "tls.handshake.extensions_alpn_str"))
    versions = _strings(data, "tls.handshake.extensions.supported_version")
    version = "TLS1.3" if any(v == "0x0304" for v in versions) else None
    return TlsHello(sni=sni.lower().rstrip(".") if sni else None, alpn=alpn, version=version)


def _request_host(request: HttpRequest) -> tuple[str | None, HostBasis]:
    target = request.target
    if "://" in target[:10]:
        return strip_port(target.split("://", 1)[1].split("/", 1)[0]), "header"
    host = request.header("host")
    if host:
        return strip_port(host.strip()), "header"
    return None, "none"


def _last_line(exc: Exception) -> str:
    """tshark's own complaint, which pyshark buries in a longer message."""
    for line in str(exc).splitlines():
        if line.startswith("Last error line:"):
            return line.removeprefix("Last error line:").strip()
    return f"{type(exc).__name__}: {exc}"


def _payload_len(tf: dict[str, Any], proto: int) -> int:
    try:
        if proto == 6:
            return int(tf.get("tcp.len", 0))
        return max(int(tf.get("udp.length", 8)) - 8, 0)
    except (TypeError, ValueError):
        return 0


def _server_port(port: int) -> bool:
    return port < 1024 or port in SERVER_PORTS


__all__ = ["CaptureError", "TsharkSource"]
