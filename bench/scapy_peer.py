"""The scapy peer: ``PcapReader`` with per-packet dissection and a regex scan of TCP/UDP payloads.

Far too slow for a whole large capture, so it reads a slice from the start
(``--limit-mb``) and reports the bytes and packets it got through and the
time the loop took; the bench extrapolates from that and says so. Start-up
(importing scapy) is outside the timed loop.

    python -m bench.scapy_peer CAPTURE --limit-mb 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from bench.regex_scan import load_patterns

PCAP_RECORD_HEADER = 16  # per-packet header in a classic pcap file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--limit-mb", type=float, default=10.0)
    args = parser.parse_args()

    from scapy.layers.inet import TCP, UDP
    from scapy.utils import PcapReader

    patterns = [(kind, pattern) for kind, pattern in load_patterns()]
    limit = int(args.limit_mb * 1_000_000)
    counts: Counter[str] = Counter()
    done = 24  # file header
    packets = 0
    started = time.perf_counter()
    with PcapReader(str(args.capture)) as reader:
        for pkt in reader:
            packets += 1
            done += PCAP_RECORD_HEADER + len(pkt.original)
            layer = pkt.getlayer(TCP) or pkt.getlayer(UDP)
            if layer is not None:
                payload = bytes(layer.payload)
                if payload:
                    text = payload.decode("latin-1")
                    for kind, pattern in patterns:
                        for _ in pattern.finditer(text):
                            counts[kind] += 1
            if done >= limit:
                break
    seconds = time.perf_counter() - started
    print(
        json.dumps({"bytes": done, "packets": packets, "seconds": seconds, "matches": dict(counts)})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
