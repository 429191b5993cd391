"""app.yaml: any file loads or fails with DeclarationError."""

from __future__ import annotations

import contextlib
from pathlib import Path

from _harness import MemFile, fuzz_main, instrumented

with instrumented():
    from leaktrace.declaration import DeclarationError, load_declaration

_FILE = MemFile("declaration")


def test_one_input(data: bytes) -> None:
    path = Path(_FILE.write(data))
    with contextlib.suppress(DeclarationError):
        load_declaration(path)


if __name__ == "__main__":
    fuzz_main(test_one_input)
