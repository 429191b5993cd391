"""The validated signature set kept between runs: same set, invalidated by any change,
and never unpickled from a place someone else could write."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest

from leaktrace import cache
from leaktrace.signatures import loader
from leaktrace.signatures.loader import SignatureError, SignatureSet, load_signatures

BUNDLED = Path(__file__).resolve().parents[2] / "signatures"


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """The roots of every load that parsed and validated the files (a cache miss)."""
    seen: list[list[Path]] = []
    real = loader._load_uncached

    def spy(roots: list[Path]) -> SignatureSet:
        seen.append(list(roots))
        return real(roots)

    monkeypatch.setattr(loader, "_load_uncached", spy)
    return seen


SMALL_SDKS = ("umeng", "jpush", "baidu_location", "firebase_analytics")

NEW_SDK = """\
id: zz_new
name: New SDK
vendor: {name: Test}
category: analytics
endpoints:
  - domain: zz-new.example
    source: "test"
examples:
  match: ["a.zz-new.example"]
  no_match: ["notzz-new.example"]
"""


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A private, smaller copy of the bundled catalogue (every identifier type, a few
    SDKs), free to edit."""
    target = tmp_path / "signatures"
    shutil.copytree(BUNDLED / "identifiers", target / "identifiers")
    (target / "sdks").mkdir()
    for name in SMALL_SDKS:
        shutil.copy(BUNDLED / "sdks" / f"{name}.yaml", target / "sdks")
    return target


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("signature-set-*.bin"))


def _same(a: SignatureSet, b: SignatureSet) -> None:
    assert a == b
    assert list(a.identifiers) == list(b.identifiers) and list(a.sdks) == list(b.sdks)
    assert a.origins == b.origins
    # Private, derived state survives too: compiled patterns and folded key hints.
    for ident_id, ident in a.identifiers.items():
        other = b.identifiers[ident_id]
        assert ident.hints == other.hints
        assert [p.compiled.pattern for p in ident.patterns] == [
            p.compiled.pattern for p in other.patterns
        ]
        assert [p.compiled.flags for p in ident.patterns] == [
            p.compiled.flags for p in other.patterns
        ]


def test_a_cache_hit_returns_the_same_validated_set(
    cache_dir: Path, builds: list[list[Path]]
) -> None:
    cold = load_signatures([BUNDLED])
    assert len(builds) == 1 and len(_entries(cache_dir)) == 1
    warm = load_signatures([BUNDLED])
    assert len(builds) == 1
    assert warm is not cold
    _same(cold, warm)
    assert len(warm.identifiers) > 20 and len(warm.sdks) > 200


