"""The per-user cache itself: where it is, what a key covers, what an entry costs to read."""

from __future__ import annotations

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
