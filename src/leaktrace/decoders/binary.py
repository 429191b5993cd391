"""base64, base64url and hex inside string values.

Plenty of plain values are valid base64 by accident (a 32-hex MD5, a word
of eight letters), so a decode only counts when it is canonical and the
result means something: mostly printable UTF-8, or the start of a
compressed stream. The caller still scans the original string either way.
"""

from __future__ import annotations

import binascii
import re
from typing import Final

from leaktrace.decoders.compress import sniff

MIN_BASE64_LEN: Final = 8
MIN_HEX_LEN: Final = 16
MAX_BAD_FRACTION: Final = 0.1

_BASE64: Final = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_BASE64URL: Final = re.compile(rb"[A-Za-z0-9_-]+={0,2}")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]+")
_URL_TO_STD: Final = bytes.maketrans(b"-_", b"+/")
_CONTROL: Final = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)) + b"\x7f"


def try_base64(data: bytes) -> tuple[str, bytes] | None:
    """Return ("base64" or "base64url", decoded) when ``data`` is meaningful base64."""
    # Spaces are not stripped: they may be "+" signs that a form decode turned into spaces.
    text = data.strip(b"\t\r\n")
    if b"\n" in text:
        text = text.replace(b"\r", b"").replace(b"\n", b"")  # MIME line breaks
    if b" " in text:
        # A "+" sent unescaped in a form or query has already become a space.
        text = text.replace(b" ", b"+")
    if len(text) < MIN_BASE64_LEN:
        return None
    if _BASE64.fullmatch(text):
        step = "base64"
    elif _BASE64URL.fullmatch(text):
        step = "base64url"
        text = text.translate(_URL_TO_STD)
    else:
        return None
    body = text.rstrip(b"=")
    if len(body) % 4 == 1 or (len(body) != len(text) and len(text) % 4):
        return None
    padded = body + b"=" * (-len(body) % 4)
    try:
        decoded = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        return None
    # Canonical only: stray bits in the last character mean it was not base64 to begin with.
    if binascii.b2a_base64(decoded, newline=False).rstrip(b"=") != body:
        return None
    return (step, decoded) if is_meaningful(decoded) else None


def try_hex(data: bytes) -> tuple[str, bytes] | None:
    """Return ("hex", decoded) for even-length hex that decodes to something meaningful."""
    text = data.strip()
    if len(text) < MIN_HEX_LEN or len(text) % 2 or not _HEX.fullmatch(text):
        return None
    decoded = bytes.fromhex(text.decode("ascii"))
    return ("hex", decoded) if is_meaningful(decoded) else None


def is_meaningful(data: bytes) -> bool:
    """Mostly printable UTF-8 text, or a compressed stream by its magic bytes."""
    if not data:
        return False
    if sniff(data):
        return True
    bad = len(data) - len(data.translate(None, _CONTROL))
    if bad > len(data) * MAX_BAD_FRACTION:
        return False
    if data.isascii():
        return True
    text = data.decode("utf-8", "replace")
    bad += text.count("\ufffd")
    return bad <= len(text) * MAX_BAD_FRACTION
