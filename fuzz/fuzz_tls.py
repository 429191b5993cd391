"""TLS ClientHello reassembly and parsing: any first flight ends in done or not_tls."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.protocols.tls import HelloBuffer, parse_client_hello

_MAX = 4096


def test_one_input(data: bytes) -> None:
    parse_client_hello(data)
    s = Slicer(data)
    buffer = HelloBuffer(max_bytes=_MAX)
    status = "need_more"
    for piece in s.pieces(16):
        status = buffer.feed(piece)
        if status != "need_more":
            break
    if status == "done" and buffer.hello is not None and buffer.hello.sni is not None:
        check(len(buffer.hello.sni) <= 4 * _MAX, "SNI comes from the hello")


if __name__ == "__main__":
    fuzz_main(test_one_input)
