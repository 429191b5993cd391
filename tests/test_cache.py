"""The per-user cache itself: where it is, what a key covers, what an entry costs to read."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace import cache


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_VAR, str(folder))
    return folder


@pytest.mark.parametrize("value", ["off", "OFF", " Off "])
def test_off_in_any_case_disables(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(cache.ENV_VAR, value)
    assert cache.cache_dir() is None
    assert cache.store("kind", "k", b"x") is False
    assert cache.load("kind", "k") is None


def test_round_trip_and_miss(cache_dir: Path) -> None:
    assert cache.load("kind", "k1") is None
    assert cache.store("kind", "k1", b"payload")
    assert cache.load("kind", "k1") == b"payload"
    assert cache.load("kind", "k2") is None
    assert cache.load("other", "k1") is None
    assert [p.name for p in cache_dir.iterdir()] == ["kind-k1.bin"]  # no temporary left


def test_reading_an_entry_costs_its_size_not_the_bound(cache_dir: Path) -> None:
    payload = b"z" * (64 << 10)
    assert cache.store("kind", "k", payload)
    tracemalloc.start()
    loaded = cache.load("kind", "k")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert loaded == payload
    assert peak < 4 * len(payload) + (256 << 10), peak


@given(st.lists(st.binary(max_size=8), max_size=6), st.lists(st.binary(max_size=8), max_size=6))
def test_keys_differ_whenever_the_parts_do(a: list[bytes], b: list[bytes]) -> None:
    assert (cache.make_key(*a) == cache.make_key(*b)) == (a == b)


def test_text_and_bytes_parts_agree() -> None:
    assert cache.make_key("ab", "c") == cache.make_key(b"ab", b"c") != cache.make_key("a", "bc")


def _age(path: Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(path, (when, when))


def test_past_keep_the_least_recently_used_entries_go(cache_dir: Path) -> None:
    for index in range(5):
        assert cache.store("kind", f"k{index}", b"x", keep=5)
        _age(cache_dir / f"kind-k{index}.bin", 100 - index)  # k0 oldest
    assert cache.load("kind", "k0") == b"x"  # used now: the newest
    assert cache.store("kind", "k5", b"x", keep=5)
    assert cache.store("kind", "k6", b"x", keep=5)
    left = sorted(p.name for p in cache_dir.glob("kind-*.bin"))
    assert left == ["kind-k0.bin", "kind-k3.bin", "kind-k4.bin", "kind-k5.bin", "kind-k6.bin"]


def test_keep_counts_each_kind_apart_and_defaults_to_keep_per_kind(cache_dir: Path) -> None:
    for index in range(cache.KEEP_PER_KIND + 2):
        assert cache.store("small", f"k{index}", b"x", keep=100)
        assert cache.store("big", f"k{index}", b"x")
    assert len(list(cache_dir.glob("small-*.bin"))) == cache.KEEP_PER_KIND + 2
    assert len(list(cache_dir.glob("big-*.bin"))) == cache.KEEP_PER_KIND


def test_abandoned_temporary_files_are_removed_and_fresh_ones_left(cache_dir: Path) -> None:
    assert cache.store("kind", "k", b"x")
    stale, fresh = cache_dir / ".kind-dead.tmp", cache_dir / ".kind-writing.tmp"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    _age(stale, cache.STALE_TEMP_SECONDS + 60)
    assert cache.store("kind", "k2", b"x")
    assert not stale.exists() and fresh.exists()
