# mypy: disable-error-code="no-untyped-call"
"""mitmproxy's flows and connections → the pipeline's ``Message``.

The one place that knows mitmproxy's object model, used by the live addon and
by the ``.mitm`` file source alike, so a saved session gives the findings the
live one gave. Requests keep their body content-encoded, as on the wire, so
the decoders see the same bytes a pcap source would hand them.

Connection endpoints: the client is the device as the proxy saw it; the server
is the address the proxy connected to, or, when it never connected (sinkhole,
refused handshake), the destination when it is an IP address, else the
proxy's own listening address, which is what the device really connected to.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from mitmproxy import connection, http, websocket

from leaktrace.flowid import community_id
from leaktrace.protocols.tls import HelloBuffer
from leaktrace.sources.sessions import strip_port
from leaktrace.text import escape_surrogates
from leaktrace.types import FlowKey, HttpRequest, Message, MessageKind, TlsHello, Transport

MAX_BODY_BYTES = 8 << 20  # the HTTP/1 parser's body cap, so both sources cut alike
MAX_PAYLOAD_BYTES = 64 << 10  # the pcap source's raw chunk size
UNKNOWN_ADDR = "0.0.0.0"
PROXY_ORIGIN = "proxy"


def _ip(host: Any) -> str | None:
    if not isinstance(host, str):
        return None
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _endpoint(address: Any) -> tuple[str, int] | None:
    if not address or len(address) < 2:
        return None
    ip = _ip(address[0])
    if ip is None:
        return None
    return ip, int(address[1])


def flow_key(client: connection.Client, server: connection.Server) -> FlowKey:
    orig = _endpoint(client.peername) or (UNKNOWN_ADDR, 0)
    resp = (
        _endpoint(server.peername)
        or _endpoint(server.address)
        or _endpoint(client.sockname)
        or (UNKNOWN_ADDR, 0)
    )
    proto = 17 if client.transport_protocol == "udp" else 6
    return FlowKey(orig[0], orig[1], resp[0], resp[1], proto)


def keyed(key: FlowKey) -> str:
    return community_id(key.orig_h, key.orig_p, key.resp_h, key.resp_p, key.proto)


def _transport(scheme: str) -> Transport:
    return "https" if scheme in ("https", "wss") else "http"


def http_request(request: http.Request) -> HttpRequest:
    """The request as the device sent it: origin-form target, Host first for HTTP/2 too."""
    headers = [(k, v) for k, v in request.headers.items(multi=True) if not k.startswith(":")]
    if not any(k.lower() == "host" for k, _ in headers):
        authority = request.authority or request.host_header or request.host
        if authority:
            headers.insert(0, ("Host", authority))
    body = request.raw_content or b""
    truncated = len(body) > MAX_BODY_BYTES
    target = request.authority if request.method == "CONNECT" else request.path
    return HttpRequest(
        method=request.method,
        target=target or "/",
        version=request.http_version,
        headers=tuple(headers),
        body=body[:MAX_BODY_BYTES] if truncated else body,
        body_truncated=truncated,
    )


def request_host(request: http.Request) -> str | None:
    # mitmproxy keeps undecodable Host bytes as lone surrogates, which no output can write.
    host = escape_surrogates(request.pretty_host)
    return strip_port(host) if host else None


def http_message(flow: http.HTTPFlow, depth: int = 1, origin: str = PROXY_ORIGIN) -> Message:
    key = flow_key(flow.client_conn, flow.server_conn)
    return Message(
        ts=flow.request.timestamp_start,
        flow=key,
        community_id=keyed(key),
        transport=_transport(flow.request.scheme),
        kind=MessageKind.HTTP,
        host=request_host(flow.request),
        host_basis="proxy",
        origin=origin,
        trans_depth=depth,
        http=http_request(flow.request),
    )


def websocket_message(
    flow: http.HTTPFlow, message: websocket.WebSocketMessage, depth: int, origin: str = PROXY_ORIGIN
) -> Message:
    """A client's WebSocket message, scanned as raw bytes like any push channel."""
    key = flow_key(flow.client_conn, flow.server_conn)
    content = message.content
    return Message(
        ts=message.timestamp,
        flow=key,
        community_id=keyed(key),
        transport=_transport(flow.request.scheme),
        kind=MessageKind.RAW,
        host=request_host(flow.request),
        host_basis="proxy",
        origin=origin,
        trans_depth=depth,
        payload=content[:MAX_PAYLOAD_BYTES],
        payload_truncated=len(content) > MAX_PAYLOAD_BYTES,
    )


def hello_message(
    client: connection.Client,
    server: connection.Server,
    hello: TlsHello,
    ts: float,
    depth: int = 1,
    origin: str = PROXY_ORIGIN,
) -> Message:
    """A TLS ClientHello whose connection was not decrypted: its SNI names the destination."""
    key = flow_key(client, server)
    host = hello.sni.lower() if hello.sni else None
    if host is None and server.address:
        host = str(server.address[0]).lower()
    return Message(
        ts=ts,
        flow=key,
        community_id=keyed(key),
        transport="tls",
        kind=MessageKind.TLS_HELLO,
        host=host,
        host_basis="sni" if hello.sni else "proxy",
        origin=origin,
        trans_depth=depth,
        tls=hello,
    )


def client_hello(client: connection.Client) -> TlsHello:
    """What mitmproxy kept of a client's hello (SNI, ALPN offers) once TLS was attempted."""
    alpn = tuple(p.decode("ascii", "replace") for p in client.alpn_offers or ())
    return TlsHello(sni=client.sni, alpn=alpn, version=None)


def parse_hello(data: bytes) -> TlsHello | None:
    """A ClientHello from a passed-through connection's first bytes, if they hold one."""
    buffer = HelloBuffer()
    if buffer.feed(data) == "done":
        return buffer.hello
    return None
