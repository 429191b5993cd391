"""A capture file as a stream of Messages: the offline entry into the pipeline.

frames → packets → flows → per-flow sessions → Messages, in one pass over the
file. Coverage and damage are kept here because they describe the file as a
whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from leaktrace.sources.dnsmap import DnsMap
from leaktrace.sources.flows import FlowClosed, FlowData, FlowState, FlowTable
from leaktrace.sources.fragments import FragmentReassembler
from leaktrace.sources.packets import decode_frame
from leaktrace.sources.pcap import CaptureError, CaptureReader
from leaktrace.sources.sessions import FlowSession
from leaktrace.types import Coverage, Diagnostic, Message

__all__ = ["CaptureError", "CaptureSource"]

ProgressCallback = Callable[[int, int], None]  # (bytes read, file size)
PROGRESS_EVERY = 4096  # frames between progress callbacks


class CaptureSource:
    """Iterate a pcap/pcapng file as Messages and Diagnostics.

    After iteration, ``coverage`` says how much was read and ``damage`` where
    reading stopped early (``None`` when the file was read to its end).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        idle_timeout: float = 300.0,
        max_flows: int = 100_000,
    ) -> None:
        self.path = Path(path)
        self._reader = CaptureReader(self.path)  # raises CaptureError for unreadable input
        self._progress = progress
        self._idle_timeout = idle_timeout
        self._max_flows = max_flows
        self.coverage = Coverage()
        self.dns_map = DnsMap()
        self.frames = 0
        self.damage: Diagnostic | None = None

    @property
    def size(self) -> int:
        return self._reader.size

    def __iter__(self) -> Iterator[Message | Diagnostic]:
        reader = self._reader
        table = FlowTable(idle_timeout=self._idle_timeout, max_flows=self._max_flows)
        frags = FragmentReassembler()
        origin = f"pcap:{self.path.name}"
        progress = self._progress
        frames = 0
        for frame in reader:
            frames += 1
            if progress is not None and frames % PROGRESS_EVERY == 0:
                progress(reader.bytes_read, reader.size)
            pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
            if pkt is None:
                continue
            for event in table.feed(pkt, frame.ts, frame.index):
                yield from self._dispatch(event, origin)
        for event in table.close_all():
            yield from self._dispatch(event, origin)
        self.frames = frames
        if frags.evicted:
            yield Diagnostic("ip_fragments_dropped", f"{frags.evicted} incomplete datagrams")
        self.damage = reader.damage
        if self.damage is not None:
            yield self.damage
        if progress is not None:
            progress(reader.bytes_read, reader.size)

    def _dispatch(
        self, event: FlowData | FlowClosed | Diagnostic, origin: str
    ) -> Iterator[Message | Diagnostic]:
        if isinstance(event, FlowData):
            yield from self._session(event.flow, origin).on_data(event)
        elif isinstance(event, FlowClosed):
            session = self._session(event.flow, origin)
            yield from session.on_close(event.flow.last_ts)
            self._account(session)
        else:
            yield event

    def _session(self, flow: FlowState, origin: str) -> FlowSession:
        session = flow.context
        if session is None:
            session = FlowSession(flow, origin, self.dns_map)
            flow.context = session
        assert isinstance(session, FlowSession)
        return session

    def _account(self, session: FlowSession) -> None:
        outcome = session.outcome()
        cov = self.coverage
        cov.flows += 1
        cov.bytes_outbound += outcome.bytes_outbound
        cov.bytes_decoded += outcome.bytes_decoded
        cov.bytes_opaque += outcome.bytes_opaque
        if outcome.decoded:
            cov.flows_decoded += 1
        elif outcome.opaque_reason is not None:
            cov.flows_opaque += 1
            reasons = cov.opaque_reasons
            reasons[outcome.opaque_reason] = reasons.get(outcome.opaque_reason, 0) + 1
