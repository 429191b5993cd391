"""The session timeline file: events and findings, one flushed JSON line each.

One format for every entry point, so that the policy stage can judge "before
consent" whether the session was live (proxy, harness) or offline. A plain
findings JSONL file (no ``record`` key) reads as a timeline without events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from leaktrace.sinks.records import finding_record
from leaktrace.types import Finding, TimelineEvent


class TimelineError(ValueError):
    """A timeline or findings file that cannot be read; the message names file and line."""


@dataclass(slots=True)
class Timeline:
    findings: list[Finding] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)


def event_record(event: TimelineEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"record": "event", "ts": round(event.ts, 6), "event": event.name}
    if event.data:
        record["data"] = dict(event.data)
    if event.mono is not None:
        record["mono"] = round(event.mono, 6)
    return record


class TimelineWriter:
    """Append-only: every record is written and flushed on its own line.

    ``position`` is the byte offset in the file where the next record starts
    (None when the stream cannot tell), so a reader can come back for a record
    later instead of keeping it in memory.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.position: int | None = _tell(stream)

    def event(self, event: TimelineEvent) -> int | None:
        return self._write(event_record(event))

    def finding(self, finding: Finding) -> int | None:
        """Write a finding; its byte offset in the file, when known."""
        return self._write({"record": "finding", **finding_record(finding)})

    def _write(self, record: dict[str, Any]) -> int | None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        at = self.position
        self._stream.write(line)
        self._stream.flush()
        if at is not None:
            self.position = at + len(line.encode("utf-8"))
        return at


def _tell(stream: IO[str]) -> int | None:
    """The byte offset of a file opened for appending (utf-8, so tell() counts bytes)."""
    try:
        if not stream.seekable():
            return None
        stream.flush()
        return stream.tell()
    except (OSError, ValueError, AttributeError):
        return None


def read_findings_at(path: str | Path, offset: int, count: int) -> list[Finding]:
    """Up to ``count`` findings from byte ``offset`` of a timeline file on (events skipped)."""
    found: list[Finding] = []
    if count <= 0:
        return found
    with Path(path).open("rb") as stream:
        stream.seek(offset)
        lines = (raw.decode("utf-8", "replace") for raw in stream)
        for item in parse_timeline(lines, str(path)):
            if isinstance(item, Finding):
                found.append(item)
                if len(found) >= count:
                    break
    return found


def finding_from_record(record: dict[str, Any]) -> Finding:
    values = {k: v for k, v in record.items() if k != "record"}
    values["evidence"] = tuple(values.get("evidence", ()))
    return Finding(**values)


def event_from_record(record: dict[str, Any]) -> TimelineEvent:
    data = record.get("data") or {}
    return TimelineEvent(
        ts=float(record["ts"]),
        name=str(record["event"]),
        data=tuple((str(k), str(v)) for k, v in data.items()),
        mono=record.get("mono"),
    )


def parse_timeline(
    lines: Iterable[str], name: str = "<timeline>"
) -> Iterator[Finding | TimelineEvent]:
    """Records in file order. A torn last line (a run killed mid-write) is skipped."""
    pending_error: TimelineError | None = None
    for number, line in enumerate(lines, 1):
        if pending_error is not None:
            raise pending_error
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record.get("record", "finding")
            if kind == "event":
                yield event_from_record(record)
            elif kind == "finding":
                yield finding_from_record(record)
            # other record kinds are for other readers: skip them
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            pending_error = TimelineError(f"{name}:{number}: not a timeline record: {exc}")


def read_timeline(path: str | Path) -> Timeline:
    path = Path(path)
    timeline = Timeline()
    try:
        with path.open(encoding="utf-8") as stream:
            for item in parse_timeline(stream, str(path)):
                if isinstance(item, Finding):
                    timeline.findings.append(item)
                else:
                    timeline.events.append(item)
    except OSError as exc:
        raise TimelineError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return timeline
