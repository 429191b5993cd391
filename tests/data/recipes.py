"""One function per test capture: build the lab, start the sniffer, make real traffic, check it.

Each recipe returns its manifest entry. Packets come from the kernel's own TCP,
UDP, IPv4 and IPv6 code, from curl and from Python's http.client and sockets;
nothing is synthesised, except the two files Linux cannot capture (see
``null_loopback``), which are rewritten from a real capture and say so.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pcap_records
import vlan_tagger
from netlab import Lab, inside, sh
from sniff import Sniffer
from tun_wire import Wire, open_tun

IMEI_BODY = "35693803564380"  # BABT TAC 35693803, serial 564380; check digit appended
HOST = "collect.example.net"
LO_CLIENT = "127.0.77.1"
LO_SERVER = "127.0.77.10"
UDP_PORT = 5077
USER_AGENT = "leaktrace-fixture/1.0"


def luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


IMEI = IMEI_BODY + luhn_check_digit(IMEI_BODY)
MARKER = f"imei={IMEI}".encode("ascii")

Entry = dict[str, Any]


def target(tag: str, path: str = "/v1/collect") -> str:
    return f"{path}?imei={IMEI}&cap={tag}"


def request(method: str, tgt: str, host: str = HOST) -> dict[str, str]:
    return {"method": method, "host": host, "path": tgt.split("?", 1)[0], "target": tgt}


def tcpdump(out: Path, iface: str, bpf: str | None = None, *extra: str) -> list[str]:
    """Immediate mode keeps every packet; its ring slots are snaplen-sized, so the default
    2 MB buffer holds only eight packets and bursts on 'any' overflow it: hence -B."""
    argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "16384", "-Z", "root"]
    argv += extra
    return [*argv, "-w", str(out), *([bpf] if bpf else [])]


def shown(argv: list[str], lab: Lab | None = None) -> str:
    """The command as a reader would type it: file names bare, namespaces by role."""
    words = [Path(a).name if a.startswith("/") else a for a in argv]
    text = shlex.join(words)
    return text.replace(f"{lab.prefix}-", "") if lab else text


def curl_get(lab: Lab, tgt: str, server: str, source: str, netns: str | None = None) -> None:
    literal = f"[{server}]" if ":" in server else server
    argv = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--interface", source]
    argv += ["--resolve", f"{HOST}:80:{literal}", "-A", USER_AGENT, f"http://{HOST}{tgt}"]
    sh(*lab.in_ns(netns, argv))


def raw_http(
    server: str,
    payload: bytes,
    source: str,
    netns: str | None = None,
    mss: int | None = None,
) -> bytes:
    """Send hand-written HTTP over a real TCP socket; return the whole response."""
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with inside(netns) if netns else contextlib.nullcontext():
        sock = socket.socket(family, socket.SOCK_STREAM)
    with sock:
        if mss is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        sock.settimeout(20)
        sock.bind((source, 0))
        sock.connect((server, 80))
        sock.sendall(payload)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def get_bytes(tgt: str) -> bytes:
    return (
        f"GET {tgt} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def expect_seen(seen: list[Any], requests: list[dict[str, str]]) -> None:
    got = sorted((m, h, t) for m, h, t, _ in seen)
    want = sorted((r["method"], r["host"], r["target"]) for r in requests)
    if got != want:
        raise RuntimeError(f"servers saw {got}, expected {want}")


# --- captures on the host's loopback -----------------------------------------------------

LO_FILTER = f"host {LO_CLIENT} and host {LO_SERVER} and tcp port 80"


def _lo_capture(out: Path, name: str, iface: str, *extra: str) -> tuple[list[str], list[Any]]:
    """GET with curl on loopback, recorded with the given tcpdump options."""
    tgt = target(Path(name).stem)
    with Lab("lo") as lab:
        seen = lab.http_server(LO_SERVER)
        argv = tcpdump(out / name, iface, LO_FILTER, *extra)
        with Sniffer(argv):
            curl_get(lab, tgt, LO_SERVER, LO_CLIENT)
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
    return argv, reqs


def eth_lo(out: Path) -> Entry:
    tgt_get = target("eth_lo")
    tgt_post = target("eth_lo", "/v1/collect/batch")
    body = f"imei={IMEI}&ev=launch".encode("ascii")
    with Lab("lo") as lab:
        seen = lab.http_server(LO_SERVER)
        argv = tcpdump(out / "eth_lo.pcap", "lo", LO_FILTER)
        with Sniffer(argv):
            curl_get(lab, tgt_get, LO_SERVER, LO_CLIENT)
            conn = http.client.HTTPConnection(
                LO_SERVER, 80, timeout=10, source_address=(LO_CLIENT, 0)
            )
            conn.request(
                "POST",
                tgt_post,
                body=body,
                headers={
                    "Host": HOST,
                    "User-Agent": USER_AGENT,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            conn.getresponse().read()
            conn.close()
        reqs = [request("GET", tgt_get), request("POST", tgt_post)]
        expect_seen(seen, reqs)
    return {
        "file": "eth_lo.pcap",
        "made_by": shown(argv),
        "special": "Ethernet on lo (zero MACs), microsecond timestamps; the POST also carries "
        "the IMEI in a form body, sent by http.client as headers and body in two segments",
        "requests": reqs,
    }


def sll(out: Path) -> Entry:
    argv, reqs = _lo_capture(out, "sll.pcap", "any", "-y", "LINUX_SLL")
    return {
        "file": "sll.pcap",
        "made_by": shown(argv),
        "special": "Linux cooked capture v1 (16-byte header) from the 'any' device",
        "requests": reqs,
    }


def sll2(out: Path) -> Entry:
    argv, reqs = _lo_capture(out, "sll2.pcap", "any", "-y", "LINUX_SLL2")
    return {
        "file": "sll2.pcap",
        "made_by": shown(argv),
        "special": "Linux cooked capture v2 (20-byte header with ifindex) from 'any'",
        "requests": reqs,
    }


def nanosecond(out: Path) -> Entry:
    argv, reqs = _lo_capture(out, "nanosecond.pcap", "lo", "--time-stamp-precision=nano")
    return {
        "file": "nanosecond.pcap",
        "made_by": shown(argv),
        "special": "nanosecond pcap (magic a1b23c4d): record ts_frac is nanoseconds",
        "requests": reqs,
    }


def midflow(out: Path) -> Entry:
    tgt = target("midflow")
    with Lab("lo") as lab:
        seen = lab.http_server(LO_SERVER)
        sock = socket.create_connection((LO_SERVER, 80), timeout=10, source_address=(LO_CLIENT, 0))
        with sock:
            time.sleep(0.3)  # the handshake is long over when the capture starts
            argv = tcpdump(out / "midflow.pcap", "lo", LO_FILTER)
            with Sniffer(argv):
                sock.sendall(get_bytes(tgt))
                _read_all(sock)
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
    return {
        "file": "midflow.pcap",
        "made_by": "connect first, then " + shown(argv) + ", then send the request",
        "special": "starts after the TCP handshake: no SYN or SYN-ACK in the file; the first "
        "packet is the request's data segment",
        "requests": reqs,
    }


def truncated(out: Path) -> Entry:
    tgt_first = target("truncated")
    tgt_second = "/v1/ping?seq=2"
    path = out / "truncated.pcap"
    with Lab("lo") as lab:
        seen = lab.http_server(LO_SERVER)
        argv = tcpdump(path, "lo", LO_FILTER)
        with Sniffer(argv):
            curl_get(lab, tgt_first, LO_SERVER, LO_CLIENT)
            time.sleep(0.2)
            curl_get(lab, tgt_second, LO_SERVER, LO_CLIENT)
        expect_seen(seen, [request("GET", tgt_first), request("GET", tgt_second)])
    capture = pcap_records.read(path)
    original_size = path.stat().st_size
    victim = pcap_records.find_record(capture.records, b"GET /v1/ping")
    start = victim.offset + pcap_records.RECORD_HEADER_LEN
    cut_at = start + len(victim.data) // 2
    pcap_records.cut(path, cut_at)
    index = capture.records.index(victim)
    return {
        "file": "truncated.pcap",
        "made_by": shown(argv) + f"; then truncated to {cut_at} bytes",
        "special": "cut in the middle of a record's packet data, as a capture killed mid-write",
        "requests": [request("GET", tgt_first)],
        "truncation": {
            "cut_offset": cut_at,
            "original_size": original_size,
            "complete_records": index,
            "cut_record_index": index,
            "cut_record_offset": victim.offset,
            "cut_record_caplen": len(victim.data),
            "requests_before_cut": [request("GET", tgt_first)],
            "cut_inside": request("GET", tgt_second),
        },
    }


# --- captures inside namespaces ----------------------------------------------------------


def _pair(lab: Lab, subnet: str, mtu: int | None = None) -> tuple[str, str, str, str]:
    """client/server namespaces joined by vc0 <-> vs0 with .1 and .2 of a /24."""
    client, server = lab.netns("client"), lab.netns("server")
    lab.veth(client, "vc0", server, "vs0", mtu)
    c_addr, s_addr = f"{subnet}.1", f"{subnet}.2"
    lab.addr(client, "vc0", f"{c_addr}/24")
    lab.addr(server, "vs0", f"{s_addr}/24")
    lab.up(client, "vc0")
    lab.up(server, "vs0")
    return client, server, c_addr, s_addr


def eth_vlan(out: Path) -> Entry:
    tgt = target("eth_vlan")
    with Lab("vlan") as lab:
        client, server = lab.netns("client"), lab.netns("server")
        lab.veth(client, "vc0", server, "vs0")
        for ns, dev in ((client, "vc0"), (server, "vs0")):
            with inside(ns):
                fds = vlan_tagger.attach(dev, 77)
            lab.on_close(lambda fds=fds: vlan_tagger.detach(fds))  # type: ignore[misc]
        lab.addr(client, "vc0", "10.77.77.1/24")
        lab.addr(server, "vs0", "10.77.77.2/24")
        lab.up(client, "vc0")
        lab.up(server, "vs0")
        seen = lab.http_server("10.77.77.2", netns=server)
        argv = lab.in_ns(client, tcpdump(out / "eth_vlan.pcap", "vc0"))
        with Sniffer(argv):
            curl_get(lab, tgt, "10.77.77.2", "10.77.77.1", client)
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
        made_by = shown(argv, lab)
    return {
        "file": "eth_vlan.pcap",
        "made_by": made_by,
        "special": "every frame (ARP and TCP, both directions) carries an 802.1Q tag, VLAN 77, "
        "PCP 0. This kernel has no 8021q driver, so instead of a vlan sub-interface "
        "the tags are pushed and popped by the kernel's bpf_skb_vlan_push/pop helpers in "
        "tc (tcx) programs on both veth ends (vlan_tagger.py): a trunk port carrying VLAN 77",
        "requests": reqs,
        "vlan_id": 77,
    }


def multi_if(out: Path) -> Entry:
    tgt_veth = target("multi_if_veth")
    tgt_lo = target("multi_if_lo")
    with Lab("multi") as lab:
        client, server, c_addr, s_addr = _pair(lab, "10.77.5")
        seen_veth = lab.http_server(s_addr, netns=server)
        seen_lo = lab.http_server("127.0.0.1", netns=client)
        argv = lab.in_ns(
            client,
            ["dumpcap", "-q", "-n", "-i", "lo", "-i", "vc0", "-w", str(out / "multi_if.pcapng")],
        )
        with Sniffer(argv, ready_marker="Capturing on"):
            curl_get(lab, tgt_veth, s_addr, c_addr, client)
            curl_get(lab, tgt_lo, "127.0.0.1", "127.0.0.1", client)
        os.chmod(out / "multi_if.pcapng", 0o644)  # dumpcap creates it private
        reqs = [request("GET", tgt_veth), request("GET", tgt_lo)]
        expect_seen(seen_veth + seen_lo, reqs)
        made_by = shown(argv, lab)
    return {
        "file": "multi_if.pcapng",
        "made_by": made_by,
        "special": "pcapng with two interface description blocks (lo, then vc0) and one request "
        "on each interface. dumpcap 4.0 has no option for timestamp precision; on Linux it "
        "writes if_tsresol = 9 (nanoseconds). It buffers per interface, so records of the two "
        "interfaces may be grouped rather than interleaved in time order",
        "requests": reqs,
        "requests_by_interface": {
            "lo": [request("GET", tgt_lo)],
            "vc0": [request("GET", tgt_veth)],
        },
    }


def raw_ip(out: Path) -> Entry:
    tgt = target("raw_ip")
    with Lab("tun") as lab:
        client, server = lab.netns("client"), lab.netns("server")
        with inside(client):
            fd_c = open_tun("tun0")
        lab.on_close(lambda: os.close(fd_c))
        with inside(server):
            fd_s = open_tun("tun0")
        lab.on_close(lambda: os.close(fd_s))
        wire = Wire(fd_c, fd_s)
        wire.start()
        lab.on_close(wire.stop)
        lab.addr(client, "tun0", "10.77.6.1", "peer", "10.77.6.2")
        lab.addr(server, "tun0", "10.77.6.2", "peer", "10.77.6.1")
        lab.up(client, "tun0")
        lab.up(server, "tun0")
        seen = lab.http_server("10.77.6.2", netns=server)
        argv = lab.in_ns(client, tcpdump(out / "raw_ip.pcap", "tun0"))
        with Sniffer(argv):
            curl_get(lab, tgt, "10.77.6.2", "10.77.6.1", client)
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
        made_by = shown(argv, lab)
    return {
        "file": "raw_ip.pcap",
        "made_by": made_by + "  (tun0 in each namespace, joined back to back by tun_wire.py)",
        "special": "LINKTYPE_RAW: each record starts with the IPv4 header, no link header",
        "requests": reqs,
    }


def null_loopback(out: Path) -> Entry:
    source = pcap_records.read(out / "eth_lo.pcap")
    relinked, dropped = pcap_records.relink(
        source, pcap_records.LINKTYPE_NULL, pcap_records.ethernet_to_null
    )
    if dropped:
        raise RuntimeError(f"eth_lo.pcap had {dropped} non-IP frames")
    pcap_records.write(out / "null_loopback.pcap", relinked)
    return {
        "file": "null_loopback.pcap",
        "made_by": "converted from eth_lo.pcap by pcap_records.relink(ethernet_to_null)",
        "special": "DLT_NULL (BSD/macOS loopback): 4-byte address family in little-endian "
        "host order (2 = AF_INET) instead of Ethernet; Linux cannot capture this natively, so "
        "this is eth_lo.pcap re-encapsulated with identical timestamps and packets",
        "requests": _requests_of("eth_lo.pcap"),
        "converted_from": "eth_lo.pcap",
    }


def _requests_of(name: str) -> list[dict[str, str]]:
    if name != "eth_lo.pcap":
        raise ValueError(name)
    return [
        request("GET", target("eth_lo")),
        request("POST", target("eth_lo", "/v1/collect/batch")),
    ]


def _udp_listener(netns: str, addr: str) -> tuple[socket.socket, list[bytes]]:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with inside(netns):
        sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((addr, UDP_PORT))
    sock.settimeout(5)
    return sock, []


def _udp_payload(size: int, marker_at: int) -> bytes:
    """Filler with the marker placed so that it straddles a fragment boundary.

    The marker ends in a delimiter: an IMEI running into more digits is rightly
    not an IMEI.
    """
    filler = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    marked = MARKER + b"&"
    return filler[:marker_at] + marked + filler[marker_at + len(marked) :]


_IP_MTU_DISCOVER = 10  # from linux/in.h; Python 3.11's socket module lacks them
_IP_PMTUDISC_DONT = 0  # fragment locally, never set DF


def ipv4_frag(out: Path) -> Entry:
    tgt = target("ipv4_frag")
    mtu = 576
    per_fragment = (mtu - 20) // 8 * 8  # IP payload bytes in every fragment but the last
    marker_at = per_fragment - 8 - len(MARKER) // 2  # UDP header is in the first fragment
    payload = _udp_payload(3000, marker_at)
    with Lab("v4frag") as lab:
        client, server, c_addr, s_addr = _pair(lab, "10.77.8", mtu)
        seen = lab.http_server(s_addr, netns=server)
        listener, _ = _udp_listener(server, s_addr)
        lab.on_close(listener.close)
        argv = lab.in_ns(client, tcpdump(out / "ipv4_frag.pcap", "vc0"))
        with Sniffer(argv):
            with inside(client):
                sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sender:
                sender.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DONT)
                sender.bind((c_addr, UDP_PORT))
                sender.sendto(payload, (s_addr, UDP_PORT))
            got = listener.recv(65536)
            curl_get(lab, tgt, s_addr, c_addr, client)
        if got != payload:
            raise RuntimeError("UDP datagram did not arrive whole")
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
        made_by = shown(argv, lab)
    return {
        "file": "ipv4_frag.pcap",
        "made_by": made_by,
        "special": f"veth MTU {mtu}: one {len(payload)}-byte UDP datagram split by the kernel "
        f"into IPv4 fragments of {per_fragment} payload bytes; the marker straddles the first "
        "fragment boundary, so only reassembly reveals it. TCP MSS is 536",
        "requests": reqs,
        "datagrams": [_datagram(c_addr, s_addr, payload, marker_at)],
    }


def _datagram(src: str, dst: str, payload: bytes, marker_at: int) -> dict[str, Any]:
    return {
        "proto": "udp",
        "src": src,
        "dst": dst,
        "sport": UDP_PORT,
        "dport": UDP_PORT,
        "length": len(payload),
        "marker": MARKER.decode(),
        "marker_offset": marker_at,
    }


# A PadN option filling an 8-byte extension header: next-header, length 0, PadN(4).
_PADN_HEADER = bytes([0, 0, 1, 4, 0, 0, 0, 0])
_IPV6_HOPOPTS = 54
_IPV6_DSTOPTS = 59


def ipv6_ext_frag(out: Path) -> Entry:
    tgt = target("ipv6_ext_frag")
    mtu = 1280
    # Linux keeps both option headers in the unfragmentable part, before the Fragment header
    fragmentable = (mtu - 40 - 8 - 8 - 8) // 8 * 8
    marker_at = fragmentable - 8 - len(MARKER) // 2  # the UDP header opens the first fragment
    payload = _udp_payload(3000, marker_at)
    c_addr, s_addr = "fd77::1", "fd77::2"
    with Lab("v6frag") as lab:
        client, server = lab.netns("client"), lab.netns("server")
        for ns in (client, server):
            for key, value in (
                ("net.ipv6.conf.all.disable_ipv6", "0"),
                ("net.ipv6.conf.default.disable_ipv6", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
                ("net.ipv6.conf.default.router_solicitations", "0"),
            ):
                lab.sysctl(ns, key, value)
        lab.veth(client, "vc0", server, "vs0", mtu)
        lab.addr(client, "vc0", f"{c_addr}/64", "nodad")
        lab.addr(server, "vs0", f"{s_addr}/64", "nodad")
        lab.up(client, "vc0")
        lab.up(server, "vs0")
        time.sleep(1.5)  # let link-up MLD reports pass before the capture starts
        seen = lab.http_server(s_addr, netns=server)
        listener, _ = _udp_listener(server, s_addr)
        lab.on_close(listener.close)
        argv = lab.in_ns(client, tcpdump(out / "ipv6_ext_frag.pcap", "vc0", "ip6"))
        with Sniffer(argv):
            with inside(client):
                member = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with member, sender:
                group = socket.inet_pton(socket.AF_INET6, "ff02::1:77")
                ifindex = _ifindex_in(client, "vc0")
                member.setsockopt(
                    socket.IPPROTO_IPV6,
                    socket.IPV6_JOIN_GROUP,
                    group + ifindex.to_bytes(4, "little"),
                )
                sender.setsockopt(socket.IPPROTO_IPV6, _IPV6_HOPOPTS, _PADN_HEADER)
                sender.setsockopt(socket.IPPROTO_IPV6, _IPV6_DSTOPTS, _PADN_HEADER)
                sender.bind((c_addr, UDP_PORT))
                sender.sendto(payload, (s_addr, UDP_PORT))
                got = listener.recv(65536)
                curl_get(lab, tgt, s_addr, c_addr, client)
        if got != payload:
            raise RuntimeError("UDP datagram did not arrive whole")
        reqs = [request("GET", tgt)]
        expect_seen(seen, reqs)
        made_by = shown(argv, lab)
    return {
        "file": "ipv6_ext_frag.pcap",
        "made_by": made_by,
        "special": f"veth MTU {mtu}. A {len(payload)}-byte UDP datagram sent with sticky "
        "IPV6_HOPOPTS and IPV6_DSTOPTS (PadN only), fragmented by the kernel; every "
        "fragment is IPv6 > Hop-by-Hop > Destination Options > Fragment, and the first "
        "continues > UDP. The marker straddles the first fragment boundary. Also an MLDv2 "
        "report (Hop-by-Hop with Router Alert) from joining ff02::1:77, neighbour "
        "discovery, and HTTP over TCP/IPv6",
        "requests": reqs,
        "datagrams": [_datagram(c_addr, s_addr, payload, marker_at)],
        "ext_header_chain": ["ipv6", "hop_by_hop", "destination_options", "fragment", "udp"],
    }


def _ifindex_in(netns: str, dev: str) -> int:
    with inside(netns):
        return socket.if_nametoindex(dev)


def run_in(netns: str, command: str) -> None:
    sh("ip", "netns", "exec", netns, *shlex.split(command))


def _impair(client: str, server: str, s_addr: str) -> list[str]:
    """Disorder the client's data segments with real kernel parts, netem being absent here.

    Returns the commands, by namespace role, for the manifest.
    """
    data = "-p tcp --dport 80 -m length --length 200:65535 -m statistic --mode nth"
    steps = [
        # one wire packet per TCP segment, and small segments
        (client, "ethtool -K vc0 tso off gso off gro off"),
        (server, "ethtool -K vs0 tso off gso off gro off"),
        (server, "ip route replace 10.77.9.0/24 dev vs0 advmss 536"),
        # sender: duplicate every 7th data segment; the copy leaves right after the original
        (
            client,
            f"iptables -t mangle -A POSTROUTING -o vc0 {data} --every 7 --packet 2 "
            f"-j TEE --gateway {s_addr}",
        ),
        # receiver: drop every 9th data segment after the capture saw it, so the sender's
        # TCP really retransmits it
        (server, f"iptables -t raw -A PREROUTING -i vs0 {data} --every 9 --packet 4 -j DROP"),
        # reordering: a quarter of the data segments (IP ID & 3 == 2) wait in a slow class
        (client, "tc qdisc add dev vc0 root handle 1: htb default 10"),
        (client, "tc class add dev vc0 parent 1: classid 1:10 htb rate 1gbit"),
        (client, "tc class add dev vc0 parent 1: classid 1:20 htb rate 400kbit ceil 400kbit"),
        (
            client,
            "tc filter add dev vc0 parent 1: protocol ip prio 1 u32 "
            "match ip dport 80 0xffff match u16 0x0002 0x0003 at 4 flowid 1:20",
        ),
    ]
    for netns, command in steps:
        run_in(netns, command)
    return [f"{'client' if ns == client else 'server'}: {command}" for ns, command in steps]


def reorder_retx(out: Path) -> Entry:
    tgt = target("reorder_retx", "/v1/upload")
    tail = f"&imei={IMEI}".encode("ascii")
    body = b"blob=" + (b"abcdefghijklmnopqrstuvwxyz012345" * 640)[: 20000 - 5 - len(tail)] + tail
    payload = (
        f"POST {tgt} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii") + body
    with Lab("reorder") as lab:
        client, server, c_addr, s_addr = _pair(lab, "10.77.9")
        impairments = _impair(client, server, s_addr)
        seen = lab.http_server(s_addr, netns=server)
        argv = lab.in_ns(client, tcpdump(out / "reorder_retx.pcap", "vc0", "tcp port 80"))
        with Sniffer(argv):
            raw_http(s_addr, payload, c_addr, client, mss=536)
        reqs = [request("POST", tgt)]
        expect_seen(seen, reqs)
        if seen[0][3] != len(body):
            raise RuntimeError(f"server read {seen[0][3]} body bytes, sent {len(body)}")
        made_by = shown(argv, lab)
    return {
        "file": "reorder_retx.pcap",
        "made_by": made_by,
        "special": "netem is not in this kernel, so disorder comes from real kernel parts: an "
        "HTB class at 400 kbit/s holds a quarter of the data segments (u32 match on IP ID) "
        "and releases them late (reordering); iptables TEE duplicates every 7th data segment "
        "on the sender (exact duplicates); iptables on the receiver drops every 9th data "
        "segment after the capture point, so the sender's TCP retransmits it. MSS 536, "
        "TSO/GSO off. The 20000-byte form body ends with the IMEI marker",
        "requests": reqs,
        "body_length": len(body),
        "body_marker": tail.decode().lstrip("&"),
        "body_marker_offset": len(body) - len(tail) + 1,
        "impairments": impairments,
    }


def tshark_fields(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """Wireshark's view of a capture, as an independent check of what a recipe produced."""
    argv = ["tshark", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", str(path)]
    argv += ["-Y", display_filter, "-T", "fields"]
    for name in fields:
        argv += ["-e", name]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return [line.split("\t") for line in done.stdout.splitlines() if line]
