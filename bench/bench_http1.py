"""The HTTP/1 request parser alone, on a request of the shape the 200 MB capture carries.

    python bench/bench_http1.py                      # µs a request, best of 5 rounds
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python bench/bench_http1.py --requests 10000 --rounds 1
    (the same with --requests 0, subtracted, gives instructions a request)

Each request gets a parser of its own, is fed whole and the parser closed, as a
flow of one request is read. The request is a POST of five headers and a JSON
body of a device id and eight events. On a machine whose speed moves from one
minute to the next, compare instruction counts across commits, not times (run
an older commit's tree with ``PYTHONPATH=TREE/src``).
"""

from __future__ import annotations

import argparse
import time

from leaktrace.protocols.http1 import RequestParser

BODY = (
    b'{"header":{"imei":"860000000000033","os":"android"},"events":['
    + b",".join(b'{"id":3,"name":"page"}' for _ in range(8))
    + b"]}"
)
REQUEST = (
    b"POST /v1/collect?seq=1 HTTP/1.1\r\nHost: mobads.baidu.com\r\n"
    b"User-Agent: okhttp/4.12.0\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY


def parse(requests: int) -> int:
    """Parse ``requests`` copies, each with a parser of its own; the number read back."""
    read = 0
    for _ in range(requests):
        parser = RequestParser()
        read += len(parser.feed(REQUEST)) + len(parser.close())
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is shown")
    args = parser.parse_args()
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        read = parse(args.requests)
        best = min(best, time.perf_counter() - start)
        if read != args.requests:
            raise SystemExit(f"read {read} requests of {args.requests}")
    if args.requests:
        print(f"{best / args.requests * 1e6:.2f} µs a request (best of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
