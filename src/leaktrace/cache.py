"""A per-user cache for state that is slow to build and the same from run to run.

Validating the signature files and compiling the Hyperscan database take
longer than reading a small capture, and their inputs rarely change, so both
are kept here between runs, keyed by a digest of everything they were built
from. The cache is an accelerator only: a missing, unreadable, corrupt or
foreign entry is a miss, the caller rebuilds, and no cache problem ever stops
or changes a run.

Entries are only read from a directory owned by the user and not writable by
group or others, and only files owned by the user: one entry is a pickle, and
unpickling a file someone else could have written would run their code.

``LEAKTRACE_CACHE_DIR`` names the directory (default
``$XDG_CACHE_HOME/leaktrace``, else ``~/.cache/leaktrace``); ``off`` turns the
cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
import stat
import tempfile
import time
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "LEAKTRACE_CACHE_DIR"
DISABLED = "off"

MAX_ENTRY_BYTES = 256 << 20
"""An entry larger than this is not written, and not read (a miss)."""

KEEP_PER_KIND = 8
"""Entries kept per kind by default: each signature change adds one, the oldest go."""

STALE_TEMP_SECONDS = 3600
"""A temporary file this old was left by a writer that died; it is removed."""

_MAGIC = b"LTCACHE1"
_DIGEST_SIZE = 32
_HEADER_SIZE = len(_MAGIC) + _DIGEST_SIZE
_UNSAFE_MODE_BITS = stat.S_IWGRP | stat.S_IWOTH


def cache_dir() -> Path | None:
    """Where entries live, or None when the cache is turned off."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured.lower() == DISABLED:
        return None
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "leaktrace"
    try:
        return Path.home() / ".cache" / "leaktrace"
    except RuntimeError:  # no home directory to be found
        return None


def make_key(*parts: bytes | str) -> str:
    """A hex digest of ``parts``; each is length-prefixed so no two lists collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def file_digest(path: Path) -> bytes:
    """A file's SHA-256: for a key part that must follow its bytes (the code that built
    an entry, a file changed too recently for its status to tell)."""
    return hashlib.sha256(path.read_bytes()).digest()


RACY_NS = 2_000_000_000
"""A file changed this recently is hashed as well as stamped (see ``file_stamp``)."""


def file_stamp(path: Path, now_ns: int | None = None) -> list[bytes | str]:
    """Key parts for a file an entry was built from, by its status rather than its bytes.

    A file counts by its size, mtime and the ctime no tool can set back, with inode
    and device, as git's index and Python's bytecode cache judge files. One changed
    so recently that another write in the same timestamp tick could follow unseen
    (timestamps advance in ticks of a few ms) is hashed as well, as git re-reads its
    "racily clean" entries. Raises ``OSError`` when the file cannot be read.
    """
    info = path.stat()
    parts: list[bytes | str] = [str(info.st_size), str(info.st_mtime_ns), str(info.st_ctime_ns)]
    parts += [str(info.st_ino), str(info.st_dev)]
    now = time.time_ns() if now_ns is None else now_ns
    if now - max(info.st_mtime_ns, info.st_ctime_ns) < RACY_NS:
        parts.append(file_digest(path))
    return parts


def load(kind: str, key: str) -> bytes | None:
    """The payload stored under ``kind``/``key``, or None for any kind of miss."""
    folder = cache_dir()
    if folder is None or not _safe_dir(folder):
        return None
    path = folder / _entry_name(kind, key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or not _owned_and_private(info)
            or not _HEADER_SIZE <= info.st_size <= MAX_ENTRY_BYTES + _HEADER_SIZE
        ):
            return None
        # Read the size fstat gave, not the bound: read(n) allocates n bytes up front.
        with os.fdopen(fd, "rb", closefd=False) as stream:
            blob = stream.read(info.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    payload = _unwrap(blob)
    if payload is not None:
        _touch(path)
    return payload


def store(kind: str, key: str, payload: bytes, *, keep: int = KEEP_PER_KIND) -> bool:
    """Write an entry atomically; False (and nothing left behind) when it cannot be.

    Past ``keep`` entries of ``kind`` the least recently used ones are removed.
    """
    folder = cache_dir()
    if folder is None or len(payload) > MAX_ENTRY_BYTES:
        return False
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    if not _safe_dir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        return False
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{kind}-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as stream:
            stream.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(temp, folder / _entry_name(kind, key))
        temp = None
    except OSError:
        return False
    finally:
        if temp is not None:
            _unlink(Path(temp))
    _prune(folder, kind, keep)
    return True


def load_object(kind: str, key: str, expected: type[T]) -> T | None:
    """The object pickled under ``kind``/``key``, if it is an ``expected``; None otherwise.

    Unpickling is safe only because ``load`` hands out files from the user's own,
    private directory; an entry that does not unpickle cleanly is a miss.
    """
    payload = load(kind, key)
    if payload is None:
        return None
    try:
        found = pickle.loads(payload)
    except Exception:  # a bad entry is a miss, whatever it raises
        return None
    return found if isinstance(found, expected) else None


def store_object(kind: str, key: str, value: object, *, keep: int = KEEP_PER_KIND) -> bool:
    """Pickle ``value`` into an entry; False when it cannot be pickled or written."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return False
    return store(kind, key, payload, keep=keep)


def _entry_name(kind: str, key: str) -> str:
    return f"{kind}-{key}.bin"


def _unwrap(blob: bytes) -> bytes | None:
    """The payload if the header and its checksum hold: a torn or altered file is a miss."""
    if len(blob) < _HEADER_SIZE or not blob.startswith(_MAGIC):
        return None
    payload = blob[_HEADER_SIZE:]
    if len(payload) > MAX_ENTRY_BYTES:
        return None
    if hashlib.sha256(payload).digest() != blob[len(_MAGIC) : _HEADER_SIZE]:
        return None
    return payload


def _owned_and_private(info: os.stat_result) -> bool:
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # no ownership to check against: do not trust the directory
        return False
    return bool(info.st_uid == geteuid() and not info.st_mode & _UNSAFE_MODE_BITS)


def _safe_dir(folder: Path) -> bool:
    """The directory exists, is the user's own, and nobody else can write into it."""
    try:
        info = os.stat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and _owned_and_private(info)


def _touch(path: Path) -> None:
    """Mark an entry as used, so pruning drops the least recently used ones."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _prune(folder: Path, kind: str, keep: int) -> None:
    """Keep the ``keep`` most recently used entries of ``kind``; drop abandoned temp files.

    Entries are only stat'ed when there are more than ``keep`` of them, so a kind
    that keeps thousands of small entries costs a directory listing per store.
    A file another process removes meanwhile is passed over.
    """
    entry_prefix, temp_prefix = f"{kind}-", f".{kind}-"
    entries: list[str] = []
    temps: list[str] = []
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                if item.name.startswith(entry_prefix) and item.name.endswith(".bin"):
                    entries.append(item.path)
                elif item.name.startswith(temp_prefix) and item.name.endswith(".tmp"):
                    temps.append(item.path)
    except OSError:
        return
    if len(entries) > keep:
        dated = sorted(((_mtime(path), path) for path in entries), reverse=True)
        for _when, path in dated[keep:]:
            _unlink(Path(path))
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in temps:
        if _mtime(path) < cutoff:
            _unlink(Path(path))


def _mtime(path: str) -> float:
    """When the file was last written or used; +inf for one that is gone (never removed)."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return math.inf
