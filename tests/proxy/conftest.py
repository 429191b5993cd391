from __future__ import annotations

import pytest

from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import load_device

from .lab import DEVICE


@pytest.fixture(scope="session")
def device_config() -> PipelineConfig:
    """Compiling signatures takes a second: one config for every offline test here."""
    return PipelineConfig.load(device=load_device(DEVICE))
