"""The fictional Internet of the demo: DNS, HTTP, a raw TCP push gateway and a TLS tracker.

Each server is a real socket server on its own loopback address, run in a thread,
so that the capture holds what real kernel stacks and real protocol libraries put
on the wire. Every server records what it received, so the demo can check that
each planted leak actually arrived before it writes the expected-findings file.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from scapy.layers.dns import DNS, DNSRR


@dataclass
class Received:
    """What the servers saw, for the demo's own end-to-end check."""

    dns_names: list[str] = field(default_factory=list)
    http: list[tuple[str, str, str, bytes]] = field(
        default_factory=list
    )  # host, method, target, body
    tcp_frames: list[bytes] = field(default_factory=list)
    tls_bytes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _HttpHandler(BaseHTTPRequestHandler):
    server_version = "nginx"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received: Received = self.server.received  # type: ignore[attr-defined]
        with received.lock:
            received.http.append((self.headers.get("Host", ""), self.command, self.path, body))
        reply = b'{"code":0,"msg":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.close_connection = True

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; the demo prints its own summary."""


class _DnsHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        server: _DnsServer = self.server  # type: ignore[assignment]
        try:
            query = DNS(data)
            qname = query.qd[0].qname.decode("ascii").rstrip(".").lower()
        except Exception:  # a malformed query gets no answer, as from a real resolver
            return
        with server.received.lock:
            server.received.dns_names.append(qname)
        address = server.zone.get(qname)
        if address is None:
            reply = DNS(id=query.id, qr=1, aa=1, rd=query.rd, ra=1, rcode=3, qd=query.qd)
        else:
            answer = DNSRR(rrname=qname + ".", type="A", ttl=300, rdata=address)
            reply = DNS(id=query.id, qr=1, aa=1, rd=query.rd, ra=1, qd=query.qd, an=answer)
        sock.sendto(bytes(reply), self.client_address)


class _DnsServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], zone: dict[str, str], received: Received):
        self.zone = zone
        self.received = received
        super().__init__(address, _DnsHandler)


class _FrameHandler(socketserver.BaseRequestHandler):
    """A push gateway: read one length-prefixed frame, answer with a fixed ack."""

    def handle(self) -> None:
        server: _FrameServer = self.server  # type: ignore[assignment]
        sock: socket.socket = self.request
        sock.settimeout(5)
        header = _recv_exact(sock, 2)
        frame = header + _recv_exact(sock, int.from_bytes(header, "big"))
        with server.received.lock:
            server.received.tcp_frames.append(frame)
        sock.sendall(server.ack)


class _FrameServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ack: bytes, received: Received):
        self.ack = ack
        self.received = received
        super().__init__(address, _FrameHandler)


class _TlsHandler(socketserver.BaseRequestHandler):
    """Complete a TLS 1.3 handshake and swallow whatever the client sends until it closes."""

    def handle(self) -> None:
        server: _TlsServer = self.server  # type: ignore[assignment]
        raw: socket.socket = self.request
        raw.settimeout(5)
        with server.context.wrap_socket(raw, server_side=True) as tls:
            total = 0
            while True:
                try:
                    chunk = tls.recv(4096)
                except (ssl.SSLEOFError, ConnectionResetError):
                    break
                if not chunk:
                    break
                total += len(chunk)
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.unwrap()  # answer the client's close_notify with ours
            with server.received.lock:
                server.received.tls_bytes.append(total)


class _TlsServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, received: Received):
        self.context = context
        self.received = received
        super().__init__(address, _TlsHandler)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed mid-frame")
        data += chunk
    return data


def write_self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A throwaway certificate: the client does not verify it, but a TLS server needs one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "server.crt"
    key_path = directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class DemoServers:
    """Start every server of the demo; stop them all on exit, whatever happened."""

    def __init__(
        self,
        dns_addr: str,
        zone: dict[str, str],
        http_addrs: list[str],
        frame_addr: tuple[str, int],
        frame_ack: bytes,
        tls_addr: str,
        tls_hostname: str,
        workdir: Path,
    ) -> None:
        for addr in [dns_addr, *http_addrs, frame_addr[0], tls_addr]:
            if not ipaddress.ip_address(addr).is_loopback:
                raise ValueError(f"demo servers bind loopback only, not {addr}")
        self.received = Received()
        self._specs = (dns_addr, zone, http_addrs, frame_addr, frame_ack, tls_addr, tls_hostname)
        self._workdir = workdir
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> DemoServers:
        dns_addr, zone, http_addrs, frame_addr, frame_ack, tls_addr, tls_hostname = self._specs
        try:
            self._add(_DnsServer((dns_addr, 53), zone, self.received))
            for addr in http_addrs:
                http = ThreadingHTTPServer((addr, 80), _HttpHandler)
                http.received = self.received  # type: ignore[attr-defined]
                self._add(http)
            self._add(_FrameServer(frame_addr, frame_ack, self.received))
            cert, key = write_self_signed(self._workdir, tls_hostname)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_3
            context.load_cert_chain(cert, key)
            context.set_alpn_protocols(["http/1.1"])
            self._add(_TlsServer((tls_addr, 443), context, self.received))
        except BaseException:
            self._stop()
            raise
        return self

    def _add(self, server: socketserver.BaseServer) -> None:
        server.daemon_threads = True  # type: ignore[attr-defined]
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    def _stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
