"""The state of one live session: pipeline, findings, timeline events, timeline file.

The proxy's event loop writes to it while harness threads and the control
endpoint read from it, so every access holds one lock. Memory stays flat
however long the session runs: with a timeline file, only the first
``FILE_BACKED_KEPT`` findings stay in memory and later ones are read back
from the file when asked for (the file has every record anyway); without a
file, past ``max_kept`` findings or events only the counts grow (and a
diagnostic says so).
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from leaktrace.analyze import AnalysisResult
from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.proxy.declared import is_declared
from leaktrace.sinks.records import coverage_record, summary_record
from leaktrace.summary import Summary
from leaktrace.timeline import TimelineWriter, read_findings_at
from leaktrace.types import Attribution, Coverage, Diagnostic, Finding, Message, TimelineEvent

FindingCallback = Callable[[Finding], None]
MAX_KEPT = 100_000
#: Findings kept in memory when a timeline file holds them all.
FILE_BACKED_KEPT = 2_000
#: Findings whose place in the timeline file is remembered (8 bytes each).
MAX_OFFSETS = 4_000_000
#: Distinct flows whose decoded/opaque state is tracked for coverage.
MAX_FLOWS = 100_000
MAX_EVENT_DATA = 32  # keys per event
MAX_EVENT_TEXT = 1024  # characters per event name or value


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the proxy learned about one message, and whether it may go on."""

    findings: tuple[Finding, ...]
    attribution: Attribution
    undeclared: tuple[Finding, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(slots=True)
class _Counts:
    decoded: set[str] = field(default_factory=set)
    opaque: dict[str, str] = field(default_factory=dict)  # flow → reason
    bytes_outbound: int = 0

    def add(self, flow: str, opaque_reason: str | None, nbytes: int) -> None:
        self.bytes_outbound += nbytes
        if opaque_reason is None:
            if len(self.decoded) < MAX_FLOWS:
                self.decoded.add(flow)
            self.opaque.pop(flow, None)
        elif flow not in self.decoded and len(self.opaque) < MAX_FLOWS:
            self.opaque[flow] = opaque_reason

    def coverage(self) -> Coverage:
        reasons: dict[str, int] = {}
        for reason in self.opaque.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        return Coverage(
            flows=len(self.decoded) + len(self.opaque),
            flows_decoded=len(self.decoded),
            flows_opaque=len(self.opaque),
            bytes_outbound=self.bytes_outbound,
            bytes_decoded=self.bytes_outbound,
            opaque_reasons=reasons,
        )


class Recorder:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        timeline: IO[str] | None = None,
        on_finding: FindingCallback | None = None,
        max_kept: int = MAX_KEPT,
    ) -> None:
        self.config = config
        self.pipeline = Pipeline(config)
        self._writer = TimelineWriter(timeline) if timeline is not None else None
        self._on_finding = on_finding
        self._max_kept = max_kept
        # Where each finding starts in the timeline file, when it can be read back.
        self._path = _readable_path(timeline) if self._writer is not None else None
        self._offsets: array[int] | None = None
        if (
            self._path is not None
            and self._writer is not None
            and self._writer.position is not None
        ):
            self._offsets = array("q")
            self._max_kept = min(max_kept, FILE_BACKED_KEPT)
        self._lock = threading.Lock()
        self._findings: list[Finding] = []
        self._events: list[TimelineEvent] = []
        self._counts = _Counts()
        self.findings_total = 0
        self.events_total = 0
        self.started = time.time()

    # -- writing (proxy thread) --------------------------------------------

    def process(self, msg: Message, opaque_reason: str | None = None) -> Verdict:
        """Run one message through the pipeline and keep what it found.

        ``opaque_reason`` marks a message that stands for a connection whose
        content was not read (a refused or passed-through TLS handshake), so
        coverage does not count that connection as decoded.
        """
        with self._lock:
            items = list(self.pipeline.process(msg))
            attribution = self.pipeline.attributor.attribute(msg)
            self._counts.add(msg.community_id, opaque_reason, _message_bytes(msg))
            findings = tuple(i for i in items if isinstance(i, Finding))
            for finding in findings:
                self._keep_finding(finding)
        if self._on_finding is not None:
            for finding in findings:
                self._on_finding(finding)
        app = self.config.app
        undeclared = tuple(f for f in findings if not is_declared(app, f)) if app else ()
        diagnostics = tuple(i for i in items if isinstance(i, Diagnostic))
        return Verdict(findings, attribution, undeclared, diagnostics)

    def mark(self, name: str, data: Mapping[str, object] | None = None) -> TimelineEvent:
        """Record a timeline event now (wall and monotonic clocks)."""
        pairs = tuple(
            (str(k)[:MAX_EVENT_TEXT], str(v)[:MAX_EVENT_TEXT])
            for k, v in list((data or {}).items())[:MAX_EVENT_DATA]
        )
        event = TimelineEvent(time.time(), name[:MAX_EVENT_TEXT], pairs, time.monotonic())
        self.add_event(event)
        return event

    def add_event(self, event: TimelineEvent) -> None:
        with self._lock:
            self.events_total += 1
            if len(self._events) < self._max_kept:
                self._events.append(event)
            elif self.events_total == self._max_kept + 1:
                self._note("proxy_events_not_kept", f"over {self._max_kept} events in memory")
            if self._writer is not None:
                self._writer.event(event)

    def _keep_finding(self, finding: Finding) -> None:
        self.findings_total += 1
        offsets = self._offsets
        if len(self._findings) < self._max_kept:
            self._findings.append(finding)
        elif offsets is None and self.findings_total == self._max_kept + 1:
            self._note("proxy_findings_not_kept", f"over {self._max_kept} findings in memory")
        if self._writer is not None:
            at = self._writer.finding(finding)
            if offsets is not None:
                if at is not None and len(offsets) < MAX_OFFSETS:
                    offsets.append(at)
                else:
                    self._offsets = None
                    self._note(
                        "proxy_findings_not_kept",
                        f"over {len(offsets)} findings: later ones are in the timeline file only",
                    )

    def _note(self, name: str, detail: str) -> None:
        self.pipeline.summary.add_diagnostic(Diagnostic(name, detail, time.time()))

    # -- reading (any thread) ----------------------------------------------

    def findings(self, since: int = 0) -> list[Finding]:
        """Findings from number ``since`` on: from memory, then from the timeline file."""
        since = max(since, 0)
        with self._lock:
            kept = self._findings[since:]
            start = max(since, len(self._findings))
            offsets = self._offsets
            if offsets is None or self._path is None or start >= len(offsets):
                return kept
            offset, count, path = offsets[start], len(offsets) - start, self._path
        # Outside the lock: the file only grows, and the proxy must not wait for this read.
        return kept + read_findings_at(path, offset, count)

    def events(self) -> list[TimelineEvent]:
        with self._lock:
            return list(self._events)

    def summary_record(self) -> dict[str, Any]:
        with self._lock:
            record = summary_record(self.pipeline.summary)
            record["events"] = self.events_total
            record["coverage"] = coverage_record(self._counts.coverage())
            return record

    def result(self, name: str = "proxy") -> AnalysisResult:
        """The session as an ``AnalysisResult``, so the summary table renders it like a capture."""
        with self._lock:
            summary: Summary = self.pipeline.summary
            coverage = self._counts.coverage()
            nbytes = coverage.bytes_outbound
        return AnalysisResult(
            capture=name,
            capture_bytes=nbytes,
            frames=summary.messages,
            findings=self.findings(),
            summary=summary,
            coverage=coverage,
        )


def _readable_path(stream: IO[str] | None) -> Path | None:
    """The file behind a timeline stream, if it is a regular file we can read back."""
    name = getattr(stream, "name", None)
    if not isinstance(name, str):
        return None
    path = Path(name)
    return path if path.is_file() and os.access(path, os.R_OK) else None


def _message_bytes(msg: Message) -> int:
    if msg.http is not None:
        head = len(msg.http.target) + sum(len(k) + len(v) + 4 for k, v in msg.http.headers)
        return head + len(msg.http.body)
    return len(msg.payload)
