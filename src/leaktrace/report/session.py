"""From a run to its evaluation: a findings/timeline file, or an analysis just made.

Both ``leaktrace report`` and ``leaktrace analyze --report`` go through here,
so the same session gives the same verdicts whichever way it was reported.
"""

from __future__ import annotations

import os
from pathlib import Path

from leaktrace.analyze import AnalysisResult
from leaktrace.declaration import AppDeclaration, ConsentUrl
from leaktrace.policy.context import PolicySettings, RequestMark
from leaktrace.policy.engine import Evaluation, evaluate
from leaktrace.policy.requests import capture_request_marks
from leaktrace.signatures.loader import SignatureSet
from leaktrace.timeline import Timeline, read_timeline


def consent_requests(
    declaration: AppDeclaration | None, capture: str | os.PathLike[str] | None
) -> list[RequestMark] | None:
    """Requests that may mark consent, read from the capture only when the declaration asks."""
    if capture is None or declaration is None or not isinstance(declaration.consent, ConsentUrl):
        return None
    return capture_request_marks(capture, declaration.consent.url)


def evaluate_file(
    path: str | Path,
    declaration: AppDeclaration | None,
    signatures: SignatureSet | None,
    *,
    reveal: bool = False,
    capture: str | os.PathLike[str] | None = None,
    settings: PolicySettings | None = None,
) -> Evaluation:
    """Judge a findings or timeline JSONL file. Raises ``TimelineError`` if it cannot be read."""
    return evaluate(
        read_timeline(path),
        declaration,
        signatures,
        settings=settings,
        requests=consent_requests(declaration, capture),
        reveal=reveal,
    )


def evaluate_analysis(
    result: AnalysisResult,
    declaration: AppDeclaration | None,
    signatures: SignatureSet | None,
    *,
    reveal: bool = False,
    settings: PolicySettings | None = None,
) -> Evaluation:
    return evaluate(
        Timeline(findings=list(result.findings)),
        declaration,
        signatures,
        settings=settings,
        requests=consent_requests(declaration, result.capture),
        reveal=reveal,
    )
