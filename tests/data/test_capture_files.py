"""The committed test captures must be what manifest.yaml says they are.

Other test suites assert parser results against the manifest, so a capture that
silently lost its VLAN tags, its fragments or its retransmissions would make
those tests pass for the wrong reason. These checks read the files with a
parser independent of leaktrace's own (pcap_records plus a few lines of header
decoding here), so a bug in the project's parsers cannot hide a bad fixture.
"""

from __future__ import annotations

import itertools
import struct
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pcap_records as pr  # noqa: E402
from packet_view import Ip, ip_bytes, parse_ip, reassemble, tcp_segments  # noqa: E402

MANIFEST: dict[str, Any] = yaml.safe_load((HERE / "manifest.yaml").read_text(encoding="utf-8"))
ENTRIES: dict[str, dict[str, Any]] = {e["file"]: e for e in MANIFEST["files"]}
MARKER = MANIFEST["marker"].encode()


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@dataclass
class Packet:
    interface: int
    ts_frac: int
    data: bytes


def packets(name: str) -> list[Packet]:
    """Records of any of the files; tolerant of a cut-short last record (truncated.pcap)."""
    path = HERE / name
    if ENTRIES[name]["format"] == "pcapng":
        return [Packet(p.interface, p.timestamp, p.data) for p in pr.pcapng_packets(path)]
    blob = path.read_bytes()
    out = []
    offset = pr.FILE_HEADER_LEN
    while offset + pr.RECORD_HEADER_LEN <= len(blob):
        _, frac, incl, _ = struct.unpack_from("<IIII", blob, offset)
        start = offset + pr.RECORD_HEADER_LEN
        if start + incl > len(blob):
            break
        out.append(Packet(0, frac, blob[start : start + incl]))
        offset = start + incl
    return out


def ips(name: str) -> list[Ip]:
    linktype = ENTRIES[name]["linktype"]
    out = []
    for pkt in packets(name):
        raw = ip_bytes(linktype, pkt.data)
        if raw is not None:
            out.append(parse_ip(raw))
    return out


FILES = sorted(ENTRIES)


def test_manifest_lists_exactly_the_capture_files() -> None:
    on_disk = {p.name for p in HERE.iterdir() if p.suffix in (".pcap", ".pcapng")}
    assert on_disk == set(ENTRIES)


def test_one_luhn_valid_imei_everywhere() -> None:
    imei = MANIFEST["imei"]
    assert len(imei) == 15 and luhn_ok(imei)
    assert {e["imei"] for e in MANIFEST["files"]} == {imei}
    assert MANIFEST["marker"] == f"imei={imei}"


@pytest.mark.parametrize("name", FILES)
def test_size_budget(name: str) -> None:
    assert (HERE / name).stat().st_size < 100_000


@pytest.mark.parametrize("name", FILES)
def test_header_matches_manifest(name: str) -> None:
    entry = ENTRIES[name]
    path = HERE / name
    if entry["format"] == "pcapng":
        interfaces = pr.pcapng_interfaces(path)
        assert [i.linktype for i in interfaces] == [i["linktype"] for i in entry["interfaces"]]
        assert [i.name for i in interfaces] == [i["name"] for i in entry["interfaces"]]
        return
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", path.read_bytes())
    assert linktype == entry["linktype"]
    assert magic == (pr.MAGIC_NS if entry["ts_precision"] == "ns" else pr.MAGIC_US)


@pytest.mark.parametrize("name", FILES)
def test_every_manifest_request_is_on_the_wire(name: str) -> None:
    datas = [p.data for p in packets(name)]
    for req in ENTRIES[name]["requests"]:
        line = f"{req['method']} {req['target']} HTTP/1.1\r\n".encode()
        host = f"\r\nHost: {req['host']}\r\n".encode()
        assert any(line in d and host in d for d in datas), req
        assert MARKER.decode() in req["target"]


@pytest.mark.parametrize("name", [n for n in FILES if ENTRIES[n]["format"] == "pcap"])
def test_intact_files_parse_to_the_last_byte(name: str) -> None:
    if "truncation" in ENTRIES[name]:
        with pytest.raises(ValueError, match="runs past the end"):
            pr.read(HERE / name)
    else:
        assert pr.read(HERE / name).records


def test_truncated_is_cut_mid_record_after_the_first_request() -> None:
    cut = ENTRIES["truncated.pcap"]["truncation"]
    blob = (HERE / "truncated.pcap").read_bytes()
    assert len(blob) == cut["cut_offset"] < cut["original_size"]
    caplen = struct.unpack_from("<I", blob, cut["cut_record_offset"] + 8)[0]
    assert caplen == cut["cut_record_caplen"]
    assert cut["cut_record_offset"] + pr.RECORD_HEADER_LEN < len(blob)
    assert len(blob) < cut["cut_record_offset"] + pr.RECORD_HEADER_LEN + caplen
    assert len(packets("truncated.pcap")) == cut["complete_records"]
    assert b"GET /v1/ping" in blob[cut["cut_record_offset"] :]


