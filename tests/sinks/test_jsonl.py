from __future__ import annotations

import io
import json

from leaktrace.sinks.jsonl import JsonlSink
from leaktrace.sinks.records import FINDING_FIELDS
from leaktrace.types import Finding


def make_finding(**changes: object) -> Finding:
    base = dict(
        ts=1763900000.123456789,
        flow="1:wCb3OG7yAFWelaUydu0D+125CLM=",
        src="1.2.3.4:1122",
        dst="5.6.7.8:3344",
        host="ulogs.umeng.com",
        transport="http",
        party="third",
        sdk="umeng",
        type="imei",
        method="pattern",
        confidence=0.95,
        where="query:imei",
        form="plain",
        value="86**********285",
        origin="pcap:x.pcap#4",
        trans_depth=1,
        evidence=("luhn_ok", "key:imei"),
    )
    base.update(changes)
    return Finding(**base)  # type: ignore[arg-type]


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
    sink.write(make_finding())
    sink.write(make_finding(type="phone", host=None))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 == stream.flushes == sink.written
    first = json.loads(lines[0])
    assert tuple(first) == FINDING_FIELDS
    assert first["ts"] == 1763900000.123457
    assert first["evidence"] == ["luhn_ok", "key:imei"]
    assert json.loads(lines[1])["host"] is None
