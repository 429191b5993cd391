"""Who received a finding, and whether the declaration names that receiver.

A declaration names a third party by SDK id or by domain. Hosts that no SDK
signature knows must still be judged, so a ``shares`` entry also matches by
domain: the host itself, a parent of it, or its registrable domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from leaktrace.attribution.domains import normalize_host, registrable_domain
from leaktrace.declaration import AppDeclaration, SharedItem
from leaktrace.policy.model import Recipient
from leaktrace.signatures.loader import SignatureSet
from leaktrace.types import Finding, Party


def _address(dst: str) -> str:
    """The server address of an ``ip:port`` or ``[v6]:port`` endpoint."""
    if dst.startswith("["):
        return dst[1 : dst.find("]")] if "]" in dst else dst
    return dst.rsplit(":", 1)[0] if dst.count(":") == 1 else dst


def host_in(host: str | None, domains: Iterable[str]) -> bool:
    """The host is one of the domains or lies under one (``a.example.com`` in ``example.com``)."""
    if not host:
        return False
    name = normalize_host(host)
    for domain in domains:
        d = normalize_host(domain).removeprefix("*.").lstrip(".")
        if d and (name == d or name.endswith("." + d)):
            return True
    return False


def reclassify(findings: Iterable[Finding], decl: AppDeclaration | None) -> list[Finding]:
    """Findings with their party judged against this declaration's first-party domains.

    A findings file may have been made with another declaration, or none (then
    non-SDK hosts are ``unknown``); the verdict must follow the declaration it
    is judged against.
    """
    items = list(findings)
    if decl is None or not decl.first_party:
        return items
    out = []
    for finding in items:
        party: Party = "first" if host_in(finding.host, decl.first_party) else "third"
        out.append(finding if finding.party == party else replace(finding, party=party))
    return out


def recipient_of(finding: Finding, signatures: SignatureSet | None = None) -> Recipient:
    domain = registrable_domain(finding.host) if finding.host else None
    company = None
    if finding.sdk is not None and signatures is not None:
        sdk = signatures.sdks.get(finding.sdk)
        company = sdk.vendor.name if sdk is not None else None
    if finding.sdk is not None:
        return Recipient(finding.sdk, "sdk", finding.party, finding.sdk, domain, company)
    if domain is not None:
        return Recipient(domain, "domain", finding.party, None, domain)
    if finding.host:
        return Recipient(normalize_host(finding.host), "host", finding.party)
    return Recipient(_address(finding.dst), "address", finding.party)


def share_names(share: SharedItem, finding: Finding) -> bool:
    """The ``shares`` entry names the finding's receiver (whatever the types)."""
    if finding.sdk is not None and share.party == finding.sdk.lower():
        return True
    if host_in(finding.host, [share.party]):
        return True
    domain = registrable_domain(finding.host) if finding.host else None
    return domain is not None and domain == share.party


def shares_covering(decl: AppDeclaration, finding: Finding) -> list[SharedItem]:
    return [share for share in decl.shares if share_names(share, finding)]


def share_declared(decl: AppDeclaration, finding: Finding) -> bool:
    return any(finding.type in share.types for share in shares_covering(decl, finding))
