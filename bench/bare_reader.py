"""The floor: a Python loop that reads a pcap and slices out each frame's payload, nothing else.

The issue's scale for throughput names such a reader (about 290 MB/s where
tshark's field extraction ran at 13 MB/s). Measured in the same run as the
others, it says what any analysis written in Python pays before it does any
work: leaktrace cannot run faster than this, and a target above it asks for
a reader that is not Python. It reads the file in 4 MB blocks as leaktrace
does (memory stays flat), walks the record headers with one ``struct``
unpack each, and slices the TCP or UDP payload of every Ethernet IPv4/IPv6
frame; it keeps no flow, parses no protocol and scans nothing.

    python -m bench.bare_reader CAPTURE.pcap      # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

BLOCK = 4 << 20
_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<"}
_MAGICS[b"\xa1\xb2\x3c\x4d"] = ">"  # nanosecond pcap, either byte order


def read(path: Path) -> dict[str, int]:
    """Frames, file bytes and payload bytes of a classic pcap, each payload sliced once."""
    frames = payload_bytes = 0
    with path.open("rb", buffering=0) as stream:
        buf = stream.read(BLOCK)
        endian = _MAGICS.get(buf[:4])
        if endian is None:
            raise SystemExit(f"{path}: not a classic pcap file")
        record = struct.Struct(endian + "8xI4x").unpack_from  # the included length
        base = 0  # file offset of buf[0]
        pos = 24
        while True:
            n = len(buf)
            while pos + 16 <= n:
                (incl,) = record(buf, pos)
                start = pos + 16
                end = start + incl
                if end > n:
                    break
                frames += 1
                if incl >= 34 and buf[start + 12] == 0x08 and buf[start + 13] == 0x00:
                    ip = start + 14
                    proto = buf[ip + 9]
                    t = ip + ((buf[ip] & 0x0F) << 2)
                elif incl >= 54 and buf[start + 12] == 0x86 and buf[start + 13] == 0xDD:
                    ip = start + 14
                    proto = buf[ip + 6]
                    t = ip + 40
                else:
                    proto = t = 0
                if proto == 6 and t + 13 <= end:
                    payload_bytes += len(buf[t + ((buf[t + 12] >> 4) << 2) : end])
                elif proto == 17:
                    payload_bytes += len(buf[t + 8 : end])
                pos = end
            # The unread tail is read again with the next block rather than sliced off
            # and joined to it, which copied every block twice.
            need = max(BLOCK, 16 + record(buf, pos)[0]) if pos + 16 <= n else BLOCK
            stream.seek(base + pos)
            more = stream.read(need)
            if len(more) <= n - pos:  # nothing beyond what was there: the end of the file
                return {"frames": frames, "bytes": path.stat().st_size, "payload": payload_bytes}
            buf, base, pos = more, base + pos, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("capture", type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = read(args.capture)
    seconds = time.perf_counter() - started
    print(json.dumps({**report, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
