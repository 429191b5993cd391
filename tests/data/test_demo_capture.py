"""captures/demo.pcap must hold every leak that demo.expected.yaml promises, as described.

The demo is the project's showcase and the end-to-end tests' ground truth; if its
expected-findings file and its capture disagree, every later test is misled.
These checks decode the capture independently (no leaktrace code) and verify the
device values against their own rules (Luhn, prefixes, formats).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import re
import sys
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pcap_records as pr  # noqa: E402
from packet_view import ip_bytes, parse_ip, tcp_segments  # noqa: E402

DEMO = HERE.parents[1] / "captures"
DEVICE: dict[str, Any] = yaml.safe_load((DEMO / "device.yaml").read_text(encoding="utf-8"))
EXPECTED: dict[str, Any] = yaml.safe_load((DEMO / "demo.expected.yaml").read_text(encoding="utf-8"))
APP: dict[str, Any] = yaml.safe_load((DEMO / "app.yaml").read_text(encoding="utf-8"))
LEAKS = {leak["type"]: leak for leak in EXPECTED["leaks"]}
HOSTS: dict[str, str] = EXPECTED["addresses"]["hosts"]


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def dotted(addr: bytes) -> str:
    return ".".join(str(b) for b in addr)


def load_flows() -> tuple[list[tuple[str, str, int, bytes]], dict[tuple[str, int, int], bytes]]:
    """UDP datagrams in order, and each TCP flow's client-to-server bytes (loopback: in order)."""
    capture = pr.read(DEMO / "demo.pcap")
    udp: list[tuple[str, str, int, bytes]] = []
    tcp: dict[tuple[str, int, int], bytes] = defaultdict(bytes)
    for rec in capture.records:
        raw = ip_bytes(capture.linktype, rec.data)
        assert raw is not None
        ip = parse_ip(raw)
        src, dst = dotted(ip.src), dotted(ip.dst)
        assert src.startswith("127.") and dst.startswith("127."), "demo left loopback"
        if ip.proto == 17:
            dport = int.from_bytes(ip.payload[2:4], "big")
            udp.append((src, dst, dport, ip.payload[8:]))
        elif ip.proto == 6:
            sport, dport, _, _, payload = tcp_segments(ip)
            if src == EXPECTED["addresses"]["phone"]:
                tcp[(dst, dport, sport)] += payload
    return udp, tcp


UDP, TCP = load_flows()


def client_bytes(host: str, port: int) -> list[bytes]:
    return [data for (dst, dport, _), data in TCP.items() if dst == HOSTS[host] and dport == port]


def http_requests(host: str) -> list[tuple[str, dict[str, str], bytes]]:
    out = []
    for stream in client_bytes(host, 80):
        head, _, body = stream.partition(b"\r\n\r\n")
        line, *header_lines = head.decode("ascii").split("\r\n")
        headers = {k.lower(): v for k, v in (h.split(": ", 1) for h in header_lines)}
        out.append((line, headers, body))
    return out


def qname(message: bytes) -> str:
    labels, offset = [], 12
    while message[offset]:
        length = message[offset]
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
    return ".".join(labels)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371000 * math.asin(math.sqrt(a))


def test_device_values_follow_their_formats() -> None:
    assert re.fullmatch(r"86\d{13}", DEVICE["imei"]) and luhn_ok(DEVICE["imei"])
    assert re.fullmatch(r"46000\d{10}", DEVICE["imsi"])
    assert re.fullmatch(r"8986\d{16}", DEVICE["iccid"]) and luhn_ok(DEVICE["iccid"])
    assert re.fullmatch(r"[0-9a-f]{16}", DEVICE["android_id"])
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", DEVICE["ad_id"])
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", DEVICE["mac"])
    assert re.fullmatch(r"138\d{8}", DEVICE["phone"])
    assert DEVICE["location"] == {"lat": 39.908722, "lng": 116.397499, "radius_m": 100}


def test_app_declares_what_the_brief_says() -> None:
    assert APP["app"] == {"id": "com.example.demoshop", "name": "Demo Shop"}
    assert APP["first_party"] == ["example.com"]
    assert {c["type"] for c in APP["collects"]} == {"phone", "android_id"}
    assert APP["shares"][0]["party"] == "baidu_location"


