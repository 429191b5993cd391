"""Link, IP and transport header decoding for captured frames.

Runs once per frame on the analyzer's hot path, so it unpacks fixed offsets
with ``struct`` instead of building layer objects, and keeps one small record
per packet. Anything it cannot or need not read (ARP, ICMP, ESP, cut-off
headers) yields ``None``: the caller skips the frame and carries on.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from leaktrace.sources.fragments import FragmentReassembler

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "SUPPORTED_LINKTYPES",
    "Packet",
    "decode_frame",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
# DLT_RAW as some BSDs number it in files written by old libpcap.
_LINKTYPE_RAW_ALT = (12, 14)

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
        *_LINKTYPE_RAW_ALT,
    }
)

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_PPPOE = 0x8864
_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
_PPP_IPV4 = 0x0021
_PPP_IPV6 = 0x0057

# BSD address-family values for IPv6 differ by OS (Linux, OpenBSD, FreeBSD, macOS).
_AF_INET6_VALUES = frozenset({10, 24, 28, 30})

_PROTO_TCP = 6
_PROTO_UDP = 17
# IPv6 extension headers sized in 8-octet units beyond the first 8.
_EXT_8 = frozenset({0, 43, 60})
_EXT_AH = 51
_EXT_FRAGMENT = 44
# Enough for any sane header chain; a longer one is crafted or broken.
_MAX_EXT_HEADERS = 16

_unpack_ip4 = struct.Struct("!HHHBB").unpack_from  # total length, id, frag, ttl, proto
# IPv4 header without options followed by the first 14 bytes of TCP (or UDP + 6).
_unpack_fast4 = struct.Struct("!BxHHHxB2x4s4sHHIIBB").unpack_from
_unpack_ip6 = struct.Struct("!HB").unpack_from  # payload length, next header
_unpack_frag6 = struct.Struct("!HI").unpack_from  # offset+flags, id
_unpack_tcp = struct.Struct("!HHIIBB").unpack_from
_unpack_udp = struct.Struct("!HHH").unpack_from
_unpack_u16 = struct.Struct("!H").unpack_from

_ADDR_CACHE_MAX = 1 << 16
_v4_names: dict[bytes, str] = {}
_v6_names: dict[bytes, str] = {}


@dataclass(slots=True)
class Packet:
    """The transport-level view of one frame that the flow table needs."""

    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    payload: bytes | memoryview


def _v4_name(raw: bytes) -> str:
    name = _v4_names.get(raw)
    if name is None:
        if len(_v4_names) >= _ADDR_CACHE_MAX:
            _v4_names.clear()
        name = _v4_names[raw] = socket.inet_ntoa(raw)
    return name


def _v6_name(raw: bytes) -> str:
    name = _v6_names.get(raw)
    if name is None:
        if len(_v6_names) >= _ADDR_CACHE_MAX:
            _v6_names.clear()
        name = _v6_names[raw] = socket.inet_ntop(socket.AF_INET6, raw)
    return name


def decode_frame(
    linktype: int, data: bytes | memoryview, ts: float, frags: FragmentReassembler
) -> Packet | None:
    """Decode one frame down to TCP or UDP; ``None`` for anything else or anything broken.

    ``ts`` is the capture time, used only to age out fragments that never complete.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return None
        if data[12] == 0x08 and data[13] == 0x00:
            return _ipv4(data, 14, ts, frags)
        et = (data[12] << 8) | data[13]
        off = 14
    elif linktype == LINKTYPE_RAW or linktype in _LINKTYPE_RAW_ALT:
        if n < 1:
            return None
        version = data[0] >> 4
        if version == 4:
            return _ipv4(data, 0, ts, frags)
        if version == 6:
            return _ipv6(data, 0, ts, frags)
        return None
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return None
        et = (data[14] << 8) | data[15]
        off = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return None
        et = (data[0] << 8) | data[1]
        off = 20
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            return None
        if linktype == LINKTYPE_LOOP:
            af = int.from_bytes(data[:4], "big")
        else:
            # Written in the capturing host's byte order, which the file does not record.
            af = int.from_bytes(data[:4], "little")
            if af > 0xFFFF:
                af = int.from_bytes(data[:4], "big")
        if af == 2:
            return _ipv4(data, 4, ts, frags)
        if af in _AF_INET6_VALUES:
            return _ipv6(data, 4, ts, frags)
        return None
    elif linktype == LINKTYPE_IPV4:
        return _ipv4(data, 0, ts, frags)
    elif linktype == LINKTYPE_IPV6:
        return _ipv6(data, 0, ts, frags)
    else:
        return None
    while et in _VLAN_TPIDS:
        if off + 4 > n:
            return None
        et = (data[off + 2] << 8) | data[off + 3]
        off += 4
    if et == _ETH_IPV4:
        return _ipv4(data, off, ts, frags)
    if et == _ETH_IPV6:
        return _ipv6(data, off, ts, frags)
    if et == _ETH_PPPOE:
        # PPPoE session header (6 bytes), then the 2-byte PPP protocol.
        if off + 8 > n:
            return None
        (ppp,) = _unpack_u16(data, off + 6)
        if ppp == _PPP_IPV4:
            return _ipv4(data, off + 8, ts, frags)
        if ppp == _PPP_IPV6:
            return _ipv6(data, off + 8, ts, frags)
    return None


