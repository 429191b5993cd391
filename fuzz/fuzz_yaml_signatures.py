"""Signature YAML: any file loads or fails with SignatureError naming it."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from pathlib import Path

from _harness import Slicer, fuzz_main, instrumented

with instrumented():
    from leaktrace.signatures.loader import SignatureError, load_signatures

_ROOT = Path(tempfile.mkdtemp(prefix="leaktrace-fuzz-sig-"))
atexit.register(shutil.rmtree, _ROOT, True)
(_ROOT / "identifiers").mkdir()
(_ROOT / "sdks").mkdir()
_IDENT = _ROOT / "identifiers" / "fuzzid.yaml"
_SDK = _ROOT / "sdks" / "fuzzsdk.yaml"


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    target, other = (_IDENT, _SDK) if s.flag() else (_SDK, _IDENT)
    other.unlink(missing_ok=True)
    target.write_bytes(s.rest())
    with contextlib.suppress(SignatureError):
        load_signatures([_ROOT])


if __name__ == "__main__":
    fuzz_main(test_one_input)
