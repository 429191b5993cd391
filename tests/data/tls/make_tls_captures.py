#!/usr/bin/env python3
"""Regenerate the encrypted and non-HTTP test captures, with the key logs that open them.

Run as root (tcpdump, privileged ports):

    /work/main/.venv/bin/python tests/data/tls/make_tls_captures.py [--out DIR] [--only NAME]

Every capture is a real exchange between real stacks on loopback: OpenSSL's
``s_server`` and Python's ``ssl`` client (TLS 1.2 and 1.3, both AEAD families;
once through an HTTP proxy's CONNECT tunnel),
curl against an ``h2`` server (HTTP/2 over TLS and cleartext h2c), an aioquic
HTTP/3 client and server (QUIC), headless Chromium against that server (QUIC as
Android's Cronet speaks it; skipped when Chromium is not installed), a wsproto
WebSocket client and server, the Mosquitto broker (MQTT) and an HTTP server
receiving a protobuf body. Each server listens on its own 127.0.7.x address
and tcpdump on ``lo`` keeps only that address, so nothing else lands in a file.
Every exchange carries the markers IMEI 356938035643809 and IMSI
460001234567890, which the tests expect to find. TLS key logs are written next
to each capture (``<name>.keys``), and one capture is also written as pcapng
with its keys embedded in a Decryption Secrets Block (``editcap
--inject-secrets``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMEI = "356938035643809"
IMSI = "460001234567890"
JSON_BODY = (f'{{"imei":"{IMEI}","os":"android"}}').encode()


# -- capture plumbing ---------------------------------------------------------------


@contextlib.contextmanager
def tcpdump(path: Path, addr: str) -> Iterator[None]:
    """Capture loopback traffic to and from ``addr`` while the block runs."""
    proc = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "lo",
            "-n",
            "-U",
            "--immediate-mode",
            "-s",
            "0",
            "-w",
            str(path),
            f"host {addr}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "listening on lo, ..." once the socket is ready
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"tcpdump did not start: {line}")
    try:
        yield
    finally:
        time.sleep(0.5)
        proc.terminate()
        proc.wait(timeout=10)


def make_cert(work: Path, names: list[str]) -> tuple[Path, Path]:
    cert, key = work / "cert.pem", work / "key.pem"
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def wait_listen(addr: str, port: int, udp: bool = False) -> None:
    """Wait until a server has bound ``addr:port`` (without connecting, which would use it up)."""
    flags = "-Hlun" if udp else "-Hltn"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listing = subprocess.run(
            ["ss", flags, "src", f"{addr}:{port}"], capture_output=True, text=True
        ).stdout
        if listing.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {addr}:{port}")


def post_request(host: str, path: str, extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: demo-sdk/1.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(JSON_BODY)}\r\n{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + JSON_BODY


# -- TLS over OpenSSL s_server -------------------------------------------------------

TLS_CASES = {
    # name: (address, server options, client max version, SNI)
    "tls12_aes128gcm": (
        "127.0.7.1",
        ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
        ssl.TLSVersion.TLSv1_2,
        "ulogs.umeng.com",
    ),
    "tls12_chacha20": (
        "127.0.7.2",
        ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
        ssl.TLSVersion.TLSv1_2,
        "ulogs.umeng.com",
    ),
    "tls13_aes128gcm": (
        "127.0.7.3",
        ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
        ssl.TLSVersion.TLSv1_3,
        "sdk.open.phone.igexin.com",
    ),
    "tls13_aes256gcm": (
        "127.0.7.4",
        ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
        ssl.TLSVersion.TLSv1_3,
        "sdk.open.phone.igexin.com",
    ),
    "tls13_chacha20": (
        "127.0.7.5",
        ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
        ssl.TLSVersion.TLSv1_3,
        "sdk.open.phone.igexin.com",
    ),
}


def tls_case(name: str, out: Path, work: Path, cert: Path, key: Path) -> None:
    addr, server_opts, version, sni = TLS_CASES[name]
    keys = out / f"{name}.keys"
    keys.unlink(missing_ok=True)
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"{addr}:443",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-www",
            "-naccept",
            "1",
            "-quiet",
            *server_opts,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listen(addr, 443)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    ctx.keylog_filename = str(keys)
    with (
        tcpdump(out / f"{name}.pcap", addr),
        socket.create_connection((addr, 443)) as raw,
        ctx.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        tls.sendall(post_request(sni, f"/v1/log?imsi={IMSI}"))
        tls.settimeout(1.0)  # s_server -www may keep a POST open: read what comes
        with contextlib.suppress(OSError):
            while tls.recv(65536):
                pass
    server.terminate()
    server.wait(timeout=10)


# -- TLS through an HTTP proxy's CONNECT tunnel ----------------------------------------------


def connect_relay(listener: socket.socket, upstream: tuple[str, int]) -> None:
    """A minimal HTTP proxy for one client: answer its CONNECT, then relay both ways."""
    import select

    client, _ = listener.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    assert head.startswith(b"CONNECT "), head[:40]
    server = socket.create_connection(upstream)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    peers = {client: server, server: client}
    open_ends = 2
    while open_ends:
        readable, _, _ = select.select(list(peers), [], [], 5.0)
        if not readable:
            break
        for sock in readable:
            data = sock.recv(65536)
            if data:
                peers[sock].sendall(data)
                continue
            with contextlib.suppress(OSError):
                peers[sock].shutdown(socket.SHUT_WR)
            del peers[sock]
            open_ends -= 1
    client.close()
    server.close()


def proxy_connect_case(out: Path, cert: Path, key: Path) -> None:
    """Python's ``ssl`` client reaches OpenSSL's ``s_server`` through an HTTP proxy:
    a CONNECT, the proxy's answer, then TLS 1.3 inside the tunnel. Only the leg
    between the client and the proxy (127.0.7.10) is captured, as on a device's Wi-Fi."""
    proxy, server_addr, sni = "127.0.7.10", "127.0.7.11", "ulogs.umeng.com"
    keys = out / "proxy_connect.keys"
    keys.unlink(missing_ok=True)
    server = subprocess.Popen(
        [
            *("openssl", "s_server", "-accept", f"{server_addr}:443"),
            *("-cert", str(cert), "-key", str(key), "-www", "-naccept", "1", "-quiet"),
            *("-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listen(server_addr, 443)
    listener = socket.create_server((proxy, 3128))
    relay = threading.Thread(target=connect_relay, args=(listener, (server_addr, 443)))
    relay.start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = str(keys)
    with tcpdump(out / "proxy_connect.pcap", proxy), socket.create_connection((proxy, 3128)) as raw:
        raw.sendall(f"CONNECT {sni}:443 HTTP/1.1\r\nHost: {sni}:443\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            tls.sendall(post_request(sni, f"/v1/log?imsi={IMSI}"))
            tls.settimeout(1.0)  # s_server -www may keep a POST open: read what comes
            with contextlib.suppress(OSError):
                while tls.recv(65536):
                    pass
    relay.join(timeout=10)
    listener.close()
    server.terminate()
    server.wait(timeout=10)


# -- HTTP/2 (h2 library server; curl client) ------------------------------------------


def h2_server(sock: socket.socket, use_tls: ssl.SSLContext | None) -> None:
    import h2.config
    import h2.connection
    import h2.events

    conn_sock, _ = sock.accept()
    if use_tls is not None:
        conn_sock = use_tls.wrap_socket(conn_sock, server_side=True)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    conn_sock.sendall(conn.data_to_send())
    done = False
    while not done:
        data = conn_sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", "2")])
                conn.send_data(event.stream_id, b"ok", end_stream=True)
            elif isinstance(event, h2.events.ConnectionTerminated):
                done = True
        conn_sock.sendall(conn.data_to_send())
    conn_sock.close()


def h2_case(name: str, out: Path, cert: Path, key: Path) -> None:
    addr, host = ("127.0.7.6", "android.bugly.qq.com")
    tls = name == "http2_tls"
    if not tls:
        addr = "127.0.7.7"
    port = 443 if tls else 80
    ctx: ssl.SSLContext | None = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server((addr, port))
    thread = threading.Thread(target=h2_server, args=(listener, ctx), daemon=True)
    thread.start()
    keys = out / f"{name}.keys"
    keys.unlink(missing_ok=True)
    env = dict(os.environ, SSLKEYLOGFILE=str(keys))
    scheme = "https" if tls else "http"
    argv = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10"]
    argv += ["--http2", "-k"] if tls else ["--http2-prior-knowledge"]
    argv += ["--resolve", f"{host}:{port}:{addr}", "-H", f"X-Imsi: {IMSI}"]
    argv += ["-H", "Content-Type: application/json", "--data-binary", JSON_BODY.decode()]
    argv += [f"{scheme}://{host}/rqd/async?aid=demo"]
    with tcpdump(out / f"{name}.pcap", addr):
        subprocess.run(argv, check=True, env=env)
        thread.join(timeout=5)
    listener.close()
    if not tls:
        keys.unlink(missing_ok=True)


# -- QUIC / HTTP/3 (aioquic client and server) ------------------------------------------


def quic_case(out: Path, cert: Path, key: Path) -> None:
    from aioquic.asyncio import connect, serve
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.events import QuicEvent

    addr, host = "127.0.7.8", "tsis.jpush.cn"
    keys = out / "quic_h3.keys"
    keys.unlink(missing_ok=True)

    class Server(QuicConnectionProtocol):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.h3 = H3Connection(self._quic)

        def quic_event_received(self, event: QuicEvent) -> None:
            for ev in self.h3.handle_event(event):
                if isinstance(ev, DataReceived) and ev.stream_ended:
                    self.h3.send_headers(ev.stream_id, [(b":status", b"200")])
                    self.h3.send_data(ev.stream_id, b"ok", end_stream=True)
            self.transmit()

    class Client(QuicConnectionProtocol):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.h3 = H3Connection(self._quic)
            self.done = asyncio.Event()

        def quic_event_received(self, event: QuicEvent) -> None:
            for ev in self.h3.handle_event(event):
                if isinstance(ev, (DataReceived, HeadersReceived)) and ev.stream_ended:
                    self.done.set()

    async def run() -> None:
        server_cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        server_cfg.load_cert_chain(cert, key)
        server = await serve(addr, 443, configuration=server_cfg, create_protocol=Server)
        with open(keys, "w") as log:
            client_cfg = QuicConfiguration(
                is_client=True,
                alpn_protocols=H3_ALPN,
                verify_mode=ssl.CERT_NONE,
                server_name=host,
                secrets_log_file=log,
            )
            async with connect(
                addr, 443, configuration=client_cfg, create_protocol=Client
            ) as client:
                assert isinstance(client, Client)
                stream = client._quic.get_next_available_stream_id()
                client.h3.send_headers(
                    stream,
                    [
                        (b":method", b"POST"),
                        (b":scheme", b"https"),
                        (b":authority", host.encode()),
                        (b":path", f"/v3/report?imsi={IMSI}".encode()),
                        (b"content-type", b"application/json"),
                    ],
                )
                client.h3.send_data(stream, JSON_BODY, end_stream=True)
                client.transmit()
                await asyncio.wait_for(client.done.wait(), 10)
        server.close()

    with tcpdump(out / "quic_h3.pcap", addr):
        asyncio.run(run())


# -- QUIC / HTTP/3 from Chromium (the network stack Android apps embed as Cronet) -------------

CHROMIUM_PAGE = (
    "<html><head><link rel=icon href='data:,'></head><body><script>"
    f"fetch('/v3/report?imsi={IMSI}', {{method: 'POST', "
    "headers: {'content-type': 'application/json'}, "
    f"body: '{JSON_BODY.decode()}'}})"
    ".then(r => r.text())"
    ".then(a => fetch('/v3/wait').then(() => a))"
    f".then(a => fetch('/v3/config?imsi={IMSI}').then(r => r.text()).then(b => a + b))"
    ".then(t => document.body.setAttribute('data-sent', t));"
    "</script></body></html>"
).encode()


# Chromium speaks QUIC v1 by default; RFC 9369's v2 when told to.
QUIC_VERSION_FLAGS: dict[str, list[str]] = {
    "quic_chromium": [],
    "quic_chromium_v2": ["--quic-version=RFCv2"],
}


def quic_chromium_case(name: str, out: Path, work: Path, cert: Path, key: Path) -> None:
    """Headless Chromium loads a page over HTTP/3 whose script POSTs the markers,
    then GETs them on a second connection, resumed with 0-RTT.

    Chromium's ClientHello carries a post-quantum key share and spans two Initial
    packets; its QPACK, packet coalescing and ACK pattern are its own. The server
    issues a session ticket and closes the first connection after answering a
    request between the two, so the GET goes out as 0-RTT early data on the next.
    Chromium resolves only the test host (to 127.0.7.9) and trusts the test
    certificate by its key.
    """
    from aioquic.asyncio import serve
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import H3Event, HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.events import QuicEvent
    from aioquic.tls import SessionTicket

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: its headless helpers
    from headless import spki_pin

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(f"chromium not found: {name} skipped", flush=True)
        return
    addr, host = "127.0.7.9", "tsis.jpush.cn"
    keys = out / f"{name}.keys"

    class Server(QuicConnectionProtocol):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.h3 = H3Connection(self._quic)
            self.paths: dict[int, bytes] = {}

        def quic_event_received(self, event: QuicEvent) -> None:
            for ev in self.h3.handle_event(event):
                self._answer(ev)
            self.transmit()

        def _answer(self, ev: H3Event) -> None:
            if isinstance(ev, HeadersReceived):
                self.paths[ev.stream_id] = dict(ev.headers).get(b":path", b"")
            if not getattr(ev, "stream_ended", False):
                return
            path = self.paths.get(ev.stream_id, b"")
            page = path.startswith(b"/page")
            self.h3.send_headers(
                ev.stream_id,
                [(b":status", b"200"), (b"content-type", b"text/html" if page else b"text/plain")],
            )
            self.h3.send_data(ev.stream_id, CHROMIUM_PAGE if page else b"ok", end_stream=True)
            if path.startswith(b"/v3/wait"):  # no marker: harmless if Chromium retries it
                self.transmit()  # the answer first: closing drops what is not yet sent
                self._quic.close()  # the next request needs a new connection: 0-RTT

    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        f"--user-data-dir={work / 'chromium'}",
        f"--ssl-key-log-file={keys}",
        "--enable-quic",
        *QUIC_VERSION_FLAGS[name],
        f"--origin-to-force-quic-on={host}:443",
        f"--host-resolver-rules=MAP {host} {addr}, MAP * ~NOTFOUND",
        f"--ignore-certificate-errors-spki-list={spki_pin(cert)}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        f"https://{host}/page",
    ]

    async def run() -> str:
        config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        config.load_cert_chain(cert, key)
        tickets: dict[bytes, SessionTicket] = {}
        server = await serve(
            addr,
            443,
            configuration=config,
            create_protocol=Server,
            session_ticket_fetcher=tickets.pop,
            session_ticket_handler=lambda ticket: tickets.__setitem__(ticket.ticket, ticket),
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            dom, _ = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            server.close()
        return dom.decode()

    # Chromium may retry a request on a third connection when the close overtakes
    # an answer, or give up on it: the capture is made again, up to three times.
    for _ in range(3):
        keys.unlink(missing_ok=True)
        with tcpdump(out / f"{name}.pcap", addr):
            dom = asyncio.run(run())
        connections = keys.read_text().count("CLIENT_TRAFFIC_SECRET_0") if keys.exists() else 0
        if 'data-sent="okok"' in dom and connections == 2:
            return
    raise RuntimeError(f"chromium did not make the two HTTP/3 connections: {dom[:200]}")


# -- WebSocket (wsproto on both ends) -------------------------------------------------------


def websocket_case(out: Path) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Request,
        TextMessage,
    )

    addr, host = "127.0.7.9", "sdk.open.talk.getui.net"
    listener = socket.create_server((addr, 80))

    def serve() -> None:
        sock, _ = listener.accept()
        ws = WSConnection(ConnectionType.SERVER)
        closing = False
        while not closing:
            data = sock.recv(65536)
            if not data:
                break
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    sock.sendall(ws.send(AcceptConnection()))
                elif isinstance(event, CloseConnection):
                    sock.sendall(ws.send(event.response()))
                    closing = True
        sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with tcpdump(out / "websocket.pcap", addr):
        with socket.create_connection((addr, 80)) as sock:
            ws = WSConnection(ConnectionType.CLIENT)
            sock.sendall(ws.send(Request(host=host, target="/push/v2")))
            ws.receive_data(sock.recv(65536))
            assert any(isinstance(e, AcceptConnection) for e in ws.events())
            sock.sendall(ws.send(TextMessage(data=JSON_BODY.decode())))
            sock.sendall(ws.send(BytesMessage(data=b"\x01\x02imsi=" + IMSI.encode())))
            sock.sendall(ws.send(CloseConnection(code=1000)))
            with contextlib.suppress(OSError):
                while sock.recv(65536):
                    pass
        thread.join(timeout=5)
    listener.close()


# -- MQTT (Mosquitto broker, raw-socket client) ---------------------------------------------


def _mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _mqtt_packet(first: int, body: bytes) -> bytes:
    length, enc = len(body), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        enc.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([first]) + bytes(enc) + body


def mqtt_case(out: Path, work: Path) -> None:
    addr = "127.0.7.10"
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener 1883 {addr}\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listen(addr, 1883)
        with tcpdump(out / "mqtt.pcap", addr), socket.create_connection((addr, 1883)) as sock:
            connect = (
                _mqtt_str("MQTT")
                + bytes([4, 0xC2])  # level 3.1.1; username, password, clean session
                + struct.pack("!H", 60)
                + _mqtt_str(f"d:{IMEI}")
                + _mqtt_str("device")
                + _mqtt_str(f"imsi={IMSI}")
            )
            sock.sendall(_mqtt_packet(0x10, connect))
            assert sock.recv(4)[:1] == b"\x20"  # CONNACK
            publish = _mqtt_str(f"devices/{IMSI}/state") + struct.pack("!H", 1) + JSON_BODY
            sock.sendall(_mqtt_packet(0x32, publish))  # QoS 1
            assert sock.recv(4)[:1] == b"\x40"  # PUBACK
            sock.sendall(_mqtt_packet(0xE0, b""))  # DISCONNECT
    finally:
        broker.terminate()
        broker.wait(timeout=10)


# -- protobuf body over plain HTTP ------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb_field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def protobuf_body() -> bytes:
    """app_id=7, device={1: IMEI, 2: IMSI as a number}, lat/lng as doubles (fields 5, 6)."""
    device = _pb_field(1, 2, IMEI.encode()) + _pb_field(2, 0, _varint(int(IMSI)))
    return (
        _pb_field(1, 0, _varint(7))
        + _pb_field(2, 2, b"com.example.demoshop")
        + _pb_field(3, 2, device)
        + _pb_field(5, 1, struct.pack("<d", 39.908722))
        + _pb_field(6, 1, struct.pack("<d", 116.397499))
    )


def protobuf_case(out: Path) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    addr, host = "127.0.7.11", "beacon.sensorsdata.cn"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer((addr, 80), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    body = protobuf_body()
    with tcpdump(out / "protobuf.pcap", addr):
        with socket.create_connection((addr, 80)) as sock:
            head = (
                f"POST /sa/pb HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
            while sock.recv(65536):
                pass
        thread.join(timeout=5)
    server.server_close()


# -- driver -------------------------------------------------------------------------------------


def inject_secrets(out: Path, name: str) -> None:
    """The same capture as pcapng with its key log in a Decryption Secrets Block."""
    subprocess.run(
        [
            "editcap",
            "--inject-secrets",
            f"tls,{out / (name + '.keys')}",
            str(out / f"{name}.pcap"),
            str(out / f"{name}_dsb.pcapng"),
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: tcpdump and ports below 1024 need it")
    for tool in ("tcpdump", "openssl", "curl", "mosquitto", "editcap"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = ["ulogs.umeng.com", "sdk.open.phone.igexin.com", "android.bugly.qq.com"]
        cert, key = make_cert(work, [*names, "tsis.jpush.cn"])
        steps: dict[str, Callable[[], None]] = {
            name: (lambda n=name: tls_case(n, out, work, cert, key)) for name in TLS_CASES
        }
        steps["proxy_connect"] = lambda: proxy_connect_case(out, cert, key)
        steps["http2_tls"] = lambda: h2_case("http2_tls", out, cert, key)
        steps["http2_h2c"] = lambda: h2_case("http2_h2c", out, cert, key)
        steps["quic_h3"] = lambda: quic_case(out, cert, key)
        for name in QUIC_VERSION_FLAGS:
            steps[name] = lambda n=name: quic_chromium_case(n, out, work, cert, key)
        steps["websocket"] = lambda: websocket_case(out)
        steps["mqtt"] = lambda: mqtt_case(out, work)
        steps["protobuf"] = lambda: protobuf_case(out)
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            print(f"capturing {name}", flush=True)
            step()
        if not args.only or "tls13_aes128gcm" in args.only:
            inject_secrets(out, "tls13_aes128gcm")
    for path in sorted(out.glob("*.pcap*")):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
