"""A small corpus on disk: captures with and without sidecars, a corrupt one and a damaged one."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generate(path: Path, size_mb: float, seed: int) -> None:
    spec = importlib.util.spec_from_file_location("gencap", ROOT / "bench" / "gencap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(path, size_mb, seed)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``shop/`` (demo capture + device.yaml + app.yaml), ``gen/`` (two synthetic captures, no
    sidecars), ``data/`` (link-type captures), ``broken/`` (not a pcap; cut short)."""
    root = tmp_path_factory.mktemp("corpus")
    shop = root / "shop"
    shop.mkdir()
    for name in ("demo.pcap", "device.yaml", "app.yaml"):
        shutil.copy(ROOT / "captures" / name, shop / name)
    gen = root / "gen"
    gen.mkdir()
    _generate(gen / "one.pcap", 0.4, 1)
    _generate(gen / "two.pcap", 0.4, 2)
    data = root / "data"
    data.mkdir()
    for name in ("eth_vlan.pcap", "sll2.pcap", "multi_if.pcapng"):
        shutil.copy(ROOT / "tests" / "data" / name, data / name)
    broken = root / "broken"
    broken.mkdir()
    (broken / "corrupt.pcap").write_bytes(b"this is not a capture file\n" * 10)
    shutil.copy(ROOT / "tests" / "data" / "truncated.pcap", broken / "truncated.pcap")
    return root
