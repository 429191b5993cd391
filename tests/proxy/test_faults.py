"""Fault classification and the withholding of the peer's bytes in event text."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from leaktrace.proxy import faults

REASONS = {
    "client_disconnected", "incomplete_body", "bad_chunked_body", "bad_request_head",
    "bad_request", "killed", "upstream_closed", "upstream_incomplete_response",
    "upstream_reset", "bad_upstream_response", "upstream_tls_failed",
    "upstream_connect_failed", "upstream_timeout", "upstream_error",
}  # fmt: skip
# text around the quoted bytes: no quote opener of its own
prose = st.text(alphabet=st.characters(blacklist_characters="'\"\\b"), max_size=40)


@given(st.binary(min_size=1, max_size=300), prose, prose)
def test_quoted_bytes_are_replaced_by_their_length(data: bytes, before: str, after: str) -> None:
    message = f"{before}{data!r}{after}"
    out = faults.sanitize(message)
    assert len(out) <= faults.MAX_DETAIL
    assert "b'" not in out and 'b"' not in out
    short = " ".join(f"{before}<{len(data)} bytes withheld>{after}".split())
    if len(short) <= faults.MAX_DETAIL:
        assert out == short


@given(st.binary(max_size=200))
def test_bytearray_repr_and_cut_quotes_are_withheld(data: bytes) -> None:
    withheld = f"x: bytearray(<{len(data)} bytes withheld>)"
    assert faults.sanitize(f"x: bytearray({data!r})") == withheld
    cut = f"y: {data!r}"[:-1]  # mitmproxy cut its own message inside the quote
    assert faults.sanitize(cut) == "y: <bytes withheld>"


def test_reveal_keeps_the_bytes_and_still_bounds_the_length() -> None:
    message = "Bad HTTP request line: " + repr(b"GET /?imei=868012345678901 XX")
    assert "868012345678901" in faults.sanitize(message, reveal=True)
    assert "868012345678901" not in faults.sanitize(message)
    assert len(faults.sanitize("z" * 10_000, reveal=True)) == faults.MAX_DETAIL


def test_a_megabyte_of_quoted_bytes_is_summarised() -> None:
    message = "Client closed connection before completing request headers: " + repr(
        b"X-Pad: \x00\xff" * 100_000
    )
    assert faults.sanitize(message).endswith("<900000 bytes withheld>")


@given(st.text(max_size=200), st.booleans())
def test_any_flow_error_gets_a_side_and_a_known_reason(message: str, complete: bool) -> None:
    side, reason = faults.classify_flow_error(message, request_complete=complete)
    assert side in ("client", "upstream", "proxy") and reason in REASONS


def test_flow_errors_are_told_apart_by_the_request_state() -> None:
    body = "HTTP/1 protocol error: peer closed connection without sending complete message body"
    assert faults.classify_flow_error(body, request_complete=False) == (
        "client",
        "incomplete_body",
    )
    assert faults.classify_flow_error(body, request_complete=True) == (
        "upstream",
        "upstream_incomplete_response",
    )
    chunk = "HTTP/1 protocol error: illegal chunk header: bytearray(b'zz')"
    assert faults.classify_flow_error(chunk, request_complete=False)[1] == "bad_chunked_body"
    refused = "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    assert faults.classify_flow_error(refused, request_complete=True)[1] == (
        "upstream_connect_failed"
    )
    assert faults.classify_flow_error("Client disconnected.", request_complete=True) == (
        "client",
        "client_disconnected",
    )


def test_log_records_of_the_connection_handler_become_faults() -> None:
    seen: list[tuple[faults.Fault, str | None]] = []
    watch = faults.ServerLogWatch(lambda f, c: seen.append((f, c)))
    log = logging.getLogger(faults.SERVER_LOGGER)
    level = log.level
    log.setLevel(logging.WARNING)
    watch.install()
    try:
        assert log.isEnabledFor(logging.INFO)  # lowered while installed
        extra = {"client": ("127.0.0.1", 5555)}
        log.info("127.0.0.1:5555: Bad HTTP request line: b'\\x16'", extra=extra)
        log.info("client connect", extra=extra)
        log.info("Closing connection due to inactivity: Client(...)", extra=extra)
        log.info("[::1]:80: Invalid header line: b'x'", extra={"client": ("::1", 80, 0, 0)})
    finally:
        watch.uninstall()
    assert log.level == logging.WARNING
    log.setLevel(level)
    assert [(f.side, f.reason, c) for f, c in seen] == [
        ("client", "bad_request_line", "127.0.0.1:5555"),
        ("client", "idle_timeout", "127.0.0.1:5555"),
        ("client", "bad_request_head", "[::1]:80"),
    ]
    assert seen[0][0].message == "Bad HTTP request line: b'\\x16'"  # peer prefix dropped
