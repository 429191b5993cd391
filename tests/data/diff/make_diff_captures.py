#!/usr/bin/env python3
"""Record two runs of one scripted app, before and after a "rectification", for the diff test.

Run as root (tcpdump, port 80):

    sudo /work/main/.venv/bin/python tests/data/diff/make_diff_captures.py

The scripted app sends the same session twice over loopback, each fictional
host on its own 127.0.6.x address. The "after" run stops sending the IMEI to
the Baidu ad SDK and starts sending the Wi-Fi MAC to Umeng; the phone number
to the first party and the location to Baidu's location SDK remain. Real HTTP
servers answer, tcpdump writes before.pcap and after.pcap next to this file.
"""

from __future__ import annotations

import http.client
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "captures"))
from sniff import Sniffer  # noqa: E402

PHONE_ADDR = "127.0.6.2"
HOSTS = {
    "api.shop.example.com": "127.0.6.10",
    "mobads.baidu.com": "127.0.6.11",
    "loc.map.baidu.com": "127.0.6.12",
    "ulogs.umeng.com": "127.0.6.13",
}
IMEI = "868915034726190"
MAC = "a4:5e:60:c1:22:9b"
PHONE = "13867452109"
LAT, LNG = 39.908722, 116.397499
MAX_BYTES = 30_000


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def request(host: str, method: str, target: str, body: bytes = b"") -> None:
    conn = http.client.HTTPConnection(HOSTS[host], 80, timeout=5, source_address=(PHONE_ADDR, 0))
    headers = {"Host": host, "User-Agent": "DemoShop/2.1 (Android 12)"}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, target, body=body or None, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{host}{target}: HTTP {response.status}")


def session(after: bool) -> None:
    """The scripted app: the same screens in the same order; only the SDK set changed."""
    form = urllib.parse.urlencode({"mobile": PHONE, "code": "4821"}).encode()
    request("api.shop.example.com", "POST", "/v1/login", form)
    if not after:
        request("mobads.baidu.com", "GET", f"/cpro/ui/mads.php?did={IMEI}&fmt=json")
    loc = urllib.parse.urlencode({"lat": f"{LAT:.6f}", "lng": f"{LNG:.6f}", "coor": "wgs84"})
    request("loc.map.baidu.com", "POST", "/sdk.php", loc.encode())
    if after:
        request("ulogs.umeng.com", "GET", f"/unify_logs?mc={urllib.parse.quote(MAC)}&pv=1")
    request("api.shop.example.com", "GET", "/v1/catalog?page=1")


def record(name: str, after: bool) -> Path:
    out = HERE / name
    partial = out.with_name(out.name + ".part")
    servers = [ThreadingHTTPServer((addr, 80), Handler) for addr in HOSTS.values()]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    addrs = " or ".join(f"host {a}" for a in HOSTS.values())
    argv = ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root", "-w"]
    try:
        with Sniffer([*argv, str(partial), f"host {PHONE_ADDR} and ({addrs})"]):
            session(after)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    size = partial.stat().st_size
    if size > MAX_BYTES:
        partial.unlink()
        sys.exit(f"{name}: {size} bytes, over the {MAX_BYTES} byte budget")
    partial.replace(out)
    print(f"wrote {out} ({size} bytes)")
    return out


def main() -> None:
    record("before.pcap", after=False)
    record("after.pcap", after=True)


if __name__ == "__main__":
    main()
