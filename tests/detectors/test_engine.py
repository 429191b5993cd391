"""The scanner: one pass, the same confirmed hits with or without hyperscan."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.detectors.engine import (
    MultiPatternScanner,
    ScanEntry,
    ScannerError,
    hyperscan_available,
    hyperscan_error,
    literal_to_regex,
)
from leaktrace.signatures import load_signatures

needs_hs = pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")

_SIGS = load_signatures()
ENTRIES: list[ScanEntry] = [
    *(
        ScanEntry(p.regex.encode(), caseless=p.caseless)
        for ident in _SIGS.identifiers.values()
        for p in ident.patterns
    ),
    ScanEntry(b"869677023945285", literal=True),
    ScanEntry(b"a45e60c2119f", literal=True, caseless=True),
    ScanEntry(b"A4:5E", literal=True),
    ScanEntry(b"\x00\xff.*", literal=True),
    ScanEntry(rb"[0-9]\.[0-9]{2}"),
]
FALLBACK = MultiPatternScanner(ENTRIES, backend="fallback")
HYPERSCAN = MultiPatternScanner(ENTRIES, backend="hyperscan") if hyperscan_available() else None

# Text biased towards what the patterns look for, so hits are common.
ALPHABET = '0123456789abcdefABCDEF:-.,@+="x \x00\xff'
inputs = st.one_of(
    st.binary(max_size=200),
    st.text(alphabet=ALPHABET, max_size=120).map(lambda s: s.encode("latin-1")),
    st.sampled_from(
        [
            b"imei=869677023945285",
            b"mac=A45E60C2119F",
            b"a4:5e:60:c2:11:9f",
            b"13800138000 alice@example.com",
            b"39.908722,116.397499",
            b"\x00\xff.*",
        ]
    ),
)


def confirmed(scanner: MultiPatternScanner, value: bytes) -> set[int]:
    hits = scanner.scan(value)
    out = set()
    for index in hits:
        entry = ENTRIES[index]
        if entry.literal or re.search(
            entry.expression, value, re.IGNORECASE if entry.caseless else 0
        ):
            out.add(index)
    return out


@needs_hs
@settings(max_examples=300, deadline=None)
@given(inputs)
def test_backends_agree(value: bytes) -> None:
    assert HYPERSCAN is not None
    fallback_hits = FALLBACK.scan(value)
    hs_hits = HYPERSCAN.scan(value)
    # Prefilter mode may over-report regexes but never miss one.
    assert fallback_hits <= hs_hits
    literal_ids = {i for i, e in enumerate(ENTRIES) if e.literal}
    assert fallback_hits & literal_ids == hs_hits & literal_ids
    assert confirmed(HYPERSCAN, value) == fallback_hits


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_fallback_is_exact(value: bytes) -> None:
    assert FALLBACK.scan(value) == confirmed(FALLBACK, value)


@pytest.mark.parametrize("backend", ["fallback", pytest.param("hyperscan", marks=needs_hs)])
def test_literals_and_case(backend: str) -> None:
    scanner = MultiPatternScanner(
        [
            ScanEntry(b"deadbeef", literal=True, caseless=True),
            ScanEntry(b"Secret", literal=True),
            ScanEntry(b"a.b", literal=True),
        ],
        backend=backend,  # type: ignore[arg-type]
    )
    assert scanner.backend == backend
    assert scanner.scan(b"x DEADBEEF y") == {0}
    assert scanner.scan(b"Secret secret") == {1}
    assert scanner.scan(b"secret") == set()
    # A literal dot is not a wildcard.
    assert scanner.scan(b"axb") == set()
    assert scanner.scan(b"a.b") == {2}
    assert scanner.scan(b"") == set()


@pytest.mark.parametrize("backend", ["fallback", pytest.param("hyperscan", marks=needs_hs)])
def test_no_entries(backend: str) -> None:
    scanner = MultiPatternScanner([], backend=backend)  # type: ignore[arg-type]
    assert scanner.scan(b"anything") == set()


def test_fallback_rejects_bad_regex() -> None:
    with pytest.raises(ScannerError) as info:
        MultiPatternScanner([ScanEntry(b"ok"), ScanEntry(b"[unclosed")], backend="fallback")
    assert info.value.index == 1


@needs_hs
def test_hyperscan_names_the_failing_entry() -> None:
    with pytest.raises(ScannerError) as info:
        MultiPatternScanner([ScanEntry(b"ok"), ScanEntry(rb"x\Zy")], backend="hyperscan")
    assert info.value.index == 1
    assert hyperscan_error(rb"x\Zy") is not None
    assert hyperscan_error(rb"[0-9]{15}") is None


# Entries to draw lists with repeats from: regexes, literals, and a literal and a
# regex spelt alike (the same bytes, different entries).
POOL = [
    ScanEntry(rb"(?<![0-9])[0-9]{15}(?![0-9])"),
    ScanEntry(rb"[0-9a-f]{4}-[0-9a-f]{4}"),
    ScanEntry(b"ab12", literal=True),
    ScanEntry(b"AB12", literal=True, caseless=True),
    ScanEntry(b"ab12"),
]


@pytest.mark.parametrize("backend", ["fallback", pytest.param("hyperscan", marks=needs_hs)])
@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=8),
    value=st.lists(
        st.sampled_from([b"869677023945285", b"12ab-cd34", b"ab12", b"Ab12", b"x", b" ", b"7"]),
        max_size=6,
    ).map(b"".join),
)
def test_an_entry_given_several_times_is_reported_under_each_index(
    backend: str, picks: list[int], value: bytes
) -> None:
    entries = [POOL[i] for i in picks]
    scanner = MultiPatternScanner(entries, backend=backend)  # type: ignore[arg-type]
    alone = {i: MultiPatternScanner([POOL[i]], backend=backend).scan(value) for i in set(picks)}  # type: ignore[arg-type]
    assert scanner.scan(value) == {n for n, i in enumerate(picks) if alone[i]}


@given(st.binary(min_size=1, max_size=40))
def test_literal_escaping_matches_only_itself(literal: bytes) -> None:
    pattern = re.compile(literal_to_regex(literal))
    assert pattern.fullmatch(literal)
    assert pattern.pattern.isascii()
