"""multipart/form-data bodies with any boundary."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.multipart import parse_multipart


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    boundary = s.take(s.below(72)).decode("latin-1")
    body = s.rest()
    parts = parse_multipart(body, boundary)
    if parts is not None:
        check(sum(len(p.body) for p in parts) <= len(body), "parts come from the body")


if __name__ == "__main__":
    fuzz_main(test_one_input)
