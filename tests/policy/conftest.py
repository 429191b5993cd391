from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from leaktrace.declaration import AppDeclaration, parse_declaration
from leaktrace.policy.engine import Evaluation, evaluate
from leaktrace.signatures.loader import SignatureSet, load_signatures
from leaktrace.timeline import Timeline
from leaktrace.types import Finding, TimelineEvent

_SIGNATURES: SignatureSet | None = None


@pytest.fixture(scope="session")
def signatures() -> SignatureSet:
    global _SIGNATURES
    if _SIGNATURES is None:
        _SIGNATURES = load_signatures()
    return _SIGNATURES


def declaration(**fields: Any) -> AppDeclaration:
    doc: dict[str, Any] = {"app": {"id": "com.example.demoshop"}, "first_party": ["example.com"]}
    doc.update(fields)
    return parse_declaration(doc)


def judge(
    findings: Sequence[Finding],
    decl: AppDeclaration | None,
    signatures: SignatureSet,
    events: Sequence[TimelineEvent] = (),
    **kwargs: Any,
) -> Evaluation:
    return evaluate(Timeline(list(findings), list(events)), decl, signatures, **kwargs)


def tripped(evaluation: Evaluation, rule: str) -> list[tuple[str, str]]:
    """(recipient, type) of each verdict of one rule."""
    return sorted((v.recipient.key, v.type) for v in evaluation.verdicts if v.rule == rule)
