"""What a run saw, aggregated per destination: the basis of the summary table and report.

Destinations are recorded for every message, not only those that carried an
identifier, because contacting a tracker is itself a fact worth reporting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from leaktrace.types import Attribution, Diagnostic, Finding, Message, Party

PARTY_ORDER: dict[str, int] = {"third": 0, "unknown": 1, "first": 2}


@dataclass(slots=True)
class Destination:
    host: str  # host name, or the server address when no name is known
    party: Party
    sdk: str | None
    basis: str
    transports: set[str] = field(default_factory=set)
    messages: int = 0
    first_ts: float = 0.0
    types: Counter[str] = field(default_factory=Counter)  # identifier type → findings

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "party": self.party,
            "sdk": self.sdk,
            "basis": self.basis,
            "transports": sorted(self.transports),
            "messages": self.messages,
            "first_ts": self.first_ts,
            "types": dict(sorted(self.types.items())),
        }


class Summary:
    """Running totals for one analysis."""

    def __init__(self) -> None:
        self.destinations: dict[str, Destination] = {}
        self.findings = 0
        self.messages = 0
        self.types: Counter[str] = Counter()
        self.diagnostics: Counter[str] = Counter()

    def add_message(self, msg: Message, attr: Attribution) -> None:
        self.messages += 1
        key = attr.host or msg.flow.resp_h
        dest = self.destinations.get(key)
        if dest is None:
            dest = Destination(key, attr.party, attr.sdk, attr.basis, first_ts=msg.ts)
            self.destinations[key] = dest
        dest.transports.add(msg.transport)
        dest.messages += 1

    def add_finding(self, finding: Finding) -> None:
        self.findings += 1
        self.types[finding.type] += 1
        key = finding.host or finding.dst.rsplit(":", 1)[0].strip("[]")
        dest = self.destinations.get(key)
        if dest is not None:
            dest.types[finding.type] += 1

    def add_diagnostic(self, diag: Diagnostic) -> None:
        self.diagnostics[diag.name] += 1

    def ordered_destinations(self) -> list[Destination]:
        """Third parties first, then by how much they received."""
        return sorted(
            self.destinations.values(),
            key=lambda d: (PARTY_ORDER.get(d.party, 9), -sum(d.types.values()), d.host),
        )
