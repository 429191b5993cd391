"""Offline analysis of a capture file: the library call behind ``leaktrace analyze``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from leaktrace.collector import fewer_collections
from leaktrace.cores import MIN_PARALLEL_BYTES
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.sources.capture import CaptureSource, ProgressCallback
from leaktrace.summary import Summary
from leaktrace.tls.keylog import KeyLog
from leaktrace.types import Coverage, Diagnostic, Finding, Message

Engine = Literal["native", "tshark"]


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
    # Damaged byte ranges that were read past (capture_skipped, with offsets).
    skipped: list[Diagnostic] = field(default_factory=list)

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


class MessageSource(Protocol):
    """What ``analyze_capture`` needs of an input: messages, then its size and coverage."""

    @property
    def size(self) -> int: ...

    frames: int
    coverage: Coverage
    damage: Diagnostic | None

    def __iter__(self) -> Iterator[Message | Diagnostic]: ...


def open_source(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    keylog: KeyLog | None = None,
) -> MessageSource:
    """The reader for a recording: HAR and mitmproxy flow files by suffix or first bytes,
    pcap/pcapng otherwise. Raises ``CaptureError`` when the file cannot be read at all."""
    from leaktrace.sources import har, mitmfile

    suffix = Path(path).suffix.lower()
    head = b""
    if suffix not in (".pcap", ".pcapng", ".cap"):
        try:
            with open(path, "rb") as stream:
                head = stream.read(16)
        except OSError:
            head = b""  # the capture reader reports the error
    if suffix == ".har" or head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return har.HarSource(path)
    if suffix in mitmfile.SUFFIXES or mitmfile.looks_like_flows(head):
        return mitmfile.MitmSource(path)
    return CaptureSource(path, progress=progress, keylog=keylog)


FindingCallback = Callable[[Finding], None]


class LineSink(Protocol):
    """A sink that writes each finding as one line of text (JSONL, say).

    ``render`` must depend on the finding alone: with ``jobs`` > 1 it runs in
    the worker that made the finding, so the lines are formatted on every core
    and the calling process only writes them, in time order, with
    ``write_line``.
    """

    def render(self, finding: Finding) -> str: ...

    def write_line(self, line: str) -> None: ...


MAX_KEPT_DIAGNOSTICS = 1000  # the rest are only counted, in summary.diagnostics


def collect(
    pipeline: Pipeline,
    source: MessageSource,
    on_finding: FindingCallback | None = None,
    diagnostics: list[Diagnostic] | None = None,
    *,
    keep: bool = True,
) -> tuple[list[Finding], list[Diagnostic]]:
    """Run a source through the pipeline: every finding (unless ``keep`` is false, when
    they only reach ``on_finding``), and the first diagnostics (appended to
    ``diagnostics`` up to the cap)."""
    findings: list[Finding] = []
    diagnostics = [] if diagnostics is None else diagnostics
    for item in pipeline.run(source):
        if isinstance(item, Finding):
            if keep:
                findings.append(item)
            if on_finding is not None:
                on_finding(item)
        elif len(diagnostics) < MAX_KEPT_DIAGNOSTICS:
            diagnostics.append(item)
    return findings, diagnostics


def analyze_capture(
    path: str | os.PathLike[str],
    config: PipelineConfig,
    *,
    on_finding: FindingCallback | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    keylog: KeyLog | None = None,
    engine: Engine = "native",
    keep_findings: bool = True,
    lines: LineSink | None = None,
) -> AnalysisResult:
    """Run the whole pipeline over one capture (pcap, pcapng, HAR or mitmproxy flows).

    ``on_finding`` sees each finding as soon as it is made, so a sink can write
    it before the analysis ends (nothing is lost if the run is cut short).
    With ``jobs`` > 1 a pcap/pcapng big enough to gain is split by flow over
    that many processes (``leaktrace.parallel``); its findings then arrive at
    the end, in timestamp order. ``keylog`` holds TLS secrets (pcapng
    Decryption Secrets Blocks are read as well). ``engine="tshark"`` reads
    pcap/pcapng through Wireshark's dissectors instead of the native parsers.
    ``keep_findings=False`` leaves ``findings`` empty (the summary still counts
    them): a sink that writes each finding as it comes then needs no memory that
    grows with the capture. ``lines`` takes the place of ``on_finding`` for a
    sink that writes text (see ``LineSink``); give one or the other.
    Raises ``CaptureError`` when the file cannot be read at all.
    """
    if lines is not None and on_finding is not None:
        raise ValueError("give on_finding or lines, not both")
    with fewer_collections():
        return _analyze_capture(
            path, config, on_finding, progress, jobs, keylog, engine, keep_findings, lines
        )


def line_writer(lines: LineSink) -> FindingCallback:
    """``lines`` as an ``on_finding`` callback: each finding rendered, then written."""
    render, write_line = lines.render, lines.write_line

    def write(finding: Finding) -> None:
        write_line(render(finding))

    return write


def _analyze_capture(
    path: str | os.PathLike[str],
    config: PipelineConfig,
    on_finding: FindingCallback | None,
    progress: ProgressCallback | None,
    jobs: int,
    keylog: KeyLog | None,
    engine: Engine,
    keep_findings: bool,
    lines: LineSink | None,
) -> AnalysisResult:
    source: MessageSource
    if engine == "tshark":
        from leaktrace.engines.tshark import TsharkSource

        source = TsharkSource(path, keylog=keylog)
    else:
        source = open_source(path, progress, keylog)
    if jobs > 1 and isinstance(source, CaptureSource) and source.size >= MIN_PARALLEL_BYTES:
        from leaktrace.parallel import analyze_parallel

        return analyze_parallel(
            path,
            config,
            jobs,
            on_finding=on_finding,
            progress=progress,
            keep_findings=keep_findings,
            keylog=keylog,
            lines=lines,
        )
    if lines is not None:
        on_finding = line_writer(lines)
    pipeline = Pipeline(config)
    findings, diagnostics = collect(
        pipeline, source, on_finding, list(pipeline.setup_diagnostics), keep=keep_findings
    )
    return AnalysisResult(
        capture=str(path),
        capture_bytes=source.size,
        frames=source.frames,
        findings=findings,
        summary=pipeline.summary,
        coverage=source.coverage,
        diagnostics=diagnostics,
        damage=source.damage,
        skipped=list(getattr(source, "anomalies", ())),
    )
