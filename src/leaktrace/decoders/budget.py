"""Limits on decoding one message, and the running account kept against them.

Payloads are attacker-shaped (a gzip bomb in a request body, base64 nested
fifty times, a JSON array of a million numbers), so every decoder draws on one
shared budget per message. Hitting a bound is never silent: it becomes a
``decode_limit`` diagnostic naming the bound and the chain, and whatever was
decoded up to the bound is still handed on to the detectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaktrace.types import Diagnostic, Field


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds for decoding one message.

    ``max_ratio`` (decompressed/compressed) only applies once an output is
    larger than ``ratio_grace_bytes``: a 30-byte gzip of a 10 KB repetitive
    JSON is normal, a 1 MB gzip of 1 GB is not.
    """

    max_depth: int = 8  # nested decode steps
    max_total_bytes: int = 16 << 20  # all decoded output for one message
    max_ratio: float = 200.0  # decompressed/compressed
    max_fields: int = 20_000
    ratio_grace_bytes: int = 64 << 10


Chain = tuple[str, ...]

# Distinct diagnostics kept per message: a JSON array of 10,000 over-deep
# items must not turn into 10,000 diagnostics.
MAX_DIAGNOSTICS = 64


def where(chain: Chain) -> str:
    return ">".join(chain)


class Budget:
    """Fields and diagnostics of one message, and how much of each bound is used."""

    def __init__(self, limits: DecodeLimits, ts: float | None = None, flow: str | None = None):
        self.limits = limits
        self.fields: list[Field] = []
        self.diagnostics: list[Diagnostic] = []
        self.decoded_bytes = 0
        self.full = False  # max_fields reached: stop all work
        self._ts = ts
        self._flow = flow
        self._reported: set[tuple[str, str]] = set()

    def emit(self, chain: Chain, value: bytes, key: str | None, joined: bool = False) -> bool:
        """Record a field; False once max_fields is reached."""
        fields = self.fields
        if not self.full and len(fields) < self.limits.max_fields:
            fields.append(Field(">".join(chain), value, key, joined))  # per field: kept lean
            return True
        if not self.full:
            self.full = True
            self.limit("max_fields", chain)
        return False

    def can_step(self, chain: Chain, depth: int) -> bool:
        """Whether one more decode step is allowed below ``chain``; reports when not."""
        if self.full:
            return False
        if depth >= self.limits.max_depth:
            self.limit("max_depth", chain)
            return False
        return True

    def room(self) -> int:
        """Decoded bytes still allowed for this message."""
        return max(self.limits.max_total_bytes - self.decoded_bytes, 0)

    def charge(self, data: bytes, chain: Chain) -> bytes:
        """Account for decoded output, cutting it at max_total_bytes (reported)."""
        room = self.room()
        if len(data) > room:
            self.limit("max_total_bytes", chain)
            data = data[:room]
        self.decoded_bytes += len(data)
        return data

    def limit(self, bound: str, chain: Chain) -> None:
        self._report("decode_limit", f"{bound}: {where(chain)}")

    def error(self, step: str, reason: str, chain: Chain) -> None:
        self._report("decode_error", f"{step}: {reason}: {where(chain)}")

    def _report(self, name: str, detail: str) -> None:
        if (name, detail) in self._reported:
            return
        self._reported.add((name, detail))
        if len(self._reported) > MAX_DIAGNOSTICS:
            if len(self._reported) == MAX_DIAGNOSTICS + 1:
                note = f"max_diagnostics: over {MAX_DIAGNOSTICS} for this message, rest dropped"
                self._append("decode_limit", note)
            return
        self._append(name, detail)

    def _append(self, name: str, detail: str) -> None:
        self.diagnostics.append(Diagnostic(name=name, detail=detail, ts=self._ts, flow=self._flow))
