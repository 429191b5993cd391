"""Community ID v1 flow hashes, so findings join Zeek, Suricata and Wireshark records.

The hash is defined over the flow's endpoints in a canonical order, so both
directions of a connection carry the same id. See
https://github.com/corelight/community-id-spec for the definition.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from functools import lru_cache

__all__ = ["community_id"]

# Protocols whose header carries 16-bit ports that take part in the hash.
_PORT_PROTOS = frozenset({6, 17, 132})
_ICMP = 1
_ICMP6 = 58

# ICMP messages that form request/reply pairs: the type of the counterpart
# stands in for the destination port, which makes both halves hash alike.
# Types absent from these tables are one-way and keep their orientation.
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 17: 18, 18: 17}
_ICMP6_PAIRS = {
    128: 129,
    129: 128,
    130: 131,
    131: 130,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}

_PACK_PREFIX = struct.Struct("!H")
_PACK_PORTS = struct.Struct("!HH")


def _addr_bytes(addr: str) -> bytes:
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr)
    return socket.inet_pton(socket.AF_INET, addr)


@lru_cache(maxsize=1 << 16)
def community_id(
    orig_h: str, orig_p: int, resp_h: str, resp_p: int, proto: int, seed: int = 0
) -> str:
    """Community ID v1 string ("1:" + base64 SHA-1) for one flow.

    Cached because every message of a flow asks for the same id. For ICMP and
    ICMPv6 the ports are the message type and code, as the spec has it; for
    protocols without ports they are ignored.
    """
    src = _addr_bytes(orig_h)
    dst = _addr_bytes(resp_h)
    sport, dport = orig_p, resp_p
    one_way = False
    if proto in (_ICMP, _ICMP6):
        pairs = _ICMP4_PAIRS if proto == _ICMP else _ICMP6_PAIRS
        counterpart = pairs.get(sport)
        if counterpart is None:
            one_way = True
        else:
            dport = counterpart
    has_ports = proto in _PORT_PROTOS or proto in (_ICMP, _ICMP6)
    if not has_ports:
        sport = dport = 0
    if not one_way and (dst, dport) < (src, sport):
        src, dst, sport, dport = dst, src, dport, sport
    data = _PACK_PREFIX.pack(seed & 0xFFFF) + src + dst + bytes((proto & 0xFF, 0))
    if has_ports:
        data += _PACK_PORTS.pack(sport & 0xFFFF, dport & 0xFFFF)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return "1:" + base64.b64encode(digest).decode("ascii")
