"""Link and IP decoding with fragment reassembly: frames in, packets or None out."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources.fragments import FragmentReassembler
    from leaktrace.sources.packets import SUPPORTED_LINKTYPES, decode_frame

_LINKTYPES = (*tuple(sorted(SUPPORTED_LINKTYPES)), 9999)


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    frags = FragmentReassembler(max_pending=8, max_bytes=1 << 16, max_fragments=16)
    linktype = s.pick(_LINKTYPES)
    ts = 0.0
    while s.remaining:
        frame = s.sized(2048)
        ts += s.below(8)
        pkt = decode_frame(linktype, frame, ts, frags)
        if pkt is not None:
            check(pkt.proto in (6, 17), "only TCP and UDP come out")
            check(0 <= pkt.sport < 65536 and 0 <= pkt.dport < 65536, "ports are 16-bit")
        check(frags.pending <= frags.max_pending, "pending datagrams stay bounded")
        check(frags.pending_bytes <= frags.max_bytes, "pending fragment bytes stay bounded")


if __name__ == "__main__":
    fuzz_main(test_one_input)
