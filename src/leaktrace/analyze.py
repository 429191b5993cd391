"""Offline analysis of a capture file: the library call behind ``leaktrace analyze``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.sources.capture import CaptureSource, ProgressCallback
from leaktrace.summary import Summary
from leaktrace.types import Coverage, Diagnostic, Finding


@dataclass(slots=True)
class AnalysisResult:
    capture: str
    capture_bytes: int
    frames: int
    findings: list[Finding]
    summary: Summary
    coverage: Coverage
    diagnostics: list[Diagnostic] = field(default_factory=list)
    damage: Diagnostic | None = None  # set when the capture could not be read to its end

    @property
    def complete(self) -> bool:
        return self.damage is None


@dataclass(frozen=True, slots=True)
class Sidecars:
    """The device and declaration files a lab keeps beside each capture."""

    device: Path | None
    app: Path | None


DEVICE_SIDECAR = "device.yaml"
APP_SIDECAR = "app.yaml"


def find_sidecars(capture: str | os.PathLike[str]) -> Sidecars:
    """``device.yaml`` and ``app.yaml`` in the capture's directory, where present."""
    folder = Path(capture).parent
    device, app = folder / DEVICE_SIDECAR, folder / APP_SIDECAR
    return Sidecars(device if device.is_file() else None, app if app.is_file() else None)


FindingCallback = Callable[[Finding], None]
MAX_KEPT_DIAGNOSTICS = 1000  # the rest are only counted, in summary.diagnostics


def analyze_capture(
    path: str | os.PathLike[str],
    config: PipelineConfig,
    *,
    on_finding: FindingCallback | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Run the whole pipeline over one capture.

    ``on_finding`` sees each finding as soon as it is made, so a sink can write
    it before the analysis ends (nothing is lost if the run is cut short).
    Raises ``CaptureError`` when the file cannot be read at all.
    """
    source = CaptureSource(path, progress=progress)
    pipeline = Pipeline(config)
    findings: list[Finding] = []
    diagnostics: list[Diagnostic] = list(pipeline.setup_diagnostics)
    for item in pipeline.run(source):
        if isinstance(item, Finding):
            findings.append(item)
            if on_finding is not None:
                on_finding(item)
        elif len(diagnostics) < MAX_KEPT_DIAGNOSTICS:
            diagnostics.append(item)
    return AnalysisResult(
        capture=str(path),
        capture_bytes=source.size,
        frames=source.frames,
        findings=findings,
        summary=pipeline.summary,
        coverage=source.coverage,
        diagnostics=diagnostics,
        damage=source.damage,
    )
