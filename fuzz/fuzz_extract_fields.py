"""The whole recursive decoder on one message: every field within the message's budget."""

from __future__ import annotations

from dataclasses import replace

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders import DecodeLimits, extract_fields
    from leaktrace.testing import http_message
    from leaktrace.types import Message

_LIMITS = DecodeLimits(
    max_depth=6, max_total_bytes=1 << 18, max_ratio=50.0, max_fields=500, ratio_grace_bytes=4096
)
_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "text/plain",
    "application/octet-stream",
    "",
)
_CODINGS = ("", "gzip", "deflate", "br", "zstd", "gzip, br", "x-unknown")


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    headers: list[tuple[str, str]] = []
    content_type = s.pick(_TYPES)
    if content_type:
        headers.append(("Content-Type", content_type))
    coding = s.pick(_CODINGS)
    if coding:
        headers.append(("Content-Encoding", coding))
    headers.append(("Cookie", s.sized(256).decode("latin-1")))
    headers.append(("X-Data", s.sized(512).decode("latin-1")))
    target = "/" + s.sized(1024).decode("latin-1")
    msg: Message = http_message("fuzz.example", target, s.rest(), tuple(headers))
    fields, diagnostics = extract_fields(msg, _LIMITS)
    check(len(fields) <= _LIMITS.max_fields, "max_fields holds")
    for text in (*(f.where for f in fields), *(d.detail for d in diagnostics)):
        text.encode("utf-8")  # every sink writes these as UTF-8 (or Parquet)
    raw = http_message("fuzz.example", "/", b"")
    fields, _ = extract_fields(replace(raw, http=None, payload=data), _LIMITS)
    check(len(fields) <= _LIMITS.max_fields, "max_fields holds for raw payloads")


if __name__ == "__main__":
    fuzz_main(test_one_input)
