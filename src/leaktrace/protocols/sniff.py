"""Classify a flow from the first bytes the client sent.

Ports lie (HTTP on 8080, TLS on 5224, push channels on anything), so the
decision rests on the bytes; ports only break ties where the bytes alone are
ambiguous (DNS has no magic, so it is recognised by port).
"""

from __future__ import annotations

from typing import Final, Literal

StreamKind = Literal["http", "tls", "dns", "quic", "unknown", "need_more"]

TCP: Final = 6
UDP: Final = 17

DNS_PORTS: Final = frozenset({53, 5353})

# Request methods seen from mobile clients and WebDAV-style sync libraries.
# Matching a known token (not any upper-case word) keeps line-based push
# protocols such as "HELLO ..." out of the HTTP parser.
HTTP_METHODS: Final = frozenset(
    {
        b"GET",
        b"POST",
        b"PUT",
        b"HEAD",
        b"DELETE",
        b"OPTIONS",
        b"PATCH",
        b"CONNECT",
        b"TRACE",
        b"PROPFIND",
        b"PROPPATCH",
        b"MKCOL",
        b"COPY",
        b"MOVE",
        b"LOCK",
        b"UNLOCK",
        b"REPORT",
        b"SEARCH",
        b"PURGE",
    }
)
_LONGEST_METHOD: Final = max(len(m) for m in HTTP_METHODS)

# The HTTP/2 connection preface; here so that sniffing for it does not load
# the HTTP/2 parser's framing and HPACK libraries.
HTTP2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_TLS_HANDSHAKE: Final = 0x16
_DNS_HEADER_LEN: Final = 12


def sniff_stream(first_bytes: bytes, proto: int, sport: int, dport: int) -> StreamKind:
    """Say which parser should read this flow, or that more bytes are needed to tell.

    For UDP ``first_bytes`` is the first datagram, which is complete by
    nature, so UDP never asks for more unless it is empty.
    """
    if not first_bytes:
        return "need_more"
    if proto == UDP:
        return _sniff_udp(first_bytes, sport, dport)
    if proto == TCP:
        return _sniff_tcp(first_bytes, sport, dport)
    return "unknown"


def _sniff_tcp(data: bytes, sport: int, dport: int) -> StreamKind:
    tls = _tls_record(data)
    if tls != "unknown":
        return tls
    http = _http_request_line(data)
    if http != "unknown":
        return http
    if 53 in (sport, dport):
        if len(data) < 2:
            return "need_more"
        length = int.from_bytes(data[:2], "big")
        return "dns" if length >= _DNS_HEADER_LEN else "unknown"
    return "unknown"


def _sniff_udp(data: bytes, sport: int, dport: int) -> StreamKind:
    if sport in DNS_PORTS or dport in DNS_PORTS:
        return "dns" if len(data) >= _DNS_HEADER_LEN else "unknown"
    if _is_quic_long_header(data):
        return "quic"
    return "unknown"


def _tls_record(data: bytes) -> StreamKind:
    """A TLS handshake record: content type 22, protocol major version 3."""
    if data[0] != _TLS_HANDSHAKE:
        return "unknown"
    if len(data) < 3:
        return "need_more" if len(data) < 2 or data[1] == 0x03 else "unknown"
    return "tls" if data[1] == 0x03 and data[2] <= 0x04 else "unknown"


def _http_request_line(data: bytes) -> StreamKind:
    """A known method followed by a space: the method and one byte are enough.

    A method or a prefix of one with nothing after it yet ("POST", "PO")
    needs more bytes, so that an answer once given never changes as more
    bytes arrive ("POSTAL..." is not HTTP).
    """
    head = data[: _LONGEST_METHOD + 1]
    space = head.find(b" ")
    if space >= 0:
        return "http" if head[:space] in HTTP_METHODS else "unknown"
    if len(data) <= _LONGEST_METHOD and any(m.startswith(data) for m in HTTP_METHODS):
        return "need_more"
    return "unknown"


def _is_quic_long_header(data: bytes) -> bool:
    """Long header form and fixed bit set, a non-zero version, and a sane DCID length.

    Version 0 is version negotiation, which only servers send.
    """
    if len(data) < 6 or data[0] & 0xC0 != 0xC0:
        return False
    version = int.from_bytes(data[1:5], "big")
    if version == 0:
        return False
    return data[5] <= 20 or not _is_known_quic_version(version)


def _is_known_quic_version(version: int) -> bool:
    """v1, v2 and the IETF drafts cap connection ids at 20 bytes."""
    return version in (0x00000001, 0x6B3343CF) or version & 0xFFFFFF00 == 0xFF000000
