"""Content-Type and Content-Encoding header values, reduced to what the decoders act on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from leaktrace.types import slot_init

_PARAM: Final = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_CODING_ALIASES: Final = {"x-gzip": "gzip", "x-deflate": "deflate", "brotli": "br"}

BodyKind = Literal["json", "form", "multipart", "other"]


@slot_init
@dataclass(frozen=True, slots=True)
class MediaType:
    essence: str  # "type/subtype", lower case
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def kind(self) -> BodyKind:
        essence = self.essence
        if essence.endswith(("/json", "+json")) or essence in ("text/x-json", "application/x-json"):
            return "json"
        if essence == "application/x-www-form-urlencoded":
            return "form"
        if essence.startswith("multipart/") and self.param("boundary"):
            return "multipart"
        return "other"


def parse_media_type(value: str | None) -> MediaType | None:
    if not value:
        return None
    essence, _, rest = value.partition(";")
    params = []
    for match in _PARAM.finditer(";" + rest):
        raw = match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.append((match.group(1).lower(), raw))
    return MediaType(essence.strip().lower(), tuple(params))


def parse_codings(values: list[str]) -> list[str]:
    """Content-Encoding values in the order applied; identity dropped, aliases normalised."""
    codings = []
    for value in values:
        for part in value.split(","):
            coding = part.strip().lower()
            if coding and coding != "identity":
                codings.append(_CODING_ALIASES.get(coding, coding))
    return codings
