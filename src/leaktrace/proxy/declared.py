"""Is a finding covered by the app's declaration? The rule behind ``--block-undeclared``.

A first-party finding is declared when its identifier type is in ``collects``;
a third-party one when a ``shares`` entry names its SDK id, or a domain the
host belongs to, and lists its type. A finding whose party is unknown is not
declared: the declaration cannot vouch for a destination it never names.
"""

from __future__ import annotations

from leaktrace.declaration import AppDeclaration
from leaktrace.types import Finding


def is_declared(app: AppDeclaration, finding: Finding) -> bool:
    if finding.party == "first":
        return any(item.type == finding.type for item in app.collects)
    host = (finding.host or "").lower().rstrip(".")
    for share in app.shares:
        if finding.type not in share.types:
            continue
        party = share.party.lower().rstrip(".")
        if finding.sdk is not None and party == finding.sdk.lower():
            return True
        if host and (host == party or host.endswith("." + party)):
            return True
    return False


def undeclared(app: AppDeclaration, findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not is_declared(app, f)]
