"""A throwaway network lab: namespaces, veth cables and HTTP servers that clean up after themselves.

The test captures must come from real kernel stacks, yet no packet may leave the
machine. So every recipe builds its own namespaces, wires them with veth pairs,
and tears all of it down in reverse order, even when a step fails halfway.

Sockets are opened inside a namespace by switching only the calling thread into
it (``setns`` is per thread on Linux); a socket stays in the namespace it was
created in, so the servers can then be served from ordinary threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# tool -> Debian package that provides it
TOOL_PACKAGES: dict[str, str] = {
    "ip": "iproute2",
    "tc": "iproute2",
    "tcpdump": "tcpdump",
    "dumpcap": "wireshark-common (pulled in by tshark)",
    "tshark": "tshark",
    "curl": "curl",
    "iptables": "iptables",
    "ethtool": "ethtool",
}


def require(tools: list[str]) -> None:
    """Exit with one message naming every missing tool and the package that has it."""
    problems = [
        f"{tool} not found (Debian package: {TOOL_PACKAGES.get(tool, tool)})"
        for tool in tools
        if shutil.which(tool) is None
    ]
    if os.geteuid() != 0:
        problems.append("must run as root: namespaces, tcpdump and eBPF need it")
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun missing (kernel without CONFIG_TUN)")
    if problems:
        sys.exit("cannot run:\n  " + "\n  ".join(problems))


def sh(*argv: str) -> str:
    """Run a command, returning stdout; on failure raise with its stderr in the message."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the body with this thread in ``netns``; sockets made here stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back: {os.strerror(err)}")
    finally:
        os.close(own)
        os.close(target)


class _Handler(BaseHTTPRequestHandler):
    server_version = "nginx"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen: list[tuple[str, str, str, int]] = self.server.seen  # type: ignore[attr-defined]
        seen.append((self.command, self.headers.get("Host", ""), self.path, len(body)))
        reply = b'{"ok":true}'
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
        """Quiet: the generator reports per capture, not per request."""


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Lab:
    """Owns everything a recipe creates; ``close`` undoes it in reverse order."""

    def __init__(self, tag: str) -> None:
        self.prefix = f"lt{os.getpid()}{tag}"  # the pid lets a later run spot leftovers
        self._stack = ExitStack()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def on_close(self, callback: Callable[[], object]) -> None:
        self._stack.callback(callback)

    def netns(self, name: str) -> str:
        """A fresh namespace with loopback up and IPv6 off unless a recipe turns it on."""
        full = f"{self.prefix}-{name}"
        sh("ip", "netns", "add", full)
        self.on_close(lambda: subprocess.run(["ip", "netns", "del", full], check=False))
        sh("ip", "-n", full, "link", "set", "lo", "up")
        self.sysctl(full, "net.ipv6.conf.all.disable_ipv6", "1")
        self.sysctl(full, "net.ipv6.conf.default.disable_ipv6", "1")
        return full

    def sysctl(self, netns: str, key: str, value: str) -> None:
        sh("ip", "netns", "exec", netns, "sysctl", "-q", "-w", f"{key}={value}")

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str, mtu: int | None = None) -> None:
        """A cable between two namespaces; deleting either namespace removes it."""
        peer = ["peer", "name", if_b, "netns", ns_b]
        sh("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", *peer)
        for ns, dev in ((ns_a, if_a), (ns_b, if_b)):
            if mtu is not None:
                sh("ip", "-n", ns, "link", "set", dev, "mtu", str(mtu))

    def addr(self, netns: str, dev: str, cidr: str, *extra: str) -> None:
        sh("ip", "-n", netns, "addr", "add", cidr, "dev", dev, *extra)

    def up(self, netns: str, dev: str) -> None:
        sh("ip", "-n", netns, "link", "set", dev, "up")

    def http_server(self, addr: str, port: int = 80, netns: str | None = None) -> list[Any]:
        """Serve HTTP on addr:port (in netns if given); returns the list of requests seen."""
        if netns is None and not ipaddress.ip_address(addr).is_loopback:
            raise ValueError(f"outside a namespace the lab serves loopback only, not {addr}")
        cls = _V6Server if ":" in addr else ThreadingHTTPServer
        with inside(netns) if netns else contextlib.nullcontext():
            server = cls((addr, port), _Handler)
        server.daemon_threads = True
        seen: list[tuple[str, str, str, int]] = []
        server.seen = seen  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        self.on_close(stop)
        return seen

    def in_ns(self, netns: str | None, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", netns, *argv] if netns else argv
