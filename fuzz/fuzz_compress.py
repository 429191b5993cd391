"""Bounded decompression: no coding ever returns more than its cap, whatever the stream claims."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.compress import inflate, sniff

_CODINGS = ("gzip", "zlib", "deflate", "br", "zstd", "bogus")


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    coding = s.pick(_CODINGS)
    cap = 1 + s.uint(2) * 4
    stream = s.rest()
    sniff(stream)
    result = inflate(coding, stream, cap)
    check(len(result.data) <= cap, f"{coding} output {len(result.data)} over cap {cap}")
    check(not result.capped or len(result.data) == cap, "capped output is exactly the cap")


if __name__ == "__main__":
    fuzz_main(test_one_input)
