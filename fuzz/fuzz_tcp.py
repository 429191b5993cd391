"""TCP stream reassembly: any segment sequence delivers in order, bounded, never stalls."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources.tcp import StreamReassembler

_MAX_BUFFER = 4096


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    stream = StreamReassembler(max_buffer=_MAX_BUFFER)
    base = s.uint(4)
    sent = 0
    delivered = 0
    while s.remaining:
        op = s.below(8)
        if op == 0:
            stream.acked((base + s.uint(2)) & 0xFFFFFFFF)
            continue
        seq = (base + s.uint(2) - 256) & 0xFFFFFFFF
        payload = s.take(s.below(600))
        sent += len(payload)
        stream.add(seq, payload, syn=op == 1, fin=op == 2)
        check(stream.buffered <= _MAX_BUFFER + len(payload), "buffer bound holds")
        if op in (3, 4):
            delivered += sum(len(p) for p in stream.read_parts() if isinstance(p, bytes))
    for part in stream.flush_parts():
        if isinstance(part, bytes):
            delivered += len(part)
        else:
            check(part > 0, "holes have a positive size")
    check(stream.buffered == 0, "a flush leaves nothing behind")
    check(delivered <= sent, "never more bytes out than in")


if __name__ == "__main__":
    fuzz_main(test_one_input)
