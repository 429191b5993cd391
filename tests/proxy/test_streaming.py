"""Large responses and uploads pass through the real proxy as they arrive, without being
held whole; an upload is still analyzed on the part analysis reads."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import tracemalloc
import urllib.error
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request

import pytest
from mitmproxy import io as mitmio

from leaktrace.analyze import analyze_capture
from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy.addon import STREAM_REQUESTS_OVER, STREAM_RESPONSES_OVER
from leaktrace.proxy.convert import MAX_BODY_BYTES
from leaktrace.proxy.session import ProxySession

from .lab import APP, DEVICE, VALUES, RouteTo, opener

BIG = 48 << 20
BLOCK = bytes(range(256)) * 256  # 64 KiB


def _body(size: int) -> Iterator[bytes]:
    for start in range(0, size, len(BLOCK)):
        yield BLOCK[: min(len(BLOCK), size - start)]


class _Downloads(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        """Answers with the size and SHA-256 of the body it read, in blocks."""
        answer = "{} {}".format(*_digest(self._blocks())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _blocks(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                while size:
                    block = self.rfile.read(min(size, 1 << 16))
                    size -= len(block)
                    yield block
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        left = int(self.headers.get("Content-Length", "0"))
        while left:
            block = self.rfile.read(min(left, 1 << 16))
            left -= len(block)
            yield block

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        size = int(parse_qs(url.query)["size"][0])
        self.send_response(200)
        if url.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for block in _body(size):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for block in _body(size):
                self.wfile.write(block)


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Downloads)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _digest(blocks: Iterable[bytes]) -> tuple[int, str]:
    """The size and SHA-256 of a body read in blocks, never held whole."""
    digest = hashlib.sha256()
    size = 0
    for block in blocks:
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def _download(url: str, proxy: str) -> tuple[int, str]:
    with opener(proxy, None).open(url, timeout=60) as response:
        return _digest(iter(lambda: response.read(1 << 16), b""))


def _expected(size: int) -> tuple[int, str]:
    return _digest(_body(size))


@pytest.mark.parametrize("path", ["/download", "/chunked"])
def test_a_large_response_is_streamed_whole_and_the_request_still_analyzed(
    tmp_path: Path, device_config: PipelineConfig, upstream: int, path: str
) -> None:
    save = tmp_path / "session.mitm"
    session = ProxySession(config=device_config, save=save, addons=[RouteTo(upstream)])
    with session:
        url = f"http://cdn.example.com{path}?size={{}}&imei={VALUES['imei']}"
        assert _download(url.format(1000), session.url) == _expected(1000)
        tracemalloc.start()
        try:
            got = _download(url.format(BIG), session.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert got == _expected(BIG)
        assert peak < BIG // 4, peak >> 20  # the proxy did not hold the 48 MB body
        imeis = [f for f in session.findings() if f.type == "imei"]
        assert len(imeis) == 2 and all(f.host == "cdn.example.com" for f in imeis)
    with save.open("rb") as stream:
        flows = list(mitmio.FlowReader(stream).stream())
    bodies = [f.response.raw_content for f in flows if f.response is not None]  # type: ignore[attr-defined]
    if path == "/download":  # a small body of known length is kept in the saved session
        assert bodies == [_body_bytes(1000), None]
    else:  # one of unknown length is streamed, whatever its size
        assert bodies == [None, None]
    assert STREAM_RESPONSES_OVER < BIG


def _body_bytes(size: int) -> bytes:
    return b"".join(_body(size))


UPLOAD_HEAD = f"imei={VALUES['imei']}&blob=".encode()


def _upload(size: int) -> Iterator[bytes]:
    """A form body: the IMEI first, then binary filler up to ``size`` bytes."""
    yield UPLOAD_HEAD
    yield from _body(size - len(UPLOAD_HEAD))


def _upload_bytes(size: int) -> bytes:
    return b"".join(_upload(size))


def _send_upload(proxy: str, size: int, chunked: bool, host: str = "upload.example.com") -> str:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if not chunked:  # urllib sends an iterable body chunked unless told its length
        headers["Content-Length"] = str(size)
    request = Request(f"http://{host}/v1/upload", data=_upload(size), headers=headers)
    with opener(proxy, None).open(request, timeout=60) as response:
        return str(response.read().decode())


def _expected_upload(size: int) -> str:
    return "{} {}".format(*_digest(_upload(size)))


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_large_upload_is_streamed_whole_and_analyzed_like_a_small_one(
    tmp_path: Path, device_config: PipelineConfig, upstream: int, chunked: bool
) -> None:
    save = tmp_path / "session.mitm"
    session = ProxySession(config=device_config, save=save, addons=[RouteTo(upstream)])
    with session:
        assert _send_upload(session.url, 1000, chunked) == _expected_upload(1000)
        tracemalloc.start()
        try:
            got = _send_upload(session.url, BIG, chunked)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert got == _expected_upload(BIG)  # the server got every byte, in order
        # the 8 MiB analysis reads and what analyzing them takes; held whole: 136 MB
        assert peak < BIG, peak >> 20
        found = [(f.type, f.host, f.where, f.form) for f in session.findings()]
    small, big = found[: len(found) // 2], found[len(found) // 2 :]
    assert small == big and ("imei", "upload.example.com", "body", "plain") in small
    with save.open("rb") as stream:
        flows = list(mitmio.FlowReader(stream).stream())
    bodies = [f.request.raw_content for f in flows]  # type: ignore[attr-defined]
    # saved as analyzed: a streamed body cut one byte past the cap, as a buffered one is read
    assert [len(b) if b is not None else None for b in bodies] == [1000, MAX_BODY_BYTES + 1]
    assert (
        bodies[0] == _upload_bytes(1000) and bodies[1] == _upload_bytes(BIG)[: MAX_BODY_BYTES + 1]
    )
    streamed = [f.metadata["leaktrace"].get("streamed", False) for f in flows]
    assert streamed == [chunked, True]  # of unknown length: streamed, whatever its size
    offline = analyze_capture(save, device_config).findings
    assert [(f.type, f.host, f.where, f.form) for f in offline] == found
    assert STREAM_REQUESTS_OVER < BIG


def test_an_upload_that_may_be_blocked_is_held_and_judged_first(
    upstream: int,
) -> None:
    """With --block-undeclared the body is read before anything leaves: an IMEI to a
    party the declaration does not name is answered 403, and the server never sees it."""
    with ProxySession(
        device=DEVICE,
        app=APP,
        block_undeclared=True,
        addons=[RouteTo(upstream)],
    ) as session:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _send_upload(session.url, 4 * STREAM_REQUESTS_OVER, True, host="ulogs.umeng.com")
        assert refused.value.code == 403
        assert refused.value.headers["X-Leaktrace"] == "blocked"
        assert [(f.type, f.sdk) for f in session.findings()] == [("imei", "umeng")]


def test_an_upload_cut_short_is_analyzed_on_what_arrived(
    device_config: PipelineConfig, upstream: int
) -> None:
    size = 4 * STREAM_REQUESTS_OVER
    sent = _upload_bytes(size)[: size // 2]
    with ProxySession(config=device_config, addons=[RouteTo(upstream)]) as session:
        head = (
            "POST http://upload.example.com/v1/upload HTTP/1.1\r\n"
            f"Host: upload.example.com\r\nContent-Length: {size}\r\n\r\n"
        )
        with socket.create_connection(session.address, timeout=10) as conn:
            conn.sendall(head.encode() + sent)
        deadline = time.monotonic() + 10
        while not (found := session.findings()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [(f.type, f.host, f.where) for f in found] == [("imei", "upload.example.com", "body")]
