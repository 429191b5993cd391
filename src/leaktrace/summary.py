"""What a run saw, aggregated per destination: the basis of the summary table and report.

Destinations are recorded for every message, not only those that carried an
identifier, because contacting a tracker is itself a fact worth reporting.
Their number is bounded (``MAX_DESTINATIONS``): a capture of a million
lookups of distinct names would otherwise keep a million rows, about 390
bytes each. Past the bound, the hosts that have received no identifier are
folded, oldest first, into one row per party ("(other hosts)"), so the
receivers of identifiers keep their own rows.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from leaktrace.types import Attribution, Diagnostic, Finding, Message, Party

PARTY_ORDER: dict[str, int] = {"third": 0, "unknown": 1, "first": 2}
MAX_DESTINATIONS = 10_000
OTHER_HOSTS = "(other hosts)"
FOLDED = "destinations_folded"  # the diagnostic counter: hosts folded into OTHER_HOSTS


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

    def absorb(self, other: Destination) -> None:
        """Add ``other``'s counts to this row (the earlier first time is kept)."""
        self.first_ts = min(self.first_ts, other.first_ts)
        self.messages += other.messages
        self.transports |= other.transports
        if other.types:  # a folded host has none: Counter.update costs even when empty
            self.types.update(other.types)


class Summary:
    """Running totals for one analysis."""

    def __init__(self, max_destinations: int = MAX_DESTINATIONS) -> None:
        self.destinations: dict[str, Destination] = {}
        self.findings = 0
        self.messages = 0
        self.types: Counter[str] = Counter()
        self.diagnostics: Counter[str] = Counter()
        self.max_destinations = max(1, max_destinations)
        # Hosts with a row of their own but no finding yet, oldest first: folded first.
        # OrderedDict, not dict: taking the front of a dict over and over walks the
        # holes its deletions left, and a capture of distinct names folds on every new one.
        self._quiet: OrderedDict[str, None] = OrderedDict()

    def add_message(self, msg: Message, attr: Attribution) -> None:
        self.messages += 1
        key = attr.host or msg.flow.resp_h
        dest = self.destinations.get(key)
        if dest is None:
            if len(self.destinations) < self.max_destinations or self._fold_quiet():
                dest = Destination(key, attr.party, attr.sdk, attr.basis, first_ts=msg.ts)
                self.destinations[key] = dest
                self._quiet[key] = None
            else:  # every row has received identifiers: the new host joins its party's row
                dest = self._other(attr.party, msg.ts)
                self.diagnostics[FOLDED] += 1
        dest.transports.add(msg.transport)
        dest.messages += 1

    def add_finding(self, finding: Finding) -> None:
        self.findings += 1
        self.types[finding.type] += 1
        key = finding.host or finding.dst.rsplit(":", 1)[0].strip("[]")
        dest = self.destinations.get(key)
        if dest is not None:
            self._quiet.pop(key, None)
        elif len(self.destinations) >= self.max_destinations:
            dest = self._other(finding.party, finding.ts)  # where its message went
        else:
            return
        dest.types[finding.type] += 1

    def _fold_quiet(self) -> bool:
        """Fold the oldest host without findings into its party's (other hosts) row;
        False when there is none."""
        if not self._quiet:
            return False
        key = self._quiet.popitem(last=False)[0]
        dest = self.destinations.pop(key)  # a quiet host always has its row
        self._other(dest.party, dest.first_ts).absorb(dest)
        self.diagnostics[FOLDED] += 1
        return True

    def _other(self, party: Party, ts: float) -> Destination:
        key = f"{OTHER_HOSTS} {party}"
        other = self.destinations.get(key)
        if other is None:
            other = Destination(OTHER_HOSTS, party, None, "folded", first_ts=ts)
            self.destinations[key] = other
        return other

    def add_diagnostic(self, diag: Diagnostic) -> None:
        self.diagnostics[diag.name] += 1

    def ordered_destinations(self) -> list[Destination]:
        """Third parties first, then by how much they received."""
        return sorted(
            self.destinations.values(),
            key=lambda d: (PARTY_ORDER.get(d.party, 9), -sum(d.types.values()), d.host),
        )
