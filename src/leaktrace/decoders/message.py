"""Where the fields of each kind of message start.

HTTP requests spread data over the URL, headers, cookies and body; DNS and
TLS hellos carry one name each; raw payloads (push channels, unknown TCP)
are scanned whole and then decoded like any other value.
"""

from __future__ import annotations

from leaktrace.decoders.budget import Budget, DecodeLimits
from leaktrace.decoders.mediatype import parse_codings, parse_media_type
from leaktrace.decoders.url import parse_query, percent_decode, split_target
from leaktrace.decoders.walk import Walker
from leaktrace.text import escape_surrogates, wire_bytes
from leaktrace.types import Diagnostic, Field, HttpRequest, Message

DEFAULT_LIMITS = DecodeLimits()


def extract_fields(
    msg: Message, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[list[Field], list[Diagnostic]]:
    """Every value of ``msg`` worth scanning, each with the decoder chain that reached it."""
    budget = Budget(limits, ts=msg.ts, flow=msg.community_id)
    walker = Walker(budget)
    if msg.http is not None:
        _http(walker, msg.http)
    if msg.dns is not None:
        budget.emit(("dns:qname",), msg.dns.qname.encode("utf-8", "backslashreplace"), None)
    if msg.tls is not None and msg.tls.sni is not None:
        budget.emit(("tls:sni",), msg.tls.sni.encode("utf-8", "backslashreplace"), None)
    if msg.payload:
        walker.leaf(("payload",), msg.payload, None)
    for step, value in msg.parts:
        walker.leaf((step,), value, None)
    return budget.fields, budget.diagnostics


def _http(walker: Walker, request: HttpRequest) -> None:
    path, query = split_target(request.target)
    if path is not None:
        walker.leaf(("url:path",), percent_decode(path), None)
    params = parse_query(query)
    for param, param_value in params:
        walker.leaf((f"query:{param}",), param_value, param)
    walker.repeated((), "query", params)
    content_encodings: list[str] = []
    for name, value in request.headers:
        lname = name.lower()
        if lname == "cookie":
            for cookie, cookie_value in parse_cookie(value):
                walker.leaf((f"cookie:{escape_surrogates(cookie)}",), cookie_value, cookie)
            continue
        if lname == "content-encoding":
            content_encodings.append(value)
        # Names are part of a field's path; from a HAR file or the proxy they may hold
        # lone surrogates, which no output can write.
        walker.leaf((f"header:{escape_surrogates(lname)}",), wire_bytes(value), lname)
    if request.body:
        media = parse_media_type(request.header("content-type"))
        walker.content(("body",), request.body, None, 0, media, parse_codings(content_encodings))


def parse_cookie(value: str) -> list[tuple[str, bytes]]:
    """Split a Cookie header into (name, value); surrounding quotes removed, nothing decoded."""
    pairs: list[tuple[str, bytes]] = []
    for piece in value.split(";"):
        name, eq, cookie_value = piece.strip().partition("=")
        if not eq and not name:
            continue
        cookie_value = cookie_value.strip()
        if len(cookie_value) >= 2 and cookie_value[0] == cookie_value[-1] == '"':
            cookie_value = cookie_value[1:-1]
        pairs.append((name.strip(), wire_bytes(cookie_value)))
    return pairs
