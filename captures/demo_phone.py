"""The phone side of the demo: what the app and its SDKs send, in the order they send it.

Every request goes out from the phone's own loopback address through a real
client (curl, http.client, ssl, plain sockets) so the bytes on the wire are what
those stacks produce, not what a packet builder imagines.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import ssl
import subprocess
import urllib.parse

import demo_values as v
from scapy.layers.dns import DNS, DNSQR


class StubResolver:
    """Ask the demo DNS server for A records; remember answers as a phone's resolver does."""

    def __init__(self, server: str, source: str) -> None:
        self.server = server
        self.source = source
        self.cache: dict[str, str] = {}
        self._next_id = 0x4C00  # fixed ids keep the capture's DNS bytes reproducible

    def resolve(self, name: str) -> str:
        if name in self.cache:
            return self.cache[name]
        self._next_id += 1
        query = DNS(id=self._next_id, rd=1, qd=DNSQR(qname=name, qtype="A"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.source, 0))
            sock.settimeout(5)
            sock.sendto(bytes(query), (self.server, 53))
            data, _ = sock.recvfrom(4096)
        reply = DNS(data)
        if reply.id != query.id or reply.rcode != 0 or reply.ancount < 1:
            raise RuntimeError(f"DNS lookup of {name} failed: {reply.summary()}")
        address = str(reply.an[0].rdata)
        self.cache[name] = address
        return address


def _post(address: str, host: str, path: str, body: bytes, content_type: str) -> None:
    conn = http.client.HTTPConnection(address, 80, timeout=10, source_address=(v.PHONE_ADDR, 0))
    try:
        headers = {
            "Host": host,
            "User-Agent": v.USER_AGENT,
            "Content-Type": content_type,
            "Connection": "close",
        }
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST http://{host}{path} answered {response.status}")
    finally:
        conn.close()


def mobads_request(resolver: StubResolver) -> None:
    host = "mobads.baidu.com"
    address = resolver.resolve(host)
    url = f"http://{host}/cpro/ui/mads.php?appid=demo&did={v.IMEI}&os=android&w=1080&h=2400"
    argv = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--interface", v.PHONE_ADDR]
    argv += ["--resolve", f"{host}:80:{address}", "-A", v.USER_AGENT, url]
    subprocess.run(argv, check=True)


def register_request(resolver: StubResolver) -> None:
    host = "api.shop.example.com"
    address = resolver.resolve(host)
    _post(address, host, "/v2/device/register", v.register_body(), "application/json")


def login_request(resolver: StubResolver) -> None:
    host = "api.shop.example.com"
    address = resolver.resolve(host)
    body = urllib.parse.urlencode({"mobile": v.PHONE, "code": "4821"}).encode("ascii")
    _post(address, host, "/v1/login", body, "application/x-www-form-urlencoded")


def location_request(resolver: StubResolver) -> None:
    host = "loc.map.baidu.com"
    address = resolver.resolve(host)
    body = urllib.parse.urlencode({"req": v.location_req_field()}).encode("ascii")
    _post(address, host, "/sdk.php", body, "application/x-www-form-urlencoded")


def jpush_register(resolver: StubResolver) -> bytes:
    """Send the binary register frame; the host is only ever known from the DNS answer."""
    address = resolver.resolve("im.jpush.cn")
    with socket.create_connection(
        (address, v.JPUSH_PORT), timeout=10, source_address=(v.PHONE_ADDR, 0)
    ) as sock:
        sock.sendall(v.jpush_frame())
        ack = b""
        while len(ack) < len(v.JPUSH_ACK):
            chunk = sock.recv(64)
            if not chunk:
                break
            ack += chunk
    return ack


def measurement_tls(resolver: StubResolver) -> str:
    """TLS 1.3 with SNI to the tracker; the payload is opaque, so only the SNI can tell."""
    host = "app-measurement.com"
    address = resolver.resolve(host)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["h2", "http/1.1"])
    opaque = random.Random(20240601).randbytes(200)
    with (
        socket.create_connection(
            (address, 443), timeout=10, source_address=(v.PHONE_ADDR, 0)
        ) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(opaque)
        version = tls.version() or "unknown"
        with contextlib.suppress(ssl.SSLError, OSError):
            tls.unwrap()  # send close_notify and wait for the server's, as browsers do
    return version


def run_session(resolver: StubResolver) -> dict[str, str]:
    """The whole app session in order; returns facts the caller reports."""
    for name in v.HOSTS:
        resolver.resolve(name)
    mobads_request(resolver)
    register_request(resolver)
    login_request(resolver)
    location_request(resolver)
    ack = jpush_register(resolver)
    tls_version = measurement_tls(resolver)
    return {"jpush_ack": ack.hex(), "tls_version": tls_version}
