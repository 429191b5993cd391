"""A first declaration drafted from what a session observed, for an app team to correct.

The draft lists exactly what was seen, so loading it back judges the same
session clean of undisclosed collection and sharing; every purpose is left
as a ``TODO`` because traffic cannot tell why data was sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from leaktrace.attribution.domains import registrable_domain
from leaktrace.declaration import parse_declaration
from leaktrace.policy.parties import recipient_of
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Finding

TODO = "TODO: why this is needed"


def draft_declaration(
    findings: Iterable[Finding],
    signatures: SignatureSet | None = None,
    *,
    app_id: str = "TODO.app.id",
    app_name: str | None = None,
    first_party: Sequence[str] = (),
) -> dict[str, Any]:
    """The draft as a plain mapping, in the order ``app.yaml`` uses.

    ``first_party`` overrides the domains taken from first-party findings
    (findings made without a declaration carry none).
    """
    items = list(findings)
    observed = {registrable_domain(f.host) for f in items if f.party == "first" and f.host}
    domains = list(first_party) or sorted(d for d in observed if d)
    collects: dict[str, None] = {}
    shares: dict[str, tuple[str | None, dict[str, None]]] = {}
    for finding in items:
        first = finding.party == "first" or (
            finding.host is not None
            and any(finding.host == d or finding.host.endswith("." + d) for d in domains)
        )
        if first:
            collects.setdefault(finding.type)
            continue
        recipient = recipient_of(finding, signatures)
        _company, kinds = shares.setdefault(recipient.key, (recipient.company, {}))
        kinds.setdefault(finding.type)
    doc: dict[str, Any] = {
        "app": {"id": app_id, **({"name": app_name} if app_name else {})},
        "first_party": domains,
        "collects": [{"type": kind, "purpose": TODO} for kind in sorted(collects)],
        "shares": [
            {
                "party": party,
                **({"company": company} if company else {}),
                "types": sorted(kinds),
                "purpose": TODO,
            }
            for party, (company, kinds) in sorted(shares.items())
        ],
    }
    parse_declaration(doc)  # the draft must load as it is written
    return doc


HEADER = """\
# Draft declaration written by `leaktrace declare --from-findings` from observed traffic.
# It lists only what this session showed: add what the app sends in other flows,
# replace every TODO with the real purpose, and set how consent shows, e.g.
#   consent: {event: consent}     # a harness or proxy mark
#   consent: {url: "/privacy/agree"}
# and whether device identifiers are needed at all:
#   needs_device_ids: false
"""


def draft_yaml(doc: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
