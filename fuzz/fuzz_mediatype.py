"""Content-Type and Content-Encoding header values."""

from __future__ import annotations

from _harness import check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.mediatype import parse_codings, parse_media_type


def test_one_input(data: bytes) -> None:
    text = data.decode("latin-1")
    media = parse_media_type(text)
    if media is not None:
        check(media.kind in ("json", "form", "multipart", "other"), "known body kind")
        media.param("boundary")
    for coding in parse_codings(text.split("\n")):
        check(bool(coding) and coding == coding.strip().lower(), "codings are normalised")


if __name__ == "__main__":
    fuzz_main(test_one_input)
