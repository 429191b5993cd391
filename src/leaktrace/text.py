"""Text from traffic and capture files, held so every output can still write it.

Python keeps bytes that are not UTF-8 as lone surrogates (``surrogateescape``),
and JSON may spell one outright (``"\\ud800"``); neither can be written as
UTF-8 or stored in Parquet. Text that names things in an output (paths, hosts,
header names) has them spelled as ``\\uXXXX``; text turned back into bytes for
the decoders gets its original bytes back where it can.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["escape_surrogates", "text_bytes", "wire_bytes"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _spelled(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as ``\\uXXXX`` (JSON's own escape)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_spelled, text)


def text_bytes(text: str) -> bytes:
    """The UTF-8 bytes of ``text``, with raw bytes kept as surrogates restored; any
    other lone surrogate (a JSON ``\\ud800``) is encoded as it stands."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def wire_bytes(text: str) -> bytes:
    """Text back to the bytes it came from: the capture's parsers decode the wire as
    Latin-1; other sources (HAR files, the proxy) hold any text."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text_bytes(text)
