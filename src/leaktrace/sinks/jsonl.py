"""JSONL: one finding per line, flushed as it is made.

Append-and-flush per record means a run that is killed leaves a readable file
with every finding made up to that moment.
"""

from __future__ import annotations

import json
from typing import IO

from leaktrace.sinks.records import finding_record
from leaktrace.types import Finding

# One encoder for every line: json.dumps with any option builds a new one per call,
# nearly half the cost of writing a finding.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)


class JsonlSink:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.written = 0

    def write(self, finding: Finding) -> None:
        self._stream.write(_ENCODER.encode(finding_record(finding)) + "\n")
        self._stream.flush()
        self.written += 1
