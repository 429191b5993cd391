"""Large responses pass through the real proxy as they arrive, without being held whole."""

from __future__ import annotations

import hashlib
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mitmproxy import io as mitmio

from leaktrace.pipeline import PipelineConfig
from leaktrace.proxy.addon import STREAM_RESPONSES_OVER
from leaktrace.proxy.session import ProxySession

from .lab import VALUES, RouteTo, opener

BIG = 48 << 20
BLOCK = bytes(range(256)) * 256  # 64 KiB


def _body(size: int) -> Iterator[bytes]:
    for start in range(0, size, len(BLOCK)):
        yield BLOCK[: min(len(BLOCK), size - start)]


class _Downloads(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

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


def _download(url: str, proxy: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with opener(proxy, None).open(url, timeout=60) as response:
        while block := response.read(1 << 16):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _expected(size: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    for block in _body(size):
        digest.update(block)
    return size, digest.hexdigest()


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
