"""JSONL: one finding per line, flushed as it is made.

Append-and-flush per record means a run that is killed leaves a readable file
with every finding made up to that moment.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from math import isfinite
from typing import IO

from leaktrace.sinks.records import finding_record
from leaktrace.types import Finding

# One encoder for every line: json.dumps with any option builds a new one per call,
# nearly half the cost of writing a finding.
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)

# The C string escaper the encoder above uses; float.__repr__ is how it writes floats.
_str = encode_basestring
_float = float.__repr__


def finding_line(finding: Finding) -> str:
    """The text of ``json.dumps(finding_record(finding), ensure_ascii=False)``, built
    directly: a finding's fields are strings, two floats and an int, and a dict
    walked by the encoder cost three times as much as writing them out.

    Anything else in a field (a value of another type, a bool, a NaN) takes the encoder.
    """
    ts = round(finding.ts, 6)
    confidence = finding.confidence
    depth = finding.trans_depth
    host = finding.host
    sdk = finding.sdk
    try:
        if type(depth) is not int or not (isfinite(ts) and isfinite(confidence)):
            raise TypeError("a bool, NaN or infinity: the encoder's spelling")
        return (
            f'{{"ts": {_float(ts)}, "flow": {_str(finding.flow)}, "src": {_str(finding.src)}, '
            f'"dst": {_str(finding.dst)}, "host": {"null" if host is None else _str(host)}, '
            f'"transport": {_str(finding.transport)}, "party": {_str(finding.party)}, '
            f'"sdk": {"null" if sdk is None else _str(sdk)}, "type": {_str(finding.type)}, '
            f'"method": {_str(finding.method)}, "confidence": {_float(confidence)}, '
            f'"where": {_str(finding.where)}, "form": {_str(finding.form)}, '
            f'"value": {_str(finding.value)}, "origin": {_str(finding.origin)}, '
            f'"trans_depth": {int.__repr__(depth)}, '
            f'"evidence": [{", ".join(map(_str, finding.evidence))}]}}'
        )
    except TypeError:  # a field of another type than a record's: the encoder writes it
        return _ENCODER.encode(finding_record(finding))


class JsonlSink:
    """A ``LineSink``: with ``analyze_capture(..., lines=sink)`` a parallel run formats
    the lines in its workers and this process only writes them."""

    render = staticmethod(finding_line)

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.written = 0

    def write(self, finding: Finding) -> None:
        self.write_line(finding_line(finding))

    def write_line(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()
        self.written += 1
