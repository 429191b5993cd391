"""Is a finding covered by the app's declaration? The rule behind ``--block-undeclared``.

A first-party finding is declared when its identifier type is in ``collects``;
any other when a ``shares`` entry names its receiver and lists its type, by
the same matching the policy stage uses (``policy.parties``), so the proxy
blocks exactly what the report would call undisclosed.
"""

from __future__ import annotations

from leaktrace.declaration import AppDeclaration
from leaktrace.policy.parties import share_declared
from leaktrace.types import Finding


def is_declared(app: AppDeclaration, finding: Finding) -> bool:
    if finding.party == "first":
        return any(item.type == finding.type for item in app.collects)
    return share_declared(app, finding)


def undeclared(app: AppDeclaration, findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not is_declared(app, f)]
