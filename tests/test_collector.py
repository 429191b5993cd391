"""The cycle collector's threshold while a capture is analyzed."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaktrace.analyze import analyze_capture
from leaktrace.collector import YOUNG_THRESHOLD, fewer_collections
from leaktrace.pipeline import PipelineConfig

DEMO = Path(__file__).resolve().parent.parent / "captures" / "demo.pcap"


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    old, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield
    gc.set_threshold(*old)
    (gc.enable if enabled else gc.disable)()


def test_raised_in_the_block_and_put_back_after_it_even_on_error() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("analysis failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_setting_a_disabled_collector_and_a_change_inside_are_left_alone() -> None:
    gc.set_threshold(100_000, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 100_000
    gc.set_threshold(700, 10, 10)
    gc.disable()
    with fewer_collections():
        assert gc.get_threshold()[0] == 700
    gc.enable()
    with fewer_collections():
        gc.set_threshold(5000, 10, 10)  # the caller's own change, made meanwhile
    assert gc.get_threshold()[0] == 5000


def test_an_analysis_runs_with_the_raised_threshold() -> None:
    seen: list[int] = []
    result = analyze_capture(
        DEMO, PipelineConfig.load(), on_finding=lambda f: seen.append(gc.get_threshold()[0])
    )
    assert result.findings and set(seen) == {YOUNG_THRESHOLD}
    assert gc.get_threshold() == (700, 10, 10)
