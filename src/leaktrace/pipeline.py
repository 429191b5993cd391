"""The pipeline core: one Message in, its Findings out. No I/O.

sources → messages → decoders → detectors → attribution → (policy) → sinks.
Every entry point (offline capture, proxy, harness) builds a ``Pipeline`` and
feeds it Messages, which is why the same traffic gives the same findings
whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from leaktrace.attribution import Attributor, SdkMatcher
from leaktrace.decoders import DecodeLimits, extract_fields
from leaktrace.detectors import DetectorSet
from leaktrace.masking import mask_value
from leaktrace.signatures.loader import SignatureSet, load_signatures, with_user_dirs
from leaktrace.summary import Summary
from leaktrace.types import Attribution, Detection, Diagnostic, Finding, Message

if TYPE_CHECKING:  # loaded with an app or device file only: a run without never needs them
    from leaktrace.declaration import AppDeclaration
    from leaktrace.profile import DeviceProfile


@dataclass(slots=True)
class PipelineConfig:
    """Everything that shapes a run, gathered so the CLI and harnesses pass one object."""

    signatures: SignatureSet
    device: DeviceProfile | None = None
    app: AppDeclaration | None = None
    reveal: bool = False
    limits: DecodeLimits = field(default_factory=DecodeLimits)

    @classmethod
    def load(
        cls,
        *,
        signature_dirs: Sequence[Path] | None = None,
        device: DeviceProfile | None = None,
        app: AppDeclaration | None = None,
        reveal: bool = False,
    ) -> PipelineConfig:
        return cls(
            signatures=load_signatures(with_user_dirs(signature_dirs)),
            device=device,
            app=app,
            reveal=reveal,
        )


class Pipeline:
    """Decode, detect and attribute Messages; keeps the run's summary as it goes."""

    def __init__(
        self,
        config: PipelineConfig,
        detectors: DetectorSet | None = None,
        matcher: SdkMatcher | None = None,
    ) -> None:
        """``detectors`` may be reused from another run with the same signatures and
        device, ``matcher`` from one with the same signatures: they are the expensive
        parts of building a pipeline (corpus mode builds one per capture)."""
        self.config = config
        first_party = config.app.first_party if config.app else ()
        self.detectors = detectors or DetectorSet(config.signatures, config.device)
        self.attributor = Attributor(config.signatures, first_party, matcher)
        self.summary = Summary()
        self.setup_diagnostics: tuple[Diagnostic, ...] = self.detectors.setup_diagnostics
        for diag in self.setup_diagnostics:
            self.summary.add_diagnostic(diag)

    def process(self, msg: Message) -> Iterator[Finding | Diagnostic]:
        fields, diagnostics = extract_fields(msg, self.config.limits)
        detections: list[Detection] = []
        if fields:
            result = self.detectors.run(fields)
            detections = result.detections
            diagnostics += result.diagnostics
        for diag in diagnostics:
            self.summary.add_diagnostic(diag)
            yield diag
        attribution = self.attributor.attribute(msg)
        if detections and not self.config.reveal and attribution.host:
            host = _redact(attribution.host, detections)
            if host != attribution.host:
                attribution = replace(attribution, host=host)
        self.summary.add_message(msg, attribution)
        for det in detections:
            finding = self._finding(msg, attribution, det)
            self.summary.add_finding(finding)
            yield finding

    def run(self, items: Iterable[Message | Diagnostic]) -> Iterator[Finding | Diagnostic]:
        """Process a source's stream; its own diagnostics pass through and are counted."""
        for item in items:
            if isinstance(item, Message):
                yield from self.process(item)
            else:
                self.summary.add_diagnostic(item)
                yield item

    def _finding(self, msg: Message, attr: Attribution, det: Detection) -> Finding:
        value = det.value if self.config.reveal else mask_value(det.type, det.value)
        return Finding(
            ts=msg.ts,
            flow=msg.community_id,
            src=msg.flow.src,
            dst=msg.flow.dst,
            host=attr.host,
            transport=msg.transport,
            party=attr.party,
            sdk=attr.sdk,
            type=det.type,
            method=det.method,
            confidence=det.confidence,
            where=det.where if self.config.reveal else _redact(det.where, (det,)),
            form=det.form,
            value=value,
            origin=msg.origin,
            trans_depth=msg.trans_depth,
            evidence=det.evidence,
        )


def _redact(text: str, detections: Iterable[Detection]) -> str:
    """Mask identifier values that traffic put into a name: a bare query parameter
    (``?869677023945285``), a JSON key, a DNS label. Masking only ``value`` would
    leave them in ``where`` and ``host``."""
    for det in detections:
        if len(det.value) >= 4 and det.value in text:
            text = text.replace(det.value, mask_value(det.type, det.value))
    return text
