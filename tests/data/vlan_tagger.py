"""802.1Q tagging done by the kernel, for kernels built without the 8021q VLAN driver.

Where ``ip link add ... type vlan`` is unavailable, the same wire format can be
produced by the kernel's own VLAN helpers: a tc egress program calls
``bpf_skb_vlan_push`` on every frame leaving a veth, and an ingress program on the
same device calls ``bpf_skb_vlan_pop`` on every frame arriving. Done on both ends,
the veth behaves as a tagged trunk carrying one VLAN, and a capture on it shows
real 802.1Q headers inserted by the kernel (libpcap re-inserts the offloaded tag
from the packet metadata, exactly as it does on a VLAN-tagging NIC).

The programs are five eBPF instructions each, loaded with the bpf(2) syscall and
attached with tcx links (Linux >= 6.6). A link lives as long as its file
descriptor, so closing the descriptors detaches everything.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

_SYS_BPF = 321  # x86_64
_BPF_PROG_LOAD = 5
_BPF_LINK_CREATE = 28
_BPF_PROG_TYPE_SCHED_CLS = 3
_BPF_TCX_INGRESS = 46
_BPF_TCX_EGRESS = 47
_BPF_FUNC_SKB_VLAN_PUSH = 18
_BPF_FUNC_SKB_VLAN_POP = 19
_ETH_P_8021Q_BE = 0x0081  # htons(0x8100) as the helper wants it, on a little-endian host
_TCX_PASS = 0

_libc = ctypes.CDLL(None, use_errno=True)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _mov_imm(reg: int, imm: int) -> bytes:
    return _insn(0xB7, dst=reg, imm=imm)  # BPF_ALU64 | BPF_MOV | BPF_K


def _call(helper: int) -> bytes:
    return _insn(0x85, imm=helper)  # BPF_JMP | BPF_CALL


_EXIT = _insn(0x95)  # BPF_JMP | BPF_EXIT


def push_program(vid: int) -> bytes:
    """r1 is the skb already; push (0x8100, vid) and let the frame go on."""
    return (
        _mov_imm(2, _ETH_P_8021Q_BE)
        + _mov_imm(3, vid)
        + _call(_BPF_FUNC_SKB_VLAN_PUSH)
        + _mov_imm(0, _TCX_PASS)
        + _EXIT
    )


def pop_program() -> bytes:
    return _call(_BPF_FUNC_SKB_VLAN_POP) + _mov_imm(0, _TCX_PASS) + _EXIT


def _bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    fd = int(_libc.syscall(_SYS_BPF, cmd, buf, 128))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return fd


def load(program: bytes, name: bytes) -> int:
    """Load a SCHED_CLS program; on rejection the verifier log is in the exception."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(16384)
    attr = struct.pack(
        "<IIQQIIQII16s",
        _BPF_PROG_TYPE_SCHED_CLS,
        len(program) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        0,
        name[:15],
    )
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except OSError as exc:
        raise OSError(exc.errno, f"{exc.strerror}; verifier: {log.value.decode()}") from None


def attach(ifname: str, vid: int) -> list[int]:
    """Make ``ifname`` (in the calling thread's netns) a trunk port for one VLAN.

    Returns the descriptors to close when done; the tags vanish with them.
    """
    ifindex = socket.if_nametoindex(ifname)
    fds: list[int] = []
    try:
        for program, attach_type, name in (
            (push_program(vid), _BPF_TCX_EGRESS, b"vlan_push"),
            (pop_program(), _BPF_TCX_INGRESS, b"vlan_pop"),
        ):
            prog_fd = load(program, name)
            fds.append(prog_fd)
            fds.append(
                _bpf(_BPF_LINK_CREATE, struct.pack("<IIII", prog_fd, ifindex, attach_type, 0))
            )
    except BaseException:
        detach(fds)
        raise
    return fds


def detach(fds: list[int]) -> None:
    for fd in reversed(fds):
        os.close(fd)
