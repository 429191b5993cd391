"""HAR files (browser dev tools, HTTP Toolkit, Charles) as a stream of Messages.

HAR keeps each request's method, URL, headers and body text, which is all the
decoders need, so a lab can keep the recorder it has. What HAR does not keep
is the client's address: requests are keyed to ``0.0.0.0:0`` and the server's
address when the recorder wrote it (``serverIPAddress``). Request bodies in
HAR are already content-decoded by most recorders, so a ``Content-Encoding``
header is dropped when the body does not start like the coding it names.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from leaktrace.flowid import community_id
from leaktrace.sources.pcap import CaptureError
from leaktrace.text import escape_surrogates, text_bytes
from leaktrace.types import Coverage, Diagnostic, FlowKey, HttpRequest, Message, MessageKind

MAX_HAR_BYTES = 512 << 20  # HAR is one JSON document: it is read whole, so it is capped
MAX_BODY_BYTES = 8 << 20
UNKNOWN_ADDR = "0.0.0.0"
_CODING_MAGIC = {"gzip": b"\x1f\x8b", "x-gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}


def parse_har(doc: Any, name: str = "har") -> Iterator[Message | Diagnostic]:
    """Messages from a loaded HAR document; a malformed entry becomes a Diagnostic."""
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        yield Diagnostic("har_malformed", f"{name}: no log.entries list")
        return
    depth: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            yield entry_message(entry, f"har:{name}#{index}", depth)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield Diagnostic("har_entry_malformed", f"{name} entry {index}: {exc!r}")


def entry_message(entry: dict[str, Any], origin: str, depth: dict[str, int]) -> Message:
    request = entry["request"]
    url = urlsplit(_text(request["url"]))
    scheme = url.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"not an HTTP URL: {request['url']!r}")
    port = url.port or (443 if scheme in ("https", "wss") else 80)
    server = _ip(entry.get("serverIPAddress")) or UNKNOWN_ADDR
    key = FlowKey(UNKNOWN_ADDR, 0, server, port, 6)
    conn = _text(entry.get("connection") or f"{server}:{port}")
    depth[conn] = depth.get(conn, 0) + 1
    headers = [
        (_text(h["name"]), _text(h["value"]))
        for h in request.get("headers") or ()
        if not str(h["name"]).startswith(":")
    ]
    host = url.hostname
    if host and not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", url.netloc.rsplit("@", 1)[-1]))
    body = _body(request.get("postData"))
    truncated = len(body) > MAX_BODY_BYTES
    headers = _drop_stale_coding(headers, body)
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    http = HttpRequest(
        method=_text(request["method"]).upper(),
        target=target,
        version=_version(_text(request.get("httpVersion") or "HTTP/1.1")),
        headers=tuple(headers),
        body=body[:MAX_BODY_BYTES],
        body_truncated=truncated,
    )
    return Message(
        ts=_timestamp(entry.get("startedDateTime")),
        flow=key,
        community_id=community_id(key.orig_h, key.orig_p, key.resp_h, key.resp_p, key.proto),
        transport="https" if scheme in ("https", "wss") else "http",
        kind=MessageKind.HTTP,
        host=host.lower().rstrip(".") if host else None,
        host_basis="header" if host else "none",
        origin=origin,
        trans_depth=depth[conn],
        http=http,
    )


def _text(value: Any) -> str:
    """A string of the HAR document, lone surrogates (JSON ``\\ud800`` escapes)
    spelled out: the URL, headers and names reach the outputs."""
    return escape_surrogates(str(value))


def _body(post: Any) -> bytes:
    if not isinstance(post, dict):
        return b""
    text = post.get("text")
    if isinstance(text, str):
        if post.get("encoding") == "base64":
            try:
                return base64.b64decode(text, validate=False)
            except (binascii.Error, ValueError):
                return text_bytes(text)
        return text_bytes(text)
    params = post.get("params")
    if isinstance(params, list):
        pairs = [(_text(p["name"]), _text(p.get("value", ""))) for p in params]
        return urlencode(pairs).encode()
    return b""


def _drop_stale_coding(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """Recorders store bodies decoded: a coding the bytes do not show is no longer true."""
    kept = []
    for name, value in headers:
        if name.lower() == "content-encoding":
            magic = _CODING_MAGIC.get(value.strip().lower())
            if magic is not None and not body.startswith(magic):
                continue
        kept.append((name, value))
    return kept


def _version(version: str) -> str:
    v = version.upper()
    if v in ("H2", "HTTP/2", "HTTP/2.0"):
        return "HTTP/2"
    if v in ("H3", "HTTP/3", "HTTP/3.0"):
        return "HTTP/3"
    return v if v.startswith("HTTP/") else "HTTP/1.1"


def _timestamp(value: Any) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


def _ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


class HarSource:
    """A HAR file for ``analyze``: the same interface as ``CaptureSource``.

    HAR does not say which requests shared a connection, so coverage counts
    each request as a flow.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        if self.size > MAX_HAR_BYTES:
            raise CaptureError(f"{self.path}: HAR over {MAX_HAR_BYTES >> 20} MiB; split it")
        try:
            self._doc = json.loads(self.path.read_bytes().decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CaptureError(f"{self.path}: not a HAR file: {exc}") from None
        if not isinstance(self._doc, dict) or "log" not in self._doc:
            raise CaptureError(f"{self.path}: not a HAR file: no 'log' object")
        self.frames = 0
        self.coverage = Coverage()
        self.damage: Diagnostic | None = None

    def __iter__(self) -> Iterator[Message | Diagnostic]:
        for item in parse_har(self._doc, self.path.name):
            if isinstance(item, Message):
                self.frames += 1
                assert item.http is not None
                nbytes = len(item.http.target) + len(item.http.body)
                self.coverage.bytes_outbound += nbytes
                self.coverage.bytes_decoded += nbytes
                self.coverage.flows += 1
                self.coverage.flows_decoded += 1
            yield item
