"""HTTP/1 request parser: any client byte stream, cut anywhere, parses within its bounds."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.protocols.http1 import RequestParser

_MAX_BODY = 2048
_MAX_HEADER_BYTES = 1024
_MAX_HEADERS = 8


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    parser = RequestParser(
        max_body=_MAX_BODY, max_header_bytes=_MAX_HEADER_BYTES, max_headers=_MAX_HEADERS
    )
    requests = []
    for piece in s.pieces(32):
        requests += parser.feed(piece)
        parser.diagnostics.clear()
    requests += parser.close()
    for req in requests:
        check(len(req.body) <= _MAX_BODY, "body stays under max_body")
        check(len(req.headers) <= _MAX_HEADERS, "header count stays under max_headers")
        check(len(req.target) <= len(data), "target comes from the input")


if __name__ == "__main__":
    fuzz_main(test_one_input)
