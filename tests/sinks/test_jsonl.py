from __future__ import annotations

import io
import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from leaktrace.sinks.jsonl import JsonlSink, finding_line
from leaktrace.sinks.records import FINDING_FIELDS, finding_record
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


_text = st.text(alphabet=st.characters(codec=None), max_size=12)
_number = st.one_of(st.floats(), st.floats(), st.integers(-(2**70), 2**70), st.booleans())
_odd = st.one_of(st.none(), st.integers(), st.floats(), st.booleans())
# The fields that always hold text; the others get their own strategies below.
_STRING_FIELDS = tuple(
    name
    for name in FINDING_FIELDS
    if name not in ("ts", "confidence", "trans_depth", "host", "sdk", "evidence")
)


def _same_text(item: Any) -> None:
    assert finding_line(item) == json.dumps(finding_record(item), ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(
    ts=_number,
    confidence=_number,
    trans_depth=st.one_of(st.integers(-(2**70), 2**70), st.booleans()),
    host=st.one_of(st.none(), _text),
    sdk=st.one_of(st.none(), _text),
    strings=st.fixed_dictionaries({name: _text for name in _STRING_FIELDS}),
    evidence=st.lists(_text, max_size=3).map(tuple),
)
@example(math.nan, 0.5, 1, None, None, dict.fromkeys(_STRING_FIELDS, ""), ())
@example(0.25, 0.5, True, None, None, dict.fromkeys(_STRING_FIELDS, "x"), ())
@example(1.5, -math.inf, 2, "h", "s", dict.fromkeys(_STRING_FIELDS, "\u2028\x00"), ("e",))
def test_line_is_the_encoders_text_of_the_record(
    ts: Any,
    confidence: Any,
    trans_depth: Any,
    host: str | None,
    sdk: str | None,
    strings: dict[str, str],
    evidence: tuple[str, ...],
) -> None:
    """Written out directly, a line is still what json.dumps makes of the record,
    for any text, any float (NaN and infinities too), ints and bools."""
    _same_text(
        finding(
            ts=ts,
            confidence=confidence,
            trans_depth=trans_depth,
            host=host,
            sdk=sdk,
            evidence=evidence,
            **strings,
        )
    )


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from((*_STRING_FIELDS, "host", "sdk", "evidence", "trans_depth")),
    value=_odd,
)
def test_a_field_of_another_type_still_gives_the_encoders_text(name: str, value: Any) -> None:
    _same_text(finding(**{name: (value,) if name == "evidence" else value}))


def test_line_of_an_ordinary_finding_reads_back_as_its_record() -> None:
    item = finding(where='body>json:$["k\\"ey\u2028"]', value="86**********025")
    assert json.loads(finding_line(item)) == json.loads(json.dumps(finding_record(item)))