def test_expected_values_derive_from_the_device() -> None:
    assert LEAKS["imei"]["value"] == DEVICE["imei"]
    assert LEAKS["phone"]["value"] == DEVICE["phone"]
    assert LEAKS["imsi"]["value"] == DEVICE["imsi"]
    assert LEAKS["android_id"]["value"] == hashlib.md5(DEVICE["android_id"].encode()).hexdigest()
    bd = LEAKS["location"]["value"]
    shift = haversine_m(DEVICE["location"]["lat"], DEVICE["location"]["lng"], bd["lat"], bd["lng"])
    assert 950 <= shift <= 1400, "BD-09 offset outside the range measured for Beijing"


def test_capture_fits_the_budget() -> None:
    assert (DEMO / "demo.pcap").stat().st_size < 60_000


def test_every_name_is_resolved_before_any_connection() -> None:
    queries = [(qname(p), dst) for _, dst, dport, p in UDP if dport == 53]
    assert [name for name, _ in queries] == list(HOSTS)
    assert {dst for _, dst in queries} == {EXPECTED["addresses"]["dns"]}
    assert {d["host"] for d in EXPECTED["destinations"] if d["transport"] == "dns"} == set(HOSTS)
    answers = [p for src, _, _, p in UDP if src == EXPECTED["addresses"]["dns"]]
    for answer, address in zip(answers, HOSTS.values(), strict=True):
        assert answer[-4:] == bytes(int(x) for x in address.split("."))


def test_imei_in_mobads_query() -> None:
    ((line, headers, _),) = http_requests("mobads.baidu.com")
    method, target, _ = line.split(" ")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    assert method == "GET" and headers["host"] == "mobads.baidu.com"
    assert query["did"] == [LEAKS["imei"]["value"]]


def test_first_party_json_and_form() -> None:
    requests = {
        line.split(" ")[1]: (headers, body)
        for line, headers, body in http_requests("api.shop.example.com")
    }
    headers, body = requests["/v2/device/register"]
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["device"]["aid"] == LEAKS["android_id"]["value"]
    headers, body = requests["/v1/login"]
    assert urllib.parse.parse_qs(body.decode())["mobile"] == [LEAKS["phone"]["value"]]


def test_location_behind_form_base64_gzip_json() -> None:
    ((line, headers, body),) = http_requests("loc.map.baidu.com")
    assert line.startswith("POST /sdk.php ")
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    req = urllib.parse.parse_qs(body.decode())["req"][0]
    decoded = json.loads(gzip.decompress(base64.b64decode(req)))
    assert decoded["coor"] == "bd09ll"
    assert {"lat": decoded["lat"], "lng": decoded["lng"]} == LEAKS["location"]["value"]


def test_imsi_in_binary_push_frame() -> None:
    ((frame,),) = [client_bytes("im.jpush.cn", 19000)]
    length = int.from_bytes(frame[:2], "big")
    assert length == len(frame) - 2 and frame[2] == 0x01
    assert json.loads(frame[3:])["imsi"] == LEAKS["imsi"]["value"]


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_each_value_reaches_only_its_own_host(leak: str) -> None:
    """Each identifier is planted once: only its own host's traffic may carry it."""
    value = LEAKS[leak]["value"]
    if not isinstance(value, str):
        return
    carriers = {dst for (dst, _, _), data in TCP.items() if value.encode() in data}
    assert carriers <= {HOSTS[LEAKS[leak]["host"]]}


def test_tls_client_hello_names_the_tracker() -> None:
    ((stream,),) = [client_bytes("app-measurement.com", 443)]
    assert stream[0] == 0x16 and stream[5] == 0x01, "first record is not a ClientHello"
    assert b"\x00\x13app-measurement.com" in stream  # server_name entry: length 19, name
    assert b"app-measurement.com" not in stream[stream.index(b"\x17\x03\x03") :]
    tls = [d for d in EXPECTED["destinations"] if d["transport"] == "tls"]
    assert tls == [
        {
            "host": "app-measurement.com",
            "transport": "tls",
            "party": "third",
            "sdk": "firebase_analytics",
            "port": 443,
        }
    ]
