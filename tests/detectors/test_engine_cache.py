"""The compiled Hyperscan database kept between runs: same answers, never a failure."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leaktrace import cache
from leaktrace.detectors import DetectorSet, engine
from leaktrace.detectors.engine import MultiPatternScanner, ScanEntry, hyperscan_available
from leaktrace.profile import load_device
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Field

pytestmark = pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")

REPO = Path(__file__).resolve().parents[2]
DEVICE = REPO / "captures" / "device.yaml"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per cache entry offered to the scanner: True when it was usable."""
    seen: list[bool] = []
    real = engine._deserialized

    def spy(blob: bytes) -> Any:
        db = real(blob)
        seen.append(db is not None)
        return db

    monkeypatch.setattr(engine, "_deserialized", spy)
    return seen


def _db_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("hyperscan-db-*.bin"))


def _fields(signatures: SignatureSet) -> list[Field]:
    """Every example of every identifier type, both kinds, plus the demo device's values."""
    values: list[str] = []
    for ident in signatures.identifiers.values():
        values += [*ident.examples.match, *ident.examples.no_match]
    values += ["imei=868012345678901", "android_id=3f8a9c2e71b4d605", "13812345678", "x"]
    values += ["lat=39.908722&lng=116.397499", "3c:06:30:1a:2b:4c", "3C06301A2B4C"]
    return [Field(where=f"f{i}", value=v.encode(), key=None) for i, v in enumerate(values)]


def _detections(detectors: DetectorSet, fields: list[Field]) -> list[tuple[object, ...]]:
    return [
        (d.type, d.value, d.method, d.confidence, d.where, d.form, d.evidence)
        for f in fields
        for d in detectors.detect([f])
    ]


def test_a_cache_hit_detects_exactly_what_a_fresh_compile_does(
    cache_dir: Path, loads: list[bool], signatures: SignatureSet
) -> None:
    device = load_device(DEVICE)
    fields = _fields(signatures)
    cold = DetectorSet(signatures, device)
    assert loads == [] and len(_db_files(cache_dir)) == 1
    warm = DetectorSet(signatures, device)
    assert loads == [True]
    expected = _detections(cold, fields)
    assert len(expected) > 50
    assert _detections(warm, fields) == expected
    # Candidate ids straight from the scanner, too (prefilter hits included).
    raw_cold = [cold._scanner.scan(f.value) for f in fields]
    assert [warm._scanner.scan(f.value) for f in fields] == raw_cold


def test_different_entries_do_not_share_a_database(cache_dir: Path, loads: list[bool]) -> None:
    first = MultiPatternScanner([ScanEntry(rb"ab[0-9]+"), ScanEntry(b"zz", literal=True)])
    second = MultiPatternScanner([ScanEntry(rb"ab[0-9]+"), ScanEntry(b"zy", literal=True)])
    caseless = MultiPatternScanner([ScanEntry(rb"ab[0-9]+", caseless=True)])
    assert loads == [] and len(_db_files(cache_dir)) == 3
    assert first.scan(b"zz") == {1} and second.scan(b"zz") == set()
    assert caseless.scan(b"AB12") == {0}
    again = MultiPatternScanner([ScanEntry(rb"ab[0-9]+"), ScanEntry(b"zy", literal=True)])
    assert loads == [True] and again.scan(b"xzy ab1") == {0, 1}


def _rewrite(path: Path, payload: bytes, *, valid_checksum: bool) -> None:
    digest = hashlib.sha256(payload).digest() if valid_checksum else b"\x00" * 32
    path.write_bytes(b"LTCACHE1" + digest + payload)


