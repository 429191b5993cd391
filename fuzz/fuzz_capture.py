"""The whole offline source on a well-framed pcap of fuzzed frames: frames to Messages.

Differential where the native record walk is built: the same file read with and
without it must give the same items, coverage and frame count, whole and as one
of two partitions.
"""

from __future__ import annotations

import struct

from _harness import MemFile, Slicer, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources import skim
    from leaktrace.sources.capture import CaptureError, CaptureSource
    from leaktrace.types import Diagnostic, Message

_FILE = MemFile("capture")
_LINKTYPES = (1, 101, 113, 276, 0)
_PARTITIONS = (None, (0, 2), (1, 2))
_NATIVE = skim.NATIVE


def _read(path: str, partition: tuple[int, int] | None) -> tuple[object, ...] | None:
    try:
        source = CaptureSource(path, idle_timeout=2.0, max_flows=4, partition=partition)
    except CaptureError:
        return None
    items = list(source)
    for item in items:
        # Names and details reach every sink, which writes UTF-8 (or Parquet).
        if isinstance(item, Diagnostic):
            item.detail.encode("utf-8")
        elif isinstance(item, Message):
            names = (item.host, item.dns and item.dns.qname, item.tls and item.tls.sni)
            for name in names:
                if name:
                    name.encode("utf-8")
    return items, source.coverage, source.frames


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    partition = s.pick(_PARTITIONS)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, s.pick(_LINKTYPES)))
    sec = 1_700_000_000
    while s.remaining:
        sec += s.below(4)
        frame = s.sized(4096)
        out += struct.pack("<IIII", sec, 0, len(frame), len(frame)) + frame
    path = _FILE.write(bytes(out))
    first = _read(path, partition)
    if _NATIVE is None:
        return
    skim.NATIVE = None
    try:
        second = _read(path, partition)
    finally:
        skim.NATIVE = _NATIVE
    if first != second:
        raise AssertionError("the native record walk changed what the capture gives")


if __name__ == "__main__":
    fuzz_main(test_one_input)
