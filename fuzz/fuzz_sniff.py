"""Protocol sniffing: any first bytes give a verdict, and a verdict never flips with more bytes."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.protocols.sniff import sniff_stream


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    proto = s.pick((6, 17, 1))
    sport, dport = s.uint(2), s.uint(2)
    stream = s.rest()
    final = sniff_stream(stream, proto, sport, dport)
    if proto != 6:
        return
    for cut in range(1, min(len(stream), 24)):
        early = sniff_stream(stream[:cut], proto, sport, dport)
        if early != "need_more":
            check(early == final, f"verdict at {cut} bytes ({early}) differs from {final}")
            break


if __name__ == "__main__":
    fuzz_main(test_one_input)
