"""Two TUN devices joined back to back, so a capture on one of them is LINKTYPE_RAW.

A TUN device hands IP packets, with no link header, to whoever holds its file
descriptor. Put one TUN in each namespace and copy packets between the two
descriptors, and the pair behaves like a point-to-point cable: the stacks on
both sides talk real TCP over it, and tcpdump on either end records bare IP
packets, as it would on a VPN or cellular interface.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import threading

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    """Create TUN device ``name`` in the calling thread's netns; it lives while the fd is open."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except BaseException:
        os.close(fd)
        raise
    return fd


class Wire:
    """Copy packets both ways between two TUN descriptors until stopped."""

    def __init__(self, fd_a: int, fd_b: int) -> None:
        self._fds = (fd_a, fd_b)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.packets = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        fd_a, fd_b = self._fds
        peer = {fd_a: fd_b, fd_b: fd_a}
        while True:
            ready, _, _ = select.select([fd_a, fd_b, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                packet = os.read(fd, 65536)
                os.write(peer[fd], packet)
                self.packets += 1

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._stop_r)
        os.close(self._stop_w)
