"""pcap/pcapng reader: any file either reads as frames or stops with a located diagnostic."""

from __future__ import annotations

from _harness import MemFile, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources.pcap import CaptureError, CaptureReader

_FILE = MemFile("pcap")


def test_one_input(data: bytes) -> None:
    path = _FILE.write(data)
    try:
        reader = CaptureReader(path, block_size=4096)
    except CaptureError:
        return
    last = -1
    for frame in reader:
        check(frame.offset > last, "frames go forward through the file")
        check(len(frame.data) <= len(data), "a frame is never larger than the file")
        last = frame.offset
    for diag in (reader.damage, *getattr(reader, "anomalies", ())):
        if diag is not None and diag.offset is not None:
            check(0 <= diag.offset <= len(data), f"offset inside the file: {diag}")


if __name__ == "__main__":
    fuzz_main(test_one_input)
