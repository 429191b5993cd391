"""HTTP/1 request parser: any client byte stream, cut anywhere, parses within its bounds,
and the one-pass read of a whole head gives what the state machine's steps give."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.protocols.http1 import RequestParser

_MAX_BODY = 2048
_MAX_HEADER_BYTES = 1024
_MAX_HEADERS = 8


class _StepByStep(RequestParser):
    def _take_whole_head(self) -> bool:
        return False


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    limits = {
        "max_body": _MAX_BODY,
        "max_header_bytes": _MAX_HEADER_BYTES,
        "max_headers": _MAX_HEADERS,
    }
    parser, steps = RequestParser(**limits), _StepByStep(**limits)
    requests = []
    for piece in s.pieces(32):
        got = parser.feed(piece)
        check(got == steps.feed(piece), "the one-pass read gives the steps' requests")
        check(parser.held_bytes == steps.held_bytes, "and holds what the steps hold")
        requests += got
    closed = parser.close()
    check(closed == steps.close(), "and ends as the steps end")
    check(parser.diagnostics == steps.diagnostics, "and reports what the steps report")
    requests += closed
    for req in requests:
        check(len(req.body) <= _MAX_BODY, "body stays under max_body")
        check(len(req.headers) <= _MAX_HEADERS, "header count stays under max_headers")
        check(len(req.target) <= len(data), "target comes from the input")


if __name__ == "__main__":
    fuzz_main(test_one_input)
