from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.sources.fragments import FragmentReassembler

SRC = b"\x0a\0\0\x02"
DST = b"\x5d\xb8\xd8\x22"


def _add(
    r: FragmentReassembler, offset: int, more: bool, data: bytes, ident: int = 1, ts: float = 0.0
) -> bytes | None:
    return r.add(SRC, DST, ident, 17, offset, more, data, ts)


def test_in_order() -> None:
    r = FragmentReassembler()
    assert _add(r, 0, True, b"a" * 8) is None
    assert _add(r, 8, True, b"b" * 8) is None
    assert _add(r, 16, False, b"cc") == b"a" * 8 + b"b" * 8 + b"cc"
    assert r.pending == 0 and r.completed == 1 and r.pending_bytes == 0


def test_last_fragment_first() -> None:
    r = FragmentReassembler()
    assert _add(r, 16, False, b"cc") is None
    assert _add(r, 0, True, b"a" * 8) is None
    assert _add(r, 8, True, b"b" * 8) == b"a" * 8 + b"b" * 8 + b"cc"


def test_duplicates_and_overlaps_keep_first_seen_bytes() -> None:
    r = FragmentReassembler()
    assert _add(r, 0, True, b"a" * 16) is None
    assert _add(r, 0, True, b"a" * 16) is None  # exact duplicate
    assert _add(r, 8, True, b"X" * 16) is None  # overlaps the first: its first half loses
    assert _add(r, 24, False, b"end") == b"a" * 16 + b"X" * 8 + b"end"


def test_keys_are_separate() -> None:
    r = FragmentReassembler()
    assert _add(r, 0, True, b"1" * 8, ident=1) is None
    assert _add(r, 0, True, b"2" * 8, ident=2) is None
    assert _add(r, 8, False, b"two", ident=2) == b"2" * 8 + b"two"
    assert _add(r, 8, False, b"one", ident=1) == b"1" * 8 + b"one"


def test_unfragmented_passes_through() -> None:
    r = FragmentReassembler()
    assert _add(r, 0, False, b"whole") == b"whole"
    assert r.pending == 0


def test_timeout_drops_stale_datagrams() -> None:
    r = FragmentReassembler(timeout=30.0)
    assert _add(r, 0, True, b"a" * 8, ident=1, ts=100.0) is None
    assert _add(r, 0, True, b"b" * 8, ident=2, ts=131.0) is None
    assert r.timed_out == 1 and r.evicted == 1 and r.pending == 1
    # The late tail of datagram 1 cannot complete it any more.
    assert _add(r, 8, False, b"z", ident=1, ts=131.0) is None


def test_max_pending_evicts_oldest_and_counts() -> None:
    r = FragmentReassembler(max_pending=3)
    for ident in range(5):
        _add(r, 0, True, b"x" * 8, ident=ident)
    assert r.pending == 3 and r.crowded_out == 2 and r.evicted == 2
    assert _add(r, 8, False, b"!", ident=4) == b"x" * 8 + b"!"
    assert _add(r, 8, False, b"!", ident=0) is None  # evicted earlier


def test_max_bytes_bound() -> None:
    r = FragmentReassembler(max_bytes=100)
    for ident in range(10):
        _add(r, 0, True, b"x" * 40, ident=ident)
    assert r.pending_bytes <= 100
    assert r.crowded_out == r.evicted >= 8


def test_oversize_and_inconsistent_are_invalid() -> None:
    r = FragmentReassembler(max_size=1000)
    assert _add(r, 0, True, b"x" * 8, ident=1) is None
    assert _add(r, 996, True, b"x" * 8, ident=1) is None
    assert r.invalid == 1 and r.pending == 0
    assert _add(r, 0, True, b"x" * 16, ident=2) is None
    assert _add(r, 8, False, b"y", ident=2) is None  # ends before bytes already held
    assert r.invalid == 2 and r.pending == 0
    assert _add(r, 16, False, b"y", ident=3) is None
    assert _add(r, 8, False, b"yyyy", ident=3) is None  # a second, different end
    assert r.invalid == 3
    assert r.evicted == 3  # the total covers every datagram given up


def test_too_many_fragments() -> None:
    r = FragmentReassembler(max_fragments=4)
    for i in range(5):
        assert _add(r, i * 8, True, b"z" * 8) is None
    assert r.invalid == 1 and r.pending == 0


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=1, max_size=600),
    st.integers(1, 40),
    st.randoms(use_true_random=False),
    st.integers(0, 5),
)
def test_any_order_with_duplicates_rebuilds_the_payload(
    payload: bytes, unit: int, rnd: random.Random, dups: int
) -> None:
    size = unit * 8
    pieces = [
        (off, off + size < len(payload), payload[off : off + size])
        for off in range(0, len(payload), size)
    ]
    arrivals = pieces + [rnd.choice(pieces) for _ in range(dups)]
    rnd.shuffle(arrivals)
    r = FragmentReassembler()
    results = []
    for off, more, data in arrivals:
        results.append(_add(r, off, more, data))
    done = [x for x in results if x is not None]
    assert done[0] == payload
