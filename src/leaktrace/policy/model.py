"""The records the policy stage produces: rules' identities, recipients and verdicts.

Rule ids are public API, like detector ids: release pipelines filter on them
and reports from different versions are compared by them, so an id is never
renamed or reused for a different check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from leaktrace.types import Finding, Party

Severity = Literal["high", "medium", "low"]
Level = Literal["violation", "warning"]
Mark = Literal["✅", "◐", "○"]

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True, slots=True)
class Clause:
    """A clause a rule implements, with how sure the project is of its wording.

    ``mark`` is the research file's confidence: ✅ seen in a public source,
    ◐ seen only on weak pages, ○ recalled and not checked (shown as unverified).
    """

    ref: str
    text: str
    mark: Mark

    @property
    def verified(self) -> bool:
        return self.mark == "✅"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    title: str
    severity: Severity
    clauses: tuple[Clause, ...]
    undisclosed: bool = False  # counts for ``--fail-on undisclosed``


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who received a finding, named the way a declaration names a party.

    ``key`` is the SDK id when an SDK signature matched, else the host's
    registrable domain, else the host, else the server address.
    """

    key: str
    kind: Literal["sdk", "domain", "host", "address"]
    party: Party
    sdk: str | None = None
    domain: str | None = None
    company: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule tripped for one recipient and identifier type, with its evidence.

    ``evidence`` holds the earliest findings (at most the configured number);
    ``count`` is how many findings tripped it in all, so a cap never hides
    how large a problem is.
    """

    rule: str
    severity: Severity
    level: Level
    recipient: Recipient
    type: str
    reason: str
    evidence: tuple[Finding, ...]
    count: int
    first_ts: float
    last_ts: float
    hosts: tuple[str, ...] = ()
    detail: tuple[tuple[str, str], ...] = ()

    @property
    def evidence_truncated(self) -> int:
        return self.count - len(self.evidence)


@dataclass(slots=True)
class RuleResult:
    """What one rule made of a session: verdicts, or why it could not judge."""

    rule: RuleInfo
    checked: bool = True
    why_not: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConsentPoint:
    """When the user agreed, and how that was established.

    ``ts`` is None when consent was never given during the session: then every
    finding came before it.
    """

    ts: float | None
    basis: str