@pytest.mark.parametrize("change", ["edit", "touch", "add", "remove", "order"])
def test_any_change_to_the_files_is_a_miss(
    cache_dir: Path, builds: list[list[Path]], catalogue: Path, tmp_path: Path, change: str
) -> None:
    first = load_signatures([catalogue])
    sdk_file = catalogue / "sdks" / "umeng.yaml"
    extra = tmp_path / "extra"
    roots = [catalogue]
    if change == "edit":
        sdk_file.write_text(
            sdk_file.read_text(encoding="utf-8").replace("name: ", "name: Edited ", 1),
            encoding="utf-8",
        )
    elif change == "touch":
        info = sdk_file.stat()
        os.utime(sdk_file, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    elif change == "add":
        (catalogue / "sdks" / "zz_new.yaml").write_text(NEW_SDK, encoding="utf-8")
    elif change == "remove":
        (catalogue / "sdks" / "jpush.yaml").unlink()
    else:
        (extra / "sdks").mkdir(parents=True)
        roots = [extra, catalogue]
    second = load_signatures(roots)
    assert len(builds) == 2
    if change == "edit":
        assert second.sdks["umeng"].name.startswith("Edited ")
    elif change == "add":
        assert "zz_new" in second.sdks and "zz_new" not in first.sdks
    elif change == "remove":
        assert "jpush" not in second.sdks and "jpush" in first.sdks
    load_signatures(roots)
    assert len(builds) == 2  # the new state is cached in turn


@pytest.mark.parametrize("racy_window", [True, False])
def test_a_same_size_edit_with_its_mtime_set_back_is_a_miss(
    cache_dir: Path,
    builds: list[list[Path]],
    catalogue: Path,
    monkeypatch: pytest.MonkeyPatch,
    racy_window: bool,
) -> None:
    """What size and mtime miss (an editor or a sync tool restoring the mtime), the
    ctime still shows; a file changed within the last seconds is hashed as well."""
    if not racy_window:
        monkeypatch.setattr(cache, "RACY_NS", 0)  # judged by its status alone
    load_signatures([catalogue])
    sdk_file = catalogue / "sdks" / "umeng.yaml"
    info = sdk_file.stat()
    text = sdk_file.read_text(encoding="utf-8")
    edited = text.replace("name: Umeng+", "name: XUmeng", 1)
    assert len(edited.encode()) == info.st_size and edited != text
    time.sleep(0.05)  # past the timestamp tick of the copy that made the file
    sdk_file.write_text(edited, encoding="utf-8")
    os.utime(sdk_file, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert sdk_file.stat().st_mtime_ns == info.st_mtime_ns
    second = load_signatures([catalogue])
    assert len(builds) == 2
    assert second.sdks["umeng"].name.startswith("X")


def _planted(folder: Path, key: str, marker: Path) -> Path:
    """A well-formed entry whose pickle runs code: it creates ``marker`` when loaded."""
    payload = pickle.dumps(_Exploit(marker))
    path = folder / f"signature-set-{key}.bin"
    path.write_bytes(b"LTCACHE1" + hashlib.sha256(payload).digest() + payload)
    path.chmod(0o600)
    return path


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (shutil.copyfile, (__file__, str(self.marker)))


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_no_unpickling_from_a_directory_others_can_write(
    cache_dir: Path, builds: list[list[Path]], catalogue: Path, tmp_path: Path, mode: int
) -> None:
    key = loader._cache_key([catalogue])
    assert key is not None
    cache_dir.mkdir(mode=0o700)
    marker = tmp_path / "code-ran"
    _planted(cache_dir, key, marker)
    cache_dir.chmod(mode)
    sigs = load_signatures([catalogue])
    assert not marker.exists()
    assert len(builds) == 1 and "umeng" in sigs.sdks
    # The same entry in a private directory is unpickled: the check above is what
    # stands between a shared directory and running its contents.
    cache_dir.chmod(0o700)
    loaded = cache.load_object("signature-set", key, SignatureSet)
    assert marker.exists() and loaded is None


@pytest.mark.parametrize("damage", ["not_a_pickle", "wrong_type", "bad_checksum", "truncated"])
def test_a_corrupt_entry_is_rebuilt_silently(
    cache_dir: Path, builds: list[list[Path]], catalogue: Path, damage: str
) -> None:
    good = load_signatures([catalogue])
    [path] = _entries(cache_dir)
    blob = path.read_bytes()
    if damage == "not_a_pickle":
        payload = b"\x80\x05not really a pickle"
        path.write_bytes(b"LTCACHE1" + hashlib.sha256(payload).digest() + payload)
    elif damage == "wrong_type":
        payload = pickle.dumps({"identifiers": {}, "sdks": {}})
        path.write_bytes(b"LTCACHE1" + hashlib.sha256(payload).digest() + payload)
    elif damage == "bad_checksum":
        path.write_bytes(blob[:8] + b"\x00" * 32 + blob[40:])
    else:
        path.write_bytes(blob[:100])
    again = load_signatures([catalogue])
    assert len(builds) == 2
    _same(good, again)
    assert _entries(cache_dir) == [path] and path.read_bytes() != b""
    load_signatures([catalogue])
    assert len(builds) == 2


def test_disabled_by_the_environment_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: list[list[Path]], catalogue: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv(cache.ENV_VAR, "OFF")
    first = load_signatures([catalogue])
    second = load_signatures([catalogue])
    assert len(builds) == 2
    _same(first, second)
    assert list(home.rglob("*")) == []


def test_problems_are_never_cached(
    cache_dir: Path, builds: list[list[Path]], catalogue: Path
) -> None:
    broken = catalogue / "sdks" / "umeng.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\nbogus_field: 1\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SignatureError, match="bogus_field"):
            load_signatures([catalogue])
    assert len(builds) == 2
    assert _entries(cache_dir) == []


def test_a_missing_root_is_reported_not_cached(
    cache_dir: Path, builds: list[list[Path]], catalogue: Path, tmp_path: Path
) -> None:
    with pytest.raises(SignatureError, match="not a directory"):
        load_signatures([catalogue, tmp_path / "missing"])
    assert _entries(cache_dir) == []
