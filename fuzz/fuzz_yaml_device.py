"""device.yaml: any file loads or fails with DeviceProfileError."""

from __future__ import annotations

import contextlib
from pathlib import Path

from _harness import MemFile, fuzz_main, instrumented

with instrumented():
    from leaktrace.profile import DeviceProfileError, load_device

_FILE = MemFile("device")


def test_one_input(data: bytes) -> None:
    path = Path(_FILE.write(data))
    with contextlib.suppress(DeviceProfileError):
        load_device(path)


if __name__ == "__main__":
    fuzz_main(test_one_input)
