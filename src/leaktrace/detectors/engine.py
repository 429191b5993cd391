"""One multi-pattern pass per field value, so detector cost does not grow with rule count.

Every identifier regex and every device-value literal goes into a single
hyperscan database; a field is scanned once and only the rules that fired are
confirmed in Python. Regexes are compiled in prefilter mode (hyperscan may
report a superset, never a subset), so ``scan`` returns *candidate* ids for
regex entries and exact ids for literals; callers confirm regex hits with
``re``. Without hyperscan the fallback gives the same confirmed results:
an Aho-Corasick automaton for literals and a ``re.search`` per regex.
"""

from __future__ import annotations

import importlib
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from leaktrace import cache

Backend = Literal["auto", "hyperscan", "fallback"]


def _optional(module: str) -> Any:
    """The module if importable: hyperscan has no wheels for some platforms."""
    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - depends on the platform
        return None


_hs: Any = _optional("hyperscan")
_ac: Any = _optional("ahocorasick")


@dataclass(frozen=True, slots=True)
class ScanEntry:
    """One thing to look for: a Python-syntax bytes regex, or a literal byte string."""

    expression: bytes
    literal: bool = False
    caseless: bool = False


class ScannerError(ValueError):
    """An entry could not be compiled; ``index`` says which one."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(f"entry {index}: {message}")


class _Backend(Protocol):
    def scan(self, value: bytes) -> set[int]: ...


def hyperscan_available() -> bool:
    return _hs is not None


def hyperscan_version() -> str | None:
    """The hyperscan binding's version (None without it): compiled state depends on it."""
    return None if _hs is None else str(getattr(_hs, "__version__", "unknown"))


def literal_to_regex(literal: bytes) -> bytes:
    """Escape every byte that is not a letter or digit, so any literal is a valid pattern."""
    return b"".join(
        bytes([b]) if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) else b"\\x%02x" % b
        for b in literal
    )


def _hs_flags(entry: ScanEntry) -> int:
    assert _hs is not None
    flags = int(_hs.HS_FLAG_SINGLEMATCH)
    if not entry.literal:
        flags |= int(_hs.HS_FLAG_PREFILTER)
    if entry.caseless:
        flags |= int(_hs.HS_FLAG_CASELESS)
    return flags


def _hs_expression(entry: ScanEntry) -> bytes:
    return literal_to_regex(entry.expression) if entry.literal else entry.expression


def hyperscan_error(regex: bytes, *, caseless: bool = False) -> str | None:
    """Why hyperscan rejects ``regex`` as a prefilter, or None (also when hyperscan is absent)."""
    if _hs is None:
        return None
    entry = ScanEntry(regex, literal=False, caseless=caseless)
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[_hs_expression(entry)], ids=[0], flags=[_hs_flags(entry)])
    except _hs.error as exc:
        return str(exc)
    return None


class _HyperscanBackend:
    """``entries[i]`` is reported as ``ids[i]``."""

    def __init__(self, entries: Sequence[ScanEntry], ids: Sequence[int]) -> None:
        assert _hs is not None
        self._db: Any = None
        if not entries:
            return
        expressions = [_hs_expression(e) for e in entries]
        try:
            db = _database(expressions, [_hs_flags(e) for e in entries], list(ids))
        except _hs.error as exc:
            raise _culprit(entries, ids, str(exc)) from exc
        self._db = db
        self._scratch = _hs.Scratch(db)

    def scan(self, value: bytes) -> set[int]:
        if self._db is None or not value:
            return set()
        hits: set[int] = set()

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
            hits.add(ident)

        self._db.scan(value, match_event_handler=on_match, scratch=self._scratch)
        return hits


_DB_CACHE_KIND = "hyperscan-db"


def _database(expressions: list[bytes], flags: list[int], ids: list[int]) -> Any:
    """The compiled database, from the per-user cache when an earlier run built the same one.

    Compiling the prefilter regexes is most of a run's start-up; loading the
    serialized database takes well under a millisecond. The key covers every
    expression and flag, the hyperscan version and the machine, so any
    change compiles afresh.
    """
    assert _hs is not None
    key = cache.make_key(
        _DB_CACHE_KIND,
        hyperscan_version() or "",
        sys.platform,
        platform.machine(),
        str(len(expressions)),
        *(
            part
            for expression, flag, ident in zip(expressions, flags, ids, strict=True)
            for part in (expression, str(flag), str(ident))
        ),
    )
    blob = cache.load(_DB_CACHE_KIND, key)
    if blob is not None:
        db = _deserialized(blob)
        if db is not None:
            return db
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    db.compile(expressions=expressions, ids=ids, flags=flags)
    try:
        serialized = _hs.dumpb(db)
    except _hs.error:
        return db
    cache.store(_DB_CACHE_KIND, key, serialized)
    return db


