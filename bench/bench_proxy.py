"""Requests per second through the live proxy, detection on vs. plain mitmproxy.

    python bench/bench_proxy.py                       # 2000 requests, 4 clients
    python bench/bench_proxy.py --requests 5000 --clients 8 --max-seconds 60

Everything runs on 127.0.0.1 in this process: an HTTPS upstream with a
certificate made for the run, the proxy (mitmproxy through its Python API,
once with the leaktrace addon and the demo device's values, once without any
addon), and client threads that keep one TLS connection each through the
proxy (CONNECT tunnel, HTTP/1.1 keep-alive). Each request carries identifiers
in the query and in a JSON body, so detection does real work. Both runs send
the same requests; the count and the wall time are bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from leaktrace.proxy.runner import ProxyRunner
from leaktrace.proxy.session import ProxySession
from leaktrace.testing import self_signed_cert

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "captures" / "device.yaml"
HOSTS = ("ulogs.umeng.com", "api.example.com", "loc.map.baidu.com", "t.getui.net")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # every client may connect at once


def upstream(cert: tuple[Path, Path] | None) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 answering every POST ``ok``; HTTPS with ``cert``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = _Server(("127.0.0.1", 0), Handler)
    if cert is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drive(
    proxy: tuple[str, int], upstream_port: int, ca: Path, total: int, clients: int, max_s: float
) -> tuple[int, float]:
    """Send up to ``total`` requests from ``clients`` threads; (requests done, seconds)."""
    values = yaml.safe_load(DEVICE.read_text())
    body = json.dumps({"device": {"android_id": values["android_id"]}, "phone": values["phone"]})
    ctx = ssl.create_default_context(cafile=str(ca))
    done = [0] * clients
    deadline = time.monotonic() + max_s

    def client(n: int) -> None:
        host = HOSTS[n % len(HOSTS)]
        conn = http.client.HTTPSConnection(proxy[0], proxy[1], context=ctx, timeout=30)
        conn.set_tunnel("127.0.0.1", upstream_port)  # the Host header names the service
        for i in range(total // clients):
            if time.monotonic() > deadline:
                break
            conn.request(
                "POST",
                f"/t?imei={values['imei']}&seq={i}",
                body=body,
                headers={"Host": host, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            done[n] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done), time.perf_counter() - start


def measure(
    proxy: tuple[str, int], port: int, ca: Path, args: argparse.Namespace
) -> tuple[int, float]:
    drive(proxy, port, ca, 40, 2, 10)  # warm up: certificates generated, code paths hot
    return drive(proxy, port, ca, args.requests, args.clients, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = upstream(self_signed_cert(folder, HOSTS, stem="up"))
        port = int(server.server_address[1])
        common = {"ssl_insecure": True, "listen_host": "127.0.0.1", "listen_port": 0}

        runner = ProxyRunner({"confdir": tmp, **common}, [])
        runner.start()
        try:
            ca = folder / "mitmproxy-ca-cert.pem"
            plain_n, plain_s = measure(runner.listen_addrs[0], port, ca, args)
        finally:
            runner.stop()

        with ProxySession(
            device=DEVICE, confdir=folder / "leaktrace", mitm_options={"ssl_insecure": True}
        ) as session:
            lt_n, lt_s = measure(session.address, port, session.ca_cert, args)
            findings = len(session.findings())
        server.shutdown()

    plain_rps, lt_rps = plain_n / plain_s, lt_n / lt_s
    print(f"plain mitmproxy:       {plain_n} requests in {plain_s:.2f} s = {plain_rps:.0f} req/s")
    print(
        f"leaktrace (detection): {lt_n} requests in {lt_s:.2f} s = {lt_rps:.0f} req/s "
        f"({findings} findings in {lt_n + 40} requests)"
    )
    print(f"ratio leaktrace/plain: {lt_rps / plain_rps:.2f}")


if __name__ == "__main__":
    main()
