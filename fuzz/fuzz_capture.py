"""The whole offline source on a well-framed pcap of fuzzed frames: frames to Messages."""

from __future__ import annotations

import struct

from _harness import MemFile, Slicer, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources.capture import CaptureError, CaptureSource

_FILE = MemFile("capture")
_LINKTYPES = (1, 101, 113, 276, 0)


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, s.pick(_LINKTYPES)))
    sec = 1_700_000_000
    while s.remaining:
        sec += s.below(4)
        frame = s.sized(4096)
        out += struct.pack("<IIII", sec, 0, len(frame), len(frame)) + frame
    try:
        source = CaptureSource(_FILE.write(bytes(out)), idle_timeout=2.0, max_flows=4)
    except CaptureError:
        return
    for _item in source:
        pass


if __name__ == "__main__":
    fuzz_main(test_one_input)
