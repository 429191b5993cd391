"""application/x-www-form-urlencoded bodies, and form-shaped strings inside values.

Declared form bodies are read leniently. A string found inside another value
is only treated as a form when it has the strict ``a=1&b=2`` shape, so that
base64 padding (``QUJD==``) or a URL is not mistaken for one.
"""

from __future__ import annotations

import re
from typing import Final

from leaktrace.decoders.url import parse_query

_CONTROL: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STRICT_PAIR: Final = re.compile(
    rb"[A-Za-z0-9_.\-\[\]%~*$!@,;+|()']{1,256}"  # name: URL-safe, no "/", ":" or "?"
    rb"=(?!=)[\x21-\x25\x27-\x7e]*"  # value: printable, no "&", not starting with "="
)


def parse_form(data: bytes) -> list[tuple[str, bytes]] | None:
    """Read a declared form body; None when it holds control bytes (then it is not a form)."""
    body = data.strip(b" \t\r\n")
    if not body or _CONTROL.search(body):
        return None
    pairs = parse_query(body)
    return pairs or None


def parse_form_shaped(data: bytes) -> list[tuple[str, bytes]] | None:
    """Read a string as a form only if every piece is ``name=value`` with URL-safe characters.

    A lone pair needs a non-empty value, so ``abc=`` (base64 with padding)
    does not qualify.
    """
    body = data.strip(b" \t\r\n")
    if b"=" not in body:
        return None
    # The first piece is always checked: a binary body fails here without being cut
    # into hundreds of pieces first.
    if not _STRICT_PAIR.fullmatch(body.split(b"&", 1)[0]):
        return None
    pieces = body.split(b"&")
    if pieces[-1] == b"" and len(pieces) > 1:
        pieces.pop()
    for piece in pieces:
        if not _STRICT_PAIR.fullmatch(piece):
            return None
    if len(pieces) == 1 and body.endswith(b"=") and body.count(b"=") == 1:
        return None  # "QUJDRA=": base64 padding, not a name with an empty value
    return parse_query(body)
