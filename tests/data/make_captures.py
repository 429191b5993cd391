#!/usr/bin/env python3
"""Regenerate the link-type and edge-case test captures and their manifest.

Run as root from anywhere:

    sudo /work/main/.venv/bin/python tests/data/make_captures.py [--only NAME ...]

Every capture is made by real kernel stacks: on the host's loopback, or between
network namespaces that this script creates, wires with veth or TUN devices, and
deletes again. No packet is sent to any other address. Each file is checked with
tshark after it is written (the HTTP requests it must contain, the oddity it
exists for), and manifest.yaml records what a test may assert about it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "captures"))  # the shared Sniffer lives there

import pcap_records  # noqa: E402
import recipes  # noqa: E402
from netlab import require, sh  # noqa: E402
from sniff import CaptureError  # noqa: E402

MAX_BYTES = 100_000
LINKTYPE_NAMES = {0: "NULL", 1: "EN10MB", 101: "RAW", 113: "LINUX_SLL", 276: "LINUX_SLL2"}

# Order matters: null_loopback is rewritten from eth_lo.pcap.
RECIPES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "eth_lo": recipes.eth_lo,
    "eth_vlan": recipes.eth_vlan,
    "sll": recipes.sll,
    "sll2": recipes.sll2,
    "nanosecond": recipes.nanosecond,
    "multi_if": recipes.multi_if,
    "raw_ip": recipes.raw_ip,
    "null_loopback": recipes.null_loopback,
    "ipv6_ext_frag": recipes.ipv6_ext_frag,
    "ipv4_frag": recipes.ipv4_frag,
    "reorder_retx": recipes.reorder_retx,
    "midflow": recipes.midflow,
    "truncated": recipes.truncated,
}
NATIVE = set(RECIPES) - {"null_loopback"}


class CheckFailed(RuntimeError):
    pass


def describe_file(path: Path) -> dict[str, Any]:
    """Format facts read back from the file itself, so the manifest cannot claim otherwise."""
    head = path.read_bytes()[:4]
    if head == b"\x0a\x0d\x0d\x0a":
        interfaces = pcap_records.pcapng_interfaces(path)
        tsresol = {i.tsresol for i in interfaces}
        return {
            "format": "pcapng",
            "linktype": interfaces[0].linktype,
            "interfaces": [
                {"name": i.name, "linktype": i.linktype, "if_tsresol": i.tsresol}
                for i in interfaces
            ],
            "ts_precision": "ns" if tsresol == {9} else "us" if tsresol == {6} else "mixed",
        }
    magic = int.from_bytes(head, "little")
    linktype = int.from_bytes(path.read_bytes()[20:24], "little")
    return {
        "format": "pcap",
        "linktype": linktype,
        "ts_precision": "ns" if magic == pcap_records.MAGIC_NS else "us",
    }


def check_requests(path: Path, entry: dict[str, Any]) -> None:
    """Wireshark must find exactly the requests the manifest promises."""
    rows = recipes.tshark_fields(
        path, "http.request", "http.request.method", "http.host", "http.request.uri"
    )
    got = sorted(tuple(row) for row in rows)
    want = sorted((r["method"], r["host"], r["target"]) for r in entry["requests"])
    if got != want:
        raise CheckFailed(f"{path.name}: tshark sees requests {got}, manifest says {want}")


def count(path: Path, display_filter: str) -> int:
    return len(recipes.tshark_fields(path, display_filter, "frame.number"))


def check_special(name: str, path: Path, entry: dict[str, Any]) -> None:
    """The property each capture exists for must really be in it."""
    if name == "eth_vlan":
        total, tagged = count(path, "frame"), count(path, "vlan.id == 77")
        if total == 0 or tagged != total:
            raise CheckFailed(f"eth_vlan: {tagged} of {total} frames tagged")
    elif name == "multi_if":
        times = [float(row[0]) for row in recipes.tshark_fields(path, "frame", "frame.time_epoch")]
        entry["records_in_time_order"] = times == sorted(times)
    elif name == "midflow":
        if count(path, "tcp.flags.syn == 1"):
            raise CheckFailed("midflow: capture contains a SYN")
    elif name in ("ipv4_frag", "ipv6_ext_frag"):
        frag = "ip.flags.mf == 1 or ip.frag_offset > 0" if name == "ipv4_frag" else "ipv6.fraghdr"
        entry["fragments"] = count(path, frag)
        if entry["fragments"] < 3:
            raise CheckFailed(f"{name}: only {entry['fragments']} fragments")
        if name == "ipv6_ext_frag":
            entry["hop_by_hop_packets"] = count(path, "ipv6.hopopts")
            entry["destination_options_packets"] = count(path, "ipv6.dstopts")
            entry["mld_reports"] = count(path, "icmpv6.type == 143")
            if not (entry["destination_options_packets"] and entry["mld_reports"]):
                raise CheckFailed(f"ipv6_ext_frag: extension headers missing: {entry}")
    elif name == "reorder_retx":
        stats = {
            "retransmissions": count(path, "tcp.analysis.retransmission"),
            "fast_retransmissions": count(path, "tcp.analysis.fast_retransmission"),
            "spurious_retransmissions": count(path, "tcp.analysis.spurious_retransmission"),
            "out_of_order": count(path, "tcp.analysis.out_of_order"),
            "duplicate_acks": count(path, "tcp.analysis.duplicate_ack"),
        }
        entry["tshark_analysis"] = stats
        if not (stats["out_of_order"] and stats["retransmissions"] + stats["fast_retransmissions"]):
            raise CheckFailed(f"reorder_retx: not disordered enough: {stats}")


def tool_versions() -> dict[str, str]:
    def first_match(argv: list[str], pattern: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        match = re.search(pattern, done.stdout + done.stderr)
        return match.group(1) if match else "unknown"

    return {
        "tcpdump": first_match(["tcpdump", "--version"], r"tcpdump version (\S+)"),
        "libpcap": first_match(["tcpdump", "--version"], r"libpcap version (\S+)"),
        "dumpcap": first_match(["dumpcap", "-v"], r"Dumpcap \(Wireshark\) (\S+)"),
        "tshark": first_match(["tshark", "-v"], r"TShark \(Wireshark\) (\S+)"),
        "curl": first_match(["curl", "--version"], r"curl (\S+)"),
        "kernel": platform.release(),
    }


MANIFEST_HEADER = """\
# Test captures made by tests/data/make_captures.py (run it as root to regenerate).
# Per file: format and linktype (LINKTYPE_* number) are read back from the file;
# native = made by a real capture of real traffic, false = rewritten from one.
# requests: HTTP requests tshark finds in the file; host is the Host header,
# path the request path without query, target the request-target as sent.
# Every request target carries the marker query imei=<imei> (same IMEI in all files),
# except truncated.pcap's second request, which the cut falls inside.
"""


def run_recipe(name: str, work: Path, attempts: int) -> dict[str, Any]:
    """Make one capture in ``work``; retry when a timing-dependent property did not show up."""
    for attempt in range(1, attempts + 1):
        try:
            entry = RECIPES[name](work)
            path = work / entry["file"]
            facts = describe_file(path)
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise CheckFailed(f"{path.name} is {size} bytes, over {MAX_BYTES}")
            check_requests(path, entry)
            check_special(name, path, entry)
        except (CheckFailed, CaptureError) as exc:
            print(f"  {name}: attempt {attempt} rejected: {exc}", file=sys.stderr)
            if attempt == attempts:
                raise
            continue
        ordered: dict[str, Any] = {"file": entry.pop("file"), **facts}
        ordered["linktype_name"] = LINKTYPE_NAMES.get(facts["linktype"], "?")
        ordered["native"] = name in NATIVE
        ordered["made_by"] = entry.pop("made_by")
        ordered["special"] = entry.pop("special")
        ordered["imei"] = recipes.IMEI
        ordered["size_bytes"] = size
        ordered.update(entry)
        return ordered
    raise AssertionError("unreachable")


def remove_stale_namespaces() -> None:
    """Delete namespaces of earlier runs that were killed outright (SIGKILL skips cleanup)."""
    for line in sh("ip", "netns", "list").splitlines():
        match = re.match(r"(lt(\d+)[a-z0-9]+-[a-z]+)\b", line)
        if not match:
            continue
        try:
            os.kill(int(match.group(2)), 0)
        except ProcessLookupError:
            print(f"removing stale namespace {match.group(1)}", file=sys.stderr)
            sh("ip", "netns", "del", match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), help="remake these only")
    args = parser.parse_args()
    require(["ip", "tc", "tcpdump", "dumpcap", "tshark", "curl", "iptables", "ethtool", "sysctl"])
    # SIGTERM unwinds like Ctrl-C, so every namespace and process is removed on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    remove_stale_namespaces()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.yaml"
    selected = [name for name in RECIPES if not args.only or name in args.only]
    entries: dict[str, dict[str, Any]] = {}
    if args.only and manifest_path.exists():
        old = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
        entries = {Path(f["file"]).stem: f for f in old.get("files", [])}
    # Files are made in a scratch directory and moved in only when checked, so a failed
    # run leaves the committed captures as they were.
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as scratch:
        work = Path(scratch)
        if "null_loopback" in selected and "eth_lo" not in selected:
            shutil.copy(out / "eth_lo.pcap", work / "eth_lo.pcap")
        made: dict[str, dict[str, Any]] = {}
        for name in selected:
            print(f"making {name} ...", flush=True)
            made[name] = run_recipe(name, work, attempts=3)
            print(f"  made {made[name]['file']} ({made[name]['size_bytes']} bytes)")
        for name, entry in made.items():
            os.replace(work / entry["file"], out / entry["file"])
            entries[name] = entry
    manifest = {
        "generated_by": "tests/data/make_captures.py",
        "imei": recipes.IMEI,
        "marker": recipes.MARKER.decode(),
        "host": recipes.HOST,
        "tools": tool_versions(),
        "files": [entries[name] for name in RECIPES if name in entries],
    }
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
    manifest_path.write_text(MANIFEST_HEADER + text, encoding="utf-8")
    print(f"wrote {manifest_path} and {len(made)} captures")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("make_captures: run as root (namespaces, tcpdump and eBPF need it)")
    main()
