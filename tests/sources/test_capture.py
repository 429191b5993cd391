"""CaptureSource: the shortcuts for download and foreign frames change nothing but speed.

Three ways through every committed capture give the same items, coverage and
frame count: the native record walk (``native_skim``), the Python shortcut for
download segments (``_response_segment``), and the full decode of every frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import leaktrace.sources.capture as capture
from leaktrace.sources.capture import CaptureSource

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted(
    [ROOT / "captures" / "demo.pcap", *(ROOT / "tests" / "data").glob("*.pcap*")],
    key=lambda p: p.name,
)
NATIVE = pytest.mark.skipif(capture.native_skim is None, reason="built without the C module")


def _run(path: Path, partition: tuple[int, int] | None = None) -> tuple[object, ...]:
    source = CaptureSource(path, partition=partition)
    items = list(source)
    return items, source.coverage, source.frames


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the frames a shortcut takes, leaving it in place."""
    real = getattr(capture, name)
    taken: list[int] = []

    def counting(*args: object) -> object:
        result = real(*args)
        if name == "native_skim":
            taken.append(result[1] - args[2])  # type: ignore[index, operator]
        elif result is not None:
            taken.append(1)
        return result

    monkeypatch.setattr(capture, name, counting)
    return taken


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_download_shortcut_gives_the_same_messages(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture, "native_skim", None)
    taken = _counting(monkeypatch, "_response_segment")
    fast = _run(path)
    monkeypatch.setattr(capture, "_response_segment", lambda *args: None)
    slow = _run(path)
    assert fast == slow
    if path.name == "demo.pcap":
        assert taken, "the demo capture has server-to-client segments to take the shortcut"


@NATIVE
@pytest.mark.parametrize("partition", [None, (0, 2), (1, 2)], ids=["whole", "0of2", "1of2"])
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_native_skim_gives_the_same_messages(
    path: Path, partition: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _counting(monkeypatch, "native_skim")
    native = _run(path, partition)
    monkeypatch.setattr(capture, "native_skim", None)
    python = _run(path, partition)
    assert native == python
    if path.name == "demo.pcap":
        assert sum(taken) > 0, "the demo capture has frames for the native walk to take"