def _ipv4(data: bytes, off: int, ts: float, frags: FragmentReassembler) -> Packet | None:
    n = len(data)
    if off + 40 <= n:
        # Fast path for the usual case, in one unpack: no IP options, not a
        # fragment, TCP or UDP. Everything else takes the general path below.
        (vihl, total, _, fragword, proto, src, dst, sport, dport, seq, ack, doff, flags) = (
            _unpack_fast4(data, off)
        )
        if vihl == 0x45 and not fragword & 0x3FFF and (total >= 20 or total == 0):
            end = off + total if total else n
            if end > n:
                end = n
            if proto == _PROTO_TCP:
                doff = (doff >> 4) << 2
                t = off + 20 + doff
                if doff < 20 or t > end:
                    return None
                s = _v4_names.get(src) or _v4_name(src)
                d = _v4_names.get(dst) or _v4_name(dst)
                return Packet(s, d, _PROTO_TCP, sport, dport, flags, seq, ack, data[t:end])
            if proto == _PROTO_UDP:
                t = off + 28
                if t > end:
                    return None
                ulen = seq >> 16
                if ulen >= 8 and off + 20 + ulen < end:
                    end = off + 20 + ulen
                s = _v4_names.get(src) or _v4_name(src)
                d = _v4_names.get(dst) or _v4_name(dst)
                return Packet(s, d, _PROTO_UDP, sport, dport, 0, 0, 0, data[t:end])
            return None
    if off + 20 > n:
        return None
    b0 = data[off]
    ihl = (b0 & 0x0F) << 2
    if b0 >> 4 != 4 or ihl < 20:
        return None
    total, ident, fragword, _ttl, proto = _unpack_ip4(data, off + 2)
    if total == 0:
        # Segmentation offload: the sending host captured before the NIC split it.
        end = n
    else:
        if total < ihl:
            return None
        end = off + total
        if end > n:
            end = n  # cut by the snapshot length; keep what is there
    t = off + ihl
    if t > end:
        return None
    src = data[off + 12 : off + 16]
    dst = data[off + 16 : off + 20]
    if fragword & 0x3FFF:
        offset = (fragword & 0x1FFF) << 3
        more = bool(fragword & 0x2000)
        whole = frags.add(src, dst, ident, proto, offset, more, data[t:end], ts)
        if whole is None:
            return None
        data = whole
        t = 0
        end = len(whole)
    return _transport(proto, _v4_name(src), _v4_name(dst), data, t, end)


def _ipv6(data: bytes, off: int, ts: float, frags: FragmentReassembler) -> Packet | None:
    n = len(data)
    if off + 40 > n or data[off] >> 4 != 6:
        return None
    plen, nh = _unpack_ip6(data, off + 4)
    t = off + 40
    end = t + plen
    if plen == 0 or end > n:
        end = n  # jumbogram or segmentation offload (0), or cut by the snapshot length
    src = data[off + 8 : off + 24]
    dst = data[off + 24 : off + 40]
    for _ in range(_MAX_EXT_HEADERS):
        if nh in (_PROTO_TCP, _PROTO_UDP):
            return _transport(nh, _v6_name(src), _v6_name(dst), data, t, end)
        if t + 8 > end:
            return None
        if nh in _EXT_8:
            nh, hlen = data[t], data[t + 1]
            t += (hlen + 1) << 3
        elif nh == _EXT_AH:
            nh, hlen = data[t], data[t + 1]
            t += (hlen + 2) << 2
        elif nh == _EXT_FRAGMENT:
            inner = data[t]
            fragword, ident = _unpack_frag6(data, t + 2)
            t += 8
            nh = inner
            offset = fragword & 0xFFF8
            more = bool(fragword & 1)
            if offset or more:
                whole = frags.add(src, dst, ident, inner, offset, more, data[t:end], ts)
                if whole is None:
                    return None
                data = whole
                t = 0
                end = len(whole)
        else:
            # ESP (50), no next header (59) and anything unknown are opaque to us.
            return None
        if t > end:
            return None
    return None


def _transport(proto: int, src: str, dst: str, data: bytes, t: int, end: int) -> Packet | None:
    if proto == _PROTO_TCP:
        if t + 20 > end:
            return None
        sport, dport, seq, ack, doff, flags = _unpack_tcp(data, t)
        doff = (doff >> 4) << 2
        if doff < 20 or t + doff > end:
            return None
        return Packet(src, dst, _PROTO_TCP, sport, dport, flags, seq, ack, data[t + doff : end])
    if proto == _PROTO_UDP:
        if t + 8 > end:
            return None
        sport, dport, ulen = _unpack_udp(data, t)
        if ulen >= 8 and t + ulen < end:
            end = t + ulen  # drop link-layer padding the IP length did not catch
        return Packet(src, dst, _PROTO_UDP, sport, dport, 0, 0, 0, data[t + 8 : end])
    return None