@pytest.mark.parametrize(
    "damage",
    ["garbage_with_valid_checksum", "bad_checksum", "truncated", "empty", "flipped_byte"],
)
def test_a_corrupt_entry_is_rebuilt_silently(
    cache_dir: Path, loads: list[bool], damage: str
) -> None:
    entries = [ScanEntry(rb"imei[=:][0-9]{15}"), ScanEntry(b"secret", literal=True)]
    MultiPatternScanner(entries)
    [path] = _db_files(cache_dir)
    good = path.read_bytes()
    if damage == "garbage_with_valid_checksum":
        _rewrite(path, os.urandom(4096), valid_checksum=True)
    elif damage == "bad_checksum":
        _rewrite(path, good[40:], valid_checksum=False)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        flipped = bytearray(good)
        flipped[len(flipped) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))
    scanner = MultiPatternScanner(entries)
    assert scanner.scan(b"imei=868012345678901 secret") == {0, 1}
    assert loads == ([False] if damage == "garbage_with_valid_checksum" else [])
    assert path.read_bytes() == good  # rewritten with the freshly compiled database
    MultiPatternScanner(entries)
    assert loads[-1] is True


def test_disabled_by_the_environment_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[bool]
) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv(cache.ENV_VAR, "off")
    assert cache.cache_dir() is None
    for _ in range(2):
        assert MultiPatternScanner([ScanEntry(rb"x[0-9]+y")]).scan(b"x12y") == {0}
    assert loads == []
    assert sorted(tmp_path.rglob("*")) == [home, xdg]


def test_default_location_follows_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "leaktrace"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "leaktrace"
    MultiPatternScanner([ScanEntry(rb"q[0-9]+")])
    folder = tmp_path / "home" / ".cache" / "leaktrace"
    assert len(_db_files(folder)) == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(_db_files(folder)[0].stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_directory_others_can_write_is_not_used(
    cache_dir: Path, loads: list[bool], mode: int
) -> None:
    entries = [ScanEntry(rb"w[0-9]+w")]
    MultiPatternScanner(entries)
    before = sorted(p.name for p in cache_dir.iterdir())
    cache_dir.chmod(mode)
    other = [ScanEntry(rb"v[0-9]+v")]
    assert MultiPatternScanner(entries).scan(b"w1w") == {0}
    assert MultiPatternScanner(other).scan(b"v1v") == {0}
    assert loads == []  # the valid entry inside was not even offered
    assert sorted(p.name for p in cache_dir.iterdir()) == before  # and nothing was added


def test_an_entry_others_can_write_or_a_symlink_is_not_used(
    cache_dir: Path, loads: list[bool], tmp_path: Path
) -> None:
    entries = [ScanEntry(rb"s[0-9]+s")]
    MultiPatternScanner(entries)
    [path] = _db_files(cache_dir)
    path.chmod(0o666)
    MultiPatternScanner(entries)
    assert loads == []
    elsewhere = tmp_path / "planted.bin"
    elsewhere.write_bytes(path.read_bytes())
    elsewhere.chmod(0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    MultiPatternScanner(entries)
    assert loads == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_an_entry_owned_by_someone_else_is_not_used(cache_dir: Path, loads: list[bool]) -> None:
    entries = [ScanEntry(rb"o[0-9]+o")]
    MultiPatternScanner(entries)
    [path] = _db_files(cache_dir)
    os.chown(path, 65534, 65534)
    MultiPatternScanner(entries)
    assert loads == []
    os.chown(cache_dir, 65534, 65534)
    path.unlink()
    MultiPatternScanner(entries)
    assert list(cache_dir.iterdir()) == []  # a directory not ours is not written either


def test_an_unusable_cache_location_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_VAR, str(blocker / "cache"))
    assert MultiPatternScanner([ScanEntry(rb"u[0-9]+u")]).scan(b"u7u") == {0}
    assert blocker.read_text() == "not a directory"


def test_old_entries_are_pruned(cache_dir: Path) -> None:
    for index in range(cache.KEEP_PER_KIND + 3):
        MultiPatternScanner([ScanEntry(b"literal-%d" % index, literal=True)])
    assert len(_db_files(cache_dir)) == cache.KEEP_PER_KIND


@pytest.fixture
def bounded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cache, "MAX_ENTRY_BYTES", 1024)
    yield


def test_an_entry_over_the_size_bound_is_neither_written_nor_read(
    cache_dir: Path, loads: list[bool], bounded: None
) -> None:
    MultiPatternScanner([ScanEntry(rb"b[0-9]{3,9}b")])
    assert _db_files(cache_dir) == []
    assert loads == []
