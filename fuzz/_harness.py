"""What every fuzz target shares: instrumentation on demand, input slicing, a file in memory.

Targets run two ways. Under ``bench/fuzz.sh`` (``LEAKTRACE_FUZZ=1``) atheris
instruments the imported project code and drives ``test_one_input`` with
coverage feedback. Under pytest the same function is called on the committed
seed corpus and on random inputs, without atheris, so every crash ever found
stays a regression test even on machines without a fuzzer.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

FUZZING = os.environ.get("LEAKTRACE_FUZZ") == "1"
if FUZZING:
    # A fuzzer must reach validation with every input, and not leave an entry in the
    # user's start-up cache for each file that validates (signatures, device, app).
    os.environ.setdefault("LEAKTRACE_CACHE_DIR", "off")

TestOneInput = Callable[[bytes], None]


def instrumented() -> contextlib.AbstractContextManager[Any]:
    """Coverage instrumentation for imports inside the block, only when fuzzing."""
    if not FUZZING:
        return contextlib.nullcontext()
    import atheris  # type: ignore[import-untyped]

    return atheris.instrument_imports()  # type: ignore[no-any-return]


def fuzz_main(test_one_input: TestOneInput) -> None:
    """Hand the target to libFuzzer; argv carries its options and corpus directories."""
    import atheris

    sys.setrecursionlimit(10_000)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


class Slicer:
    """Cuts one fuzz input into the numbers and byte strings a target needs.

    Deterministic and total: once the input runs out, numbers are 0 and byte
    strings empty, so every input maps to exactly one scenario (what
    libFuzzer's minimiser needs) without the atheris data provider.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def uint(self, nbytes: int) -> int:
        chunk = self.data[self.pos : self.pos + nbytes]
        self.pos += len(chunk)
        return int.from_bytes(chunk, "big")

    def below(self, bound: int) -> int:
        """An integer in ``[0, bound)``."""
        return self.uint(2 if bound > 256 else 1) % bound if bound > 0 else 0

    def flag(self) -> bool:
        return bool(self.uint(1) & 1)

    def pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        return options[self.below(len(options))]

    def take(self, nbytes: int) -> bytes:
        chunk = self.data[self.pos : self.pos + nbytes]
        self.pos += len(chunk)
        return chunk

    def sized(self, max_len: int = 4096) -> bytes:
        """A byte string whose length comes from the input (two length bytes)."""
        return self.take(self.uint(2) % (max_len + 1))

    def rest(self) -> bytes:
        return self.take(self.remaining)

    def pieces(self, max_pieces: int = 16) -> Iterator[bytes]:
        """The rest of the input in chunks whose sizes come from the input itself."""
        for _ in range(max_pieces - 1):
            if not self.remaining:
                return
            yield self.take(1 + self.uint(1) * 8)
        if self.remaining:
            yield self.rest()


class MemFile:
    """A file that lives in memory, with a path, for readers that insist on opening paths."""

    def __init__(self, name: str = "fuzz") -> None:
        self.fd = os.memfd_create(name)
        self.path = f"/proc/self/fd/{self.fd}"

    def write(self, data: bytes) -> str:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        return self.path


def check(condition: bool, message: str) -> None:
    """An invariant of the code under test; a violation is a finding like any crash."""
    if not condition:
        raise AssertionError(message)
