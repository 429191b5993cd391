"""multipart/form-data bodies (RFC 7578): file uploads and SDK batch uploads.

A body cut short by the capture or by ``max_body`` still yields the parts
that arrived, the last one partial, because a truncated upload still leaked
what it carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from leaktrace.decoders.mediatype import MediaType, parse_codings, parse_media_type

MAX_PART_HEADER_BYTES: Final = 16 << 10


@dataclass(frozen=True, slots=True)
class Part:
    name: str | None
    filename: str | None
    media: MediaType | None
    codings: tuple[str, ...]  # Content-Encoding of the part, rarely present
    body: bytes


def parse_multipart(body: bytes, boundary: str) -> list[Part] | None:
    """Split a multipart body; None when the first delimiter is missing."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    if body.startswith(delimiter):
        pos = 0
    else:
        found = body.find(b"\n" + delimiter)
        if found < 0:
            return None
        pos = found + 1
    parts: list[Part] = []
    while True:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            break  # close delimiter
        line_end = body.find(b"\n", pos)
        if line_end < 0:
            break
        headers, pos = _read_headers(body, line_end + 1)
        if headers is None:
            break
        end = body.find(b"\n" + delimiter, pos)
        content = body[pos:] if end < 0 else body[pos:end]
        if content.endswith(b"\r"):
            content = content[:-1]
        parts.append(_make_part(headers, content))
        if end < 0:
            break
        pos = end + 1
    return parts


def _read_headers(body: bytes, pos: int) -> tuple[list[tuple[str, str]] | None, int]:
    headers: list[tuple[str, str]] = []
    limit = pos + MAX_PART_HEADER_BYTES
    while pos < len(body) and pos < limit:
        end = body.find(b"\n", pos)
        if end < 0:
            return None, pos
        line = body[pos:end].rstrip(b"\r")
        pos = end + 1
        if not line:
            return headers, pos
        name, colon, value = line.partition(b":")
        if colon:
            header = name.strip().decode("latin-1").lower()
            headers.append((header, value.strip().decode("latin-1")))
    return None, pos


def _make_part(headers: list[tuple[str, str]], content: bytes) -> Part:
    fields = dict(headers)
    disposition = parse_media_type(fields.get("content-disposition"))
    name = disposition.param("name") if disposition else None
    filename = disposition.param("filename") if disposition else None
    codings = tuple(parse_codings([fields.get("content-encoding", "")]))
    return Part(
        name=name,
        filename=filename,
        media=parse_media_type(fields.get("content-type")),
        codings=codings,
        body=content,
    )
