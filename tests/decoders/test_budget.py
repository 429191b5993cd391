"""The per-message budget: caps are enforced and reported once."""

from __future__ import annotations

from leaktrace.decoders.budget import MAX_DIAGNOSTICS, Budget, DecodeLimits
from leaktrace.types import Field


def test_emit_stops_at_max_fields_and_reports_once() -> None:
    budget = Budget(DecodeLimits(max_fields=2), ts=5.0, flow="1:abc")
    assert budget.emit(("a",), b"1", None)
    assert budget.emit(("b", "c"), b"2", "k")
    assert not budget.emit(("d",), b"3", None)
    assert not budget.emit(("e",), b"4", None)
    assert budget.fields == [Field("a", b"1"), Field("b>c", b"2", "k")]
    assert [(d.name, d.detail, d.ts, d.flow) for d in budget.diagnostics] == [
        ("decode_limit", "max_fields: d", 5.0, "1:abc")
    ]
    assert budget.full


def test_charge_cuts_at_total_bytes() -> None:
    budget = Budget(DecodeLimits(max_total_bytes=10))
    assert budget.charge(b"123456", ("x",)) == b"123456"
    assert budget.charge(b"abcdef", ("y",)) == b"abcd"
    assert budget.room() == 0
    assert [d.detail for d in budget.diagnostics] == ["max_total_bytes: y"]


def test_depth() -> None:
    budget = Budget(DecodeLimits(max_depth=2))
    assert budget.can_step(("a",), 1)
    assert not budget.can_step(("a", "b"), 2)
    assert [d.detail for d in budget.diagnostics] == ["max_depth: a>b"]


def test_diagnostics_are_deduplicated_and_capped() -> None:
    budget = Budget(DecodeLimits())
    for _ in range(3):
        budget.error("gzip", "bad", ("body",))
    assert [d.detail for d in budget.diagnostics] == ["gzip: bad: body"]
    for i in range(MAX_DIAGNOSTICS * 2):
        budget.limit("max_depth", (f"x{i}",))
    assert len(budget.diagnostics) == MAX_DIAGNOSTICS + 1
    assert budget.diagnostics[-1].detail.startswith("max_diagnostics:")
