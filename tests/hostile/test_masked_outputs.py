"""Not a leak itself: no identifier value reaches any analyze output unless --reveal is given."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import yaml

from . import capgen
from .conftest import ROOT, run_cli

DEMO = ROOT / "captures" / "demo.pcap"
DEVICE = ROOT / "captures" / "device.yaml"
IMEI = capgen.imei(777)


def device_values() -> set[str]:
    values: set[str] = set()
    for key, value in yaml.safe_load(DEVICE.read_text()).items():
        if key == "location":
            continue
        values.add(str(value))
        if key == "mac":
            values.add(str(value).replace(":", ""))
    return values


def everything(tmp_path: Path, *args: str) -> str:
    """The file and the terminal summary of every output format, as one text."""
    text = []
    for fmt, suffix in (("table", "txt"), ("jsonl", "jsonl"), ("json", "json")):
        out = tmp_path / f"out.{suffix}"
        proc = run_cli("analyze", *args, "--format", fmt, "--out", out)
        assert proc.returncode == 0, proc.stderr
        text += [proc.stdout, proc.stderr, out.read_text()]
    return "\n".join(text).lower()


def test_demo_outputs_hold_no_device_value(tmp_path: Path) -> None:
    revealed = run_cli("analyze", DEMO, "--format", "jsonl", "--reveal").stdout.lower()
    values = device_values()
    assert sum(v.lower() in revealed for v in values) >= 4  # the values are really there
    masked = everything(tmp_path, str(DEMO))
    leaked = sorted(v for v in values if v.lower() in masked)
    assert leaked == []


@pytest.fixture(scope="module")
def hiding_places(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An IMEI where names, not values, are expected: parameter and header names, a DNS
    label, and in junk after a request (which becomes a diagnostic with a preview)."""
    frames = capgen.Frames()
    requests = [
        f"GET /c?{IMEI} HTTP/1.1\r\nHost: t1.example\r\n\r\n",
        f"GET /p HTTP/1.1\r\nHost: t2.example\r\nX-{IMEI}: v\r\nX-Id: imei={IMEI}\r\n\r\n",
        f"GET /ok HTTP/1.1\r\nHost: t3.example\r\n\r\nimei={IMEI} BROKEN\r\n",
    ]
    for n, request in enumerate(requests, 1):
        capgen.http_flow(frames, n, request.encode())
    name = b"".join(bytes([len(p)]) + p for p in (IMEI.encode(), b"tunnel", b"example")) + b"\0"
    query = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"
    frames.add(capgen.ipv4(b"\x0a\0\0\x09", b"\x0a\0\0\x35", 17, capgen.udp(5000, 53, query)))
    data, _ = capgen.pcap(frames)
    path = tmp_path_factory.mktemp("masking") / "hiding.pcap"
    path.write_bytes(data)
    return path


def test_identifier_in_names_is_masked_everywhere(hiding_places: Path, tmp_path: Path) -> None:
    revealed = run_cli("analyze", hiding_places, "--format", "json", "--reveal", "--no-sidecars")
    assert IMEI in revealed.stdout
    assert IMEI not in everything(tmp_path, str(hiding_places), "--no-sidecars")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    device = tmp_path / "device.yaml"
    device.write_text(f'imei: !!python/object/apply:os.system ["touch {marker}"]\n')
    proc = run_cli("analyze", DEMO, "--device", device, "--quiet")
    assert proc.returncode == 2
    assert not marker.exists()
