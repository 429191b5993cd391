#!/usr/bin/env python3
"""Regenerate the demo capture and the YAML files that describe what is in it.

Run as root (tcpdump and ports 53/80/443 need it):

    sudo /work/main/.venv/bin/python captures/make_demo.py [--out DIR]

The demo is a short session of the fictional "Demo Shop" app whose SDKs leak
identifiers. All traffic stays on loopback: each fictional host has its own
127.0.0.x address, the phone is 127.0.0.2, and tcpdump on `lo` keeps only flows
between them. Content is fixed; only timestamps, ports and TLS keys differ between
runs. The script checks that every server received what was planted before it
writes demo.expected.yaml, so the expected findings describe the capture as made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import demo_values as v
import yaml
from demo_phone import StubResolver, run_session
from demo_servers import DemoServers, Received
from sniff import Sniffer

HERE = Path(__file__).resolve().parent
MAX_DEMO_BYTES = 60_000
SDK_OF_HOST: dict[str, tuple[str, str | None]] = {
    "api.shop.example.com": ("first", None),
    "mobads.baidu.com": ("third", "baidu_mobads"),
    "loc.map.baidu.com": ("third", "baidu_location"),
    "im.jpush.cn": ("third", "jpush"),
    "app-measurement.com": ("third", "firebase_analytics"),
}


def check_prerequisites() -> None:
    """Fail early and say exactly what is missing, instead of half-writing a capture."""
    problems = []
    for tool, package in [("tcpdump", "tcpdump"), ("curl", "curl")]:
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found (Debian package: {package})")
    for module in ["scapy", "cryptography", "yaml"]:
        try:
            __import__(module)
        except ImportError:
            problems.append(f"Python module {module} not importable (pip install {module})")
    if os.geteuid() != 0:
        problems.append("must run as root: tcpdump and binding ports 53/80/443 need it")
    if problems:
        sys.exit("make_demo: cannot run:\n  " + "\n  ".join(problems))


def tcpdump_filter() -> str:
    servers = [v.DNS_SERVER, *v.HOSTS.values()]
    return f"host {v.PHONE_ADDR} and (" + " or ".join(f"host {a}" for a in servers) + ")"


def verify_received(received: Received) -> None:
    """Raise unless every planted value reached its server exactly as planned."""
    if set(received.dns_names) != set(v.HOSTS):
        raise RuntimeError(f"DNS server saw {received.dns_names}")
    by_target = {(host, method, target): body for host, method, target, body in received.http}
    mads = next(
        (k for k in by_target if k[0] == "mobads.baidu.com" and f"did={v.IMEI}" in k[2]), None
    )
    if mads is None:
        raise RuntimeError(f"mobads request missing: {list(by_target)}")
    expected_posts = {
        ("api.shop.example.com", "POST", "/v2/device/register"): v.register_body(),
        ("api.shop.example.com", "POST", "/v1/login"): (
            urllib.parse.urlencode({"mobile": v.PHONE, "code": "4821"}).encode()
        ),
        ("loc.map.baidu.com", "POST", "/sdk.php"): (
            urllib.parse.urlencode({"req": v.location_req_field()}).encode()
        ),
    }
    for key, body in expected_posts.items():
        if by_target.get(key) != body:
            raise RuntimeError(f"{key} body mismatch: {by_target.get(key)!r}")
    if received.tcp_frames != [v.jpush_frame()]:
        raise RuntimeError(f"jpush frames: {received.tcp_frames!r}")
    if received.tls_bytes != [200]:
        raise RuntimeError(f"TLS server read {received.tls_bytes} bytes, expected [200]")


def device_doc() -> dict[str, Any]:
    return {
        "imei": v.IMEI,
        "imsi": v.IMSI,
        "iccid": v.ICCID,
        "android_id": v.ANDROID_ID,
        "ad_id": v.AD_ID,
        "mac": v.MAC,
        "phone": v.PHONE,
        "location": {"lat": v.WGS84_LAT, "lng": v.WGS84_LNG, "radius_m": v.LOCATION_RADIUS_M},
    }


def app_doc() -> dict[str, Any]:
    return {
        "app": {"id": v.APP_ID, "name": v.APP_NAME},
        "first_party": ["example.com"],
        "collects": [
            {"type": "phone", "purpose": "login"},
            {"type": "android_id", "purpose": "fraud prevention"},
        ],
        "shares": [
            {
                "party": "baidu_location",
                "company": "Baidu",
                "types": ["location"],
                "purpose": "store finder",
            }
        ],
    }


def expected_doc() -> dict[str, Any]:
    leaks = [
        {
            "type": leak.type,
            "value": leak.value,
            "host": leak.host,
            "transport": leak.transport,
            "party": leak.party,
            "sdk": leak.sdk,
            "where": leak.where,
            "form": leak.form,
        }
        for leak in v.planted_leaks()
    ]
    destinations: list[dict[str, Any]] = [
        {
            "host": "app-measurement.com",
            "transport": "tls",
            "party": "third",
            "sdk": "firebase_analytics",
            "port": 443,
        }
    ]
    for name in v.HOSTS:
        party, sdk = SDK_OF_HOST[name]
        destinations.append(
            {"host": name, "transport": "dns", "party": party, "sdk": sdk, "resolver": v.DNS_SERVER}
        )
    return {
        "capture": "demo.pcap",
        "device": "device.yaml",
        "app": "app.yaml",
        "addresses": {"phone": v.PHONE_ADDR, "dns": v.DNS_SERVER, "hosts": dict(v.HOSTS)},
        "leaks": leaks,
        "destinations": destinations,
    }


DEVICE_HEADER = """\
# Identifiers of the demo's fictional phone, keyed by identifier type id.
# Written by captures/make_demo.py; location is WGS-84 degrees.
"""
APP_HEADER = """\
# What the Demo Shop app declares it collects and shares (its "double lists").
"""
EXPECTED_HEADER = """\
# Ground truth for demo.pcap, written by captures/make_demo.py.
# leaks: identifiers planted in the traffic. value is as it appears once decoded;
#   form says how it derives from device.yaml (plain, md5 of the id, bd09 = the
#   WGS-84 fix converted to GCJ-02 then BD-09, rounded to 6 decimals).
#   where: the decoding chain, outermost first (query, body>form, base64, gzip, json).
# destinations: hosts contacted with no identifier in the clear (tls by SNI) and
#   every DNS lookup the phone made (transport dns, to the resolver address).
# The jpush frame is: 2-byte big-endian length of what follows, type byte 0x01, JSON.
"""


def write_yaml(path: Path, header: str, doc: dict[str, Any]) -> None:
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + body, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args()
    check_prerequisites()
    # SIGTERM unwinds like Ctrl-C, so tcpdump and the servers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pcap = out / "demo.pcap"
    partial = out / "demo.pcap.part"

    with tempfile.TemporaryDirectory(prefix="leaktrace-demo-") as tmp:
        http_addrs = [
            v.HOSTS[h] for h in ("api.shop.example.com", "mobads.baidu.com", "loc.map.baidu.com")
        ]
        servers = DemoServers(
            dns_addr=v.DNS_SERVER,
            zone=dict(v.HOSTS),
            http_addrs=http_addrs,
            frame_addr=(v.HOSTS["im.jpush.cn"], v.JPUSH_PORT),
            frame_ack=v.JPUSH_ACK,
            tls_addr=v.HOSTS["app-measurement.com"],
            tls_hostname="app-measurement.com",
            workdir=Path(tmp),
        )
        tcpdump = ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "16384"]
        sniffer = Sniffer([*tcpdump, "-Z", "root", "-w", str(partial), tcpdump_filter()])
        try:
            with servers, sniffer:
                facts = run_session(StubResolver(v.DNS_SERVER, v.PHONE_ADDR))
            verify_received(servers.received)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    size = partial.stat().st_size
    if size > MAX_DEMO_BYTES:
        partial.unlink()
        sys.exit(f"make_demo: capture is {size} bytes, over the {MAX_DEMO_BYTES} byte budget")
    partial.replace(pcap)

    write_yaml(out / "device.yaml", DEVICE_HEADER, device_doc())
    write_yaml(out / "app.yaml", APP_HEADER, app_doc())
    write_yaml(out / "demo.expected.yaml", EXPECTED_HEADER, expected_doc())
    print(f"wrote {pcap} ({size} bytes, {sniffer.stderr_text()})")
    for name in ("device.yaml", "app.yaml", "demo.expected.yaml"):
        print(f"wrote {out / name}")
    lat, lng = v.bd09_location()
    print(f"  imei {v.IMEI} -> mobads.baidu.com query did")
    print(f"  android_id md5 {v.ANDROID_ID_MD5} -> api.shop.example.com JSON")
    print(f"  phone {v.PHONE} -> api.shop.example.com form")
    print(f"  location bd09 {lat},{lng} -> loc.map.baidu.com req=base64(gzip(json))")
    print(f"  imsi {v.IMSI} -> im.jpush.cn:{v.JPUSH_PORT} binary frame, ack {facts['jpush_ack']}")
    print(f"  {facts['tls_version']} with SNI app-measurement.com, 200 opaque bytes")


if __name__ == "__main__":
    main()