def test_vlan_capture_tags_every_frame_with_vlan_77() -> None:
    frames = [p.data for p in packets("eth_vlan.pcap")]
    assert frames
    for frame in frames:
        assert frame[12:14] == b"\x81\x00"
        assert int.from_bytes(frame[14:16], "big") & 0x0FFF == ENTRIES["eth_vlan.pcap"]["vlan_id"]


def test_midflow_has_no_handshake() -> None:
    segments = [tcp_segments(ip) for ip in ips("midflow.pcap")]
    assert segments and not any(flags & 0x02 for *_, flags, _ in segments)
    assert segments[0][4].startswith(b"GET ")


def test_null_loopback_is_eth_lo_with_a_bsd_header() -> None:
    eth = pr.read(HERE / "eth_lo.pcap").records
    null = pr.read(HERE / "null_loopback.pcap").records
    assert [(r.ts_sec, r.ts_frac) for r in eth] == [(r.ts_sec, r.ts_frac) for r in null]
    for e, n in zip(eth, null, strict=True):
        assert n.data == struct.pack("<I", 2) + e.data[14:]


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("raw_ip.pcap", lambda d: d[0] >> 4 == 4),
        ("sll.pcap", lambda d: d[14:16] == b"\x08\x00" and d[2:4] == b"\x03\x04"),
        ("sll2.pcap", lambda d: d[0:2] == b"\x08\x00" and d[4:8] == b"\x00\x00\x00\x01"),
    ],
)
def test_link_headers(name: str, check: Any) -> None:
    frames = [p.data for p in packets(name)]
    assert frames and all(check(d) for d in frames)


def test_nanosecond_fractions_exceed_a_microsecond_range() -> None:
    fracs = [p.ts_frac for p in packets("nanosecond.pcap")]
    assert all(f < 1_000_000_000 for f in fracs)
    assert any(f >= 1_000_000 for f in fracs)


def test_multi_if_has_a_request_on_each_interface() -> None:
    entry = ENTRIES["multi_if.pcapng"]
    names = [i["name"] for i in entry["interfaces"]]
    by_iface: dict[str, list[bytes]] = defaultdict(list)
    for pkt in packets("multi_if.pcapng"):
        by_iface[names[pkt.interface]].append(pkt.data)
    for iface, reqs in entry["requests_by_interface"].items():
        for req in reqs:
            line = f"{req['method']} {req['target']} ".encode()
            assert any(line in d for d in by_iface[iface]), (iface, req)


@pytest.mark.parametrize("name", ["ipv4_frag.pcap", "ipv6_ext_frag.pcap"])
def test_marker_appears_only_after_fragment_reassembly(name: str) -> None:
    entry = ENTRIES[name]
    groups: dict[tuple[bytes, bytes, int], list[Ip]] = defaultdict(list)
    for ip in ips(name):
        if ip.fragmented:
            groups[(ip.src, ip.dst, ip.ident)].append(ip)
    assert len(groups) == 1
    (fragments,) = groups.values()
    assert len(fragments) == entry["fragments"] >= 3
    assert not any(MARKER in frag.payload for frag in fragments)
    datagram = reassemble(fragments)
    spec = entry["datagrams"][0]
    payload = datagram[8:]
    assert len(payload) == spec["length"]
    offset = spec["marker_offset"]
    assert payload[offset : offset + len(MARKER)] == MARKER
    first_fragment_payload = len(min(fragments, key=lambda f: f.frag_offset).payload) - 8
    assert offset < first_fragment_payload < offset + len(MARKER)


def test_ipv6_extension_headers_from_the_kernel() -> None:
    packets_ = ips("ipv6_ext_frag.pcap")
    chains = [ip.chain for ip in packets_ if ip.fragmented]
    assert chains and all(c == [0, 60, 44] for c in chains)
    mld = [ip for ip in packets_ if ip.chain == [0] and ip.proto == 58 and ip.payload[0] == 143]
    assert mld, "no MLDv2 report behind a hop-by-hop header"


def test_reorder_capture_is_disordered_yet_complete() -> None:
    entry = ENTRIES["reorder_retx.pcap"]
    segments = [tcp_segments(ip) for ip in ips("reorder_retx.pcap")]
    syn = next(s for s in segments if s[3] & 0x12 == 0x02)
    base, client_port = syn[2] + 1, syn[0]
    data = [
        (seq, payload) for sport, _, seq, _, payload in segments if sport == client_port and payload
    ]
    offsets = [(seq - base) % 2**32 for seq, _ in data]
    assert len(set(offsets)) < len(offsets), "no segment was sent twice"
    assert any(b < a for a, b in itertools.pairwise(offsets)), "never out of order"
    stream = bytearray()
    for offset, (_, payload) in sorted(zip(offsets, data, strict=True), key=lambda x: x[0]):
        assert offset <= len(stream), "hole in the client stream"
        stream[offset : offset + len(payload)] = payload
    head, _, body = bytes(stream).partition(b"\r\n\r\n")
    assert len(body) == entry["body_length"]
    marker = entry["body_marker"].encode()
    assert body.endswith(marker) and body.index(marker) == entry["body_marker_offset"]
    assert head.startswith(f"POST {entry['requests'][0]['target']} ".encode())
