"""Pieces of an HTTP request-target: the path and the query parameters.

Values are percent-decoded to bytes, not to text, because identifiers are
matched on bytes and a ``%B5`` must not turn into U+FFFD on the way.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from leaktrace.text import wire_bytes


def split_target(target: str) -> tuple[bytes | None, bytes]:
    """Return the raw path and the raw query of a request-target.

    The path is None for authority-form targets (``CONNECT host:443``),
    which carry no path. Fragments are dropped (clients should not send
    them, some do).
    """
    raw = wire_bytes(target).split(b"#", 1)[0]
    if raw == b"*":
        return b"*", b""
    if not raw.startswith(b"/"):
        scheme_end = raw.find(b"://")
        if scheme_end < 0:
            return None, b""
        slash = raw.find(b"/", scheme_end + 3)
        query_mark = raw.find(b"?", scheme_end + 3)
        if slash < 0 or 0 <= query_mark < slash:
            query = raw[query_mark + 1 :] if query_mark >= 0 else b""
            return b"/", query
        raw = raw[slash:]
    path, _, query = raw.partition(b"?")
    return path, query


def percent_decode(data: bytes, plus_is_space: bool = False) -> bytes:
    """Undo %XX escapes; malformed escapes stay as they are."""
    if plus_is_space:
        data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    return unquote_to_bytes(data)


def parse_query(query: bytes) -> list[tuple[str, bytes]]:
    """Split ``a=1&b=2`` into decoded (name, value) pairs, in order, duplicates kept.

    A bare parameter without ``=`` (``?<blob>``, common for signed or
    encrypted payloads) is reported with its own text as value so that the
    blob is still scanned and decoded.
    """
    pairs: list[tuple[str, bytes]] = []
    for piece in query.split(b"&"):
        if not piece:
            continue
        name, eq, value = piece.partition(b"=")
        decoded_name = percent_decode(name, plus_is_space=True)
        decoded_value = percent_decode(value if eq else name, plus_is_space=True)
        pairs.append((text(decoded_name), decoded_value))
    return pairs


def text(data: bytes) -> str:
    """Bytes as text for a field name: UTF-8, odd bytes kept visible as escapes."""
    return data.decode("utf-8", "backslashreplace")
