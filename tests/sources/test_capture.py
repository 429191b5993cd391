"""CaptureSource: the raw-byte shortcut for download segments changes nothing but speed."""

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


def _run(path: Path) -> tuple[list[object], object, int]:
    source = CaptureSource(path)
    items = list(source)
    return items, source.coverage, source.frames


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_download_shortcut_gives_the_same_messages(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    real = capture._response_segment

    def counting(*args: object) -> object:
        result = real(*args)  # type: ignore[arg-type]
        if result is not None:
            taken.append(1)
        return result

    monkeypatch.setattr(capture, "_response_segment", counting)
    fast = _run(path)
    monkeypatch.setattr(capture, "_response_segment", lambda *args: None)
    slow = _run(path)
    assert fast == slow
    if path.name == "demo.pcap":
        assert taken, "the demo capture has server-to-client segments to take the shortcut"