def _deserialized(blob: bytes) -> Any:
    """A cached database that loads and scans on this machine, or None.

    The probe scan catches a database built for CPU features this machine
    lacks (a cache directory shared between hosts). Any failure at all is a
    cache miss: the caller compiles instead.
    """
    assert _hs is not None
    try:
        db = _hs.loadb(blob, mode=_hs.HS_MODE_BLOCK)
        db.scan(b"\x00", match_event_handler=_ignore_match, scratch=_hs.Scratch(db))
    except Exception:  # whatever a bad entry does, the answer is "compile"
        return None
    return db


def _ignore_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
    return None


def _culprit(entries: Sequence[ScanEntry], ids: Sequence[int], message: str) -> ScannerError:
    for index, entry in zip(ids, entries, strict=True):
        if not entry.literal:
            error = hyperscan_error(entry.expression, caseless=entry.caseless)
            if error is not None:
                return ScannerError(index, error)
    return ScannerError(-1, message)


class _FallbackBackend:
    """Pure-Python equivalent: exact for regexes, exact for literals.
    ``entries[i]`` is reported as ``ids[i]``."""

    def __init__(self, entries: Sequence[ScanEntry], ids: Sequence[int]) -> None:
        self._regexes: list[tuple[int, re.Pattern[bytes]]] = []
        sensitive: dict[bytes, list[int]] = {}
        folded: dict[bytes, list[int]] = {}
        for index, entry in zip(ids, entries, strict=True):
            if entry.literal:
                if not entry.expression:
                    raise ScannerError(index, "empty literal")
                # bytes.lower() folds ASCII only, like hyperscan without UCP.
                table = folded if entry.caseless else sensitive
                key = entry.expression.lower() if entry.caseless else entry.expression
                table.setdefault(key, []).append(index)
            else:
                try:
                    compiled = re.compile(entry.expression, re.IGNORECASE if entry.caseless else 0)
                except re.error as exc:
                    raise ScannerError(index, str(exc)) from exc
                self._regexes.append((index, compiled))
        self._sensitive = _LiteralSet(sensitive)
        self._folded = _LiteralSet(folded)

    def scan(self, value: bytes) -> set[int]:
        hits = {index for index, rx in self._regexes if rx.search(value)}
        hits |= self._sensitive.find(value)
        if self._folded:
            hits |= self._folded.find(value.lower())
        return hits


class _LiteralSet:
    """Which literals occur in a haystack: Aho-Corasick when available, else ``in``."""

    def __init__(self, table: dict[bytes, list[int]]) -> None:
        self._table = table
        self._automaton: Any = None
        if table and _ac is not None:
            automaton = _ac.Automaton()
            for literal, ids in table.items():
                # latin-1 maps bytes to code points one-to-one.
                automaton.add_word(literal.decode("latin-1"), tuple(ids))
            automaton.make_automaton()
            self._automaton = automaton

    def __bool__(self) -> bool:
        return bool(self._table)

    def find(self, haystack: bytes) -> set[int]:
        if not self._table:
            return set()
        hits: set[int] = set()
        if self._automaton is not None:
            for _end, ids in self._automaton.iter(haystack.decode("latin-1")):
                hits.update(ids)
            return hits
        for literal, ids in self._table.items():
            if literal in haystack:
                hits.update(ids)
        return hits


class MultiPatternScanner:
    """All regexes and literals of one run, compiled once; ``scan`` is the hot path.

    An entry given more than once (identifier types that share a shape, such
    as IMEI and MEID digits, or the hex ids of several types) is compiled
    once and reported under each of its indexes: every copy in a hyperscan
    database is one more engine to run over every value, and the bundled
    signatures repeat four of their expressions.
    """

    def __init__(self, entries: Sequence[ScanEntry], *, backend: Backend = "auto") -> None:
        self.entries: tuple[ScanEntry, ...] = tuple(entries)
        use_hs = backend == "hyperscan" or (backend == "auto" and _hs is not None)
        if use_hs and _hs is None:
            raise RuntimeError("hyperscan backend requested but hyperscan is not importable")
        groups: dict[ScanEntry, list[int]] = {}
        for index, entry in enumerate(self.entries):
            groups.setdefault(entry, []).append(index)
        distinct = list(groups)
        ids = [indexes[0] for indexes in groups.values()]
        # The first index of each repeated entry, and the others it stands for.
        self._copies = {found[0]: found[1:] for found in groups.values() if len(found) > 1}
        self._repeated = frozenset(self._copies)
        self._impl: _Backend = (
            _HyperscanBackend(distinct, ids) if use_hs else _FallbackBackend(distinct, ids)
        )
        self.backend: str = "hyperscan" if use_hs else "fallback"

    def scan(self, value: bytes) -> set[int]:
        """Indexes into ``entries`` that (may) occur in ``value``."""
        hits = self._impl.scan(value)
        if self._repeated and not self._repeated.isdisjoint(hits):
            for first in self._repeated & hits:
                hits.update(self._copies[first])
        return hits
