"""Device and declaration files validated once, then read back from the cache.

A lab analyzes thousands of captures with the same ``device.yaml`` and a few
``app.yaml`` files. Parsing and validating one took 25 ms, and importing YAML
and pydantic for it 50 ms more: a quarter of the start-up of ``leaktrace
analyze``. What a file validated to (plain records, ``leaktrace.plain``) is
kept in the per-user cache (``leaktrace.cache``) under a digest of the file's
bytes and of the code that reads and validates it; a file that fails is never
stored, so its errors are reported in full on every run.

A lab's corpus holds one ``app.yaml`` per app, so far more files are kept than
of the other kinds (``KEEP_FILES``, a few hundred bytes each): with the
default of 8, a loop of ``leaktrace analyze`` over captures of more than 8
apps validated every one of them again on every run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from leaktrace import cache

T = TypeVar("T")

_FORMAT = "1"
KEEP_FILES = 4096
"""Validated files kept per kind, the least recently used dropped first."""
_HERE = Path(__file__).resolve().parent
# The code a validated result depends on, besides each kind's own two modules.
_SHARED_SOURCES = ("configcache.py", "plain.py", "signatures/loader.py")


def load_validated(kind: str, path: Path, validate: Callable[[Path], T], expected: type[T]) -> T:
    """``validate(path)``, or what it returned for a file with the same bytes before.

    ``kind`` names the file type (``declaration``, ``device``); its modules are
    ``leaktrace/<module>.py`` and ``<module>_schema.py`` (see ``_MODULES``).
    """
    try:
        data = path.read_bytes()
    except OSError:
        return validate(path)  # which reports the error as it always has
    key = _key(kind, data)
    if key is not None:
        found = cache.load_object(kind, key, expected)
        if found is not None:
            return found
    result = validate(path)  # raises for a file that does not validate: nothing stored
    if key is not None and _unchanged(path, data):
        cache.store_object(kind, key, result, keep=KEEP_FILES)
    return result


_MODULES = {"declaration": "declaration", "device": "profile"}


def _key(kind: str, data: bytes) -> str | None:
    from leaktrace import __version__

    module = _MODULES[kind]
    sources = (f"{module}.py", f"{module}_schema.py", *_SHARED_SOURCES)
    parts: list[bytes | str] = [kind, _FORMAT, __version__, sys.version]
    try:
        for name in sources:
            parts.append(cache.file_digest(_HERE / name))
    except OSError:
        return None
    parts.append(data)
    return cache.make_key(*parts)


def _unchanged(path: Path, data: bytes) -> bool:
    """The file still holds the bytes the key was made of (not edited while validated)."""
    try:
        return path.read_bytes() == data
    except OSError:
        return False
