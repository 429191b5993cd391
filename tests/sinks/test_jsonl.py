from __future__ import annotations

import io
import json

from leaktrace.sinks.jsonl import JsonlSink
from leaktrace.sinks.records import FINDING_FIELDS
from leaktrace.testing import finding


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_one_flushed_line_per_finding_in_contract_order() -> None:
    stream = CountingStream()
    sink = JsonlSink(stream)
    sink.write(finding(ts=1763900000.123456789))
    sink.write(finding(type="phone", host=None))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 == stream.flushes == sink.written
    first = json.loads(lines[0])
    assert tuple(first) == FINDING_FIELDS
    assert first["ts"] == 1763900000.123457
    assert first["evidence"] == ["luhn_ok", "key:imei"]
    assert json.loads(lines[1])["host"] is None
