"""Detectors: find identifiers in a message's decoded fields.

``DetectorSet`` is built once per run (it compiles every signature pattern and
every device-value variant into one scanner) and then called per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaktrace.detectors.engine import Backend, MultiPatternScanner, ScannerError
from leaktrace.detectors.location import TYPE_ID as LOCATION
from leaktrace.detectors.location import LocationDetector
from leaktrace.detectors.patterns import PatternDetector
from leaktrace.detectors.profile import ProfileDetector
from leaktrace.signatures.loader import SignatureError, SignatureSet
from leaktrace.types import Detection, Diagnostic, Field, slot_init

if TYPE_CHECKING:  # device values are read only when a run has a device file
    from leaktrace.profile import DeviceProfile

__all__ = ["DetectionResult", "DetectorSet", "dedupe"]

#: Field values up to this size are remembered with what they yielded.
MEMO_MAX_VALUE = 256
#: Remembered values per run; the memo starts over when full.
MEMO_MAX_ENTRIES = 8192

# Separators after which a longer ``where`` is the same value decoded further.
_CHAIN_SEPARATORS = frozenset(">.[/")


@slot_init
@dataclass(frozen=True, slots=True)
class DetectionResult:
    detections: list[Detection]
    diagnostics: list[Diagnostic]


class DetectorSet:
    """Pattern, device-profile and location detection over one scanner."""

    def __init__(
        self,
        signatures: SignatureSet,
        device: DeviceProfile | None = None,
        *,
        backend: Backend = "auto",
    ) -> None:
        self._patterns = PatternDetector(signatures.identifiers.values())
        self._profile = ProfileDetector(device)
        self._location = LocationDetector(
            signatures.identifiers.get(LOCATION), device.location if device else None
        )
        pattern_entries = self._patterns.entries
        profile_entries = self._profile.entries
        self._n_patterns = len(pattern_entries)
        self._n_literals = len(profile_entries)
        self._list_patterns = frozenset(self._patterns.over_lists)
        entries = [*pattern_entries, *profile_entries, *self._location.entries]
        try:
            self._scanner = MultiPatternScanner(entries, backend=backend)
        except ScannerError as exc:
            if 0 <= exc.index < self._n_patterns:
                name = self._patterns.pattern_id(exc.index)
                raise SignatureError([f"pattern {name}: {exc}"]) from exc
            raise SignatureError([f"scanner: {exc}"]) from exc
        self.setup_diagnostics: tuple[Diagnostic, ...] = self._profile.setup_diagnostics
        self._memo: dict[tuple[bytes, str | None], tuple[bool, tuple[Detection, ...]]] = {}

    @property
    def backend(self) -> str:
        return self._scanner.backend

    def detect(self, fields: Sequence[Field]) -> list[Detection]:
        """Deduplicated detections; use :meth:`run` to also get the limits that were hit."""
        return self.run(fields).detections

    def run(self, fields: Sequence[Field]) -> DetectionResult:
        found: list[Detection] = []
        diagnostics: list[Diagnostic] = []
        triggered: list[bool] = []
        memo = self._memo
        for field in fields:
            value = field.value
            if len(value) > MEMO_MAX_VALUE or field.joined:
                triggered.append(self._detect(field, found, diagnostics))
                continue
            # What a field yields depends on its value and key alone (``where`` is
            # only copied into the result), and traffic repeats both endlessly:
            # headers, paths, constants, the device's own identifiers.
            memo_key = (value, field.key)
            known = memo.get(memo_key)
            if known is None:
                mark = len(found)
                before = len(diagnostics)
                location = self._detect(field, found, diagnostics)
                if location:  # remembered with the value: ask once whether it gives anything
                    location = self._location.contributes(field)
                if len(diagnostics) == before:  # diagnostics name the field: not reusable
                    if len(memo) >= MEMO_MAX_ENTRIES:
                        memo.clear()
                    memo[memo_key] = (location, tuple(found[mark:]))
                triggered.append(location)
                continue
            location, detections = known
            triggered.append(location)
            where = field.where
            for det in detections:
                found.append(
                    Detection(
                        det.type,
                        det.value,
                        det.method,
                        det.confidence,
                        where,
                        det.form,
                        det.evidence,
                    )
                )
        if any(triggered):
            _split(self._location.detect(fields, triggered), found, diagnostics)
        return DetectionResult(dedupe(found), diagnostics)

    def _detect(self, field: Field, found: list[Detection], diagnostics: list[Diagnostic]) -> bool:
        """Scan one field, add what it holds; True when it may carry a coordinate."""
        hits = self._scanner.scan(field.value)
        if field.joined:  # each element was scanned alone: only the list patterns here
            hits = hits & self._list_patterns
        if not hits:
            return False
        n_patterns = self._n_patterns
        location_id = n_patterns + self._n_literals
        pattern_hits = [h for h in hits if h < n_patterns]
        literal_hits = [h - n_patterns for h in hits if n_patterns <= h < location_id]
        if pattern_hits:
            candidates = self._patterns.candidates(field, pattern_hits)
            if candidates:
                _split(self._patterns.confirm(field, candidates), found, diagnostics)
        if literal_hits:
            _split(self._profile.detect(field, literal_hits), found, diagnostics)
        return location_id in hits


def _split(
    items: Iterable[Detection | Diagnostic], found: list[Detection], diagnostics: list[Diagnostic]
) -> None:
    for item in items:
        if isinstance(item, Diagnostic):
            diagnostics.append(item)
        else:
            found.append(item)


def _rank(det: Detection) -> tuple[bool, float]:
    return det.method == "profile", det.confidence


def _strong(det: Detection) -> bool:
    return det.method == "profile" or any(e.startswith("key:") for e in det.evidence)


def _decoded_further(shallow: str, deep: str) -> bool:
    return (
        len(deep) > len(shallow)
        and deep.startswith(shallow)
        and deep[len(shallow)] in _CHAIN_SEPARATORS
    )


def dedupe(detections: Sequence[Detection]) -> list[Detection]:
    """Collapse detections of one identifier reached several ways, keeping first-seen order.

    1. Same (type, value, where): keep the profile match over a pattern
       match, then the highest confidence.
    2. Same (type, value) where one ``where`` is the other decoded further
       (``query:t`` and ``query:t>base64``): keep only the deeper one.
    3. Same (value, where) claimed by several types: when any claim is backed
       by a key hint or the device profile, drop the unbacked pattern claims
       (a keyed ``bssid`` is not also a ``mac``; a keyed ``imsi`` not an ``imei``).
    """
    if len(detections) < 2:
        return list(detections)  # nothing to collapse (most messages)
    best: dict[tuple[str, str, str], Detection] = {}
    for det in detections:
        key = (det.type, det.value, det.where)
        current = best.get(key)
        if current is None or _rank(det) > _rank(current):
            best[key] = det
    # dicts keep first-insertion order even when a value is replaced.
    kept = list(best.values())

    by_identity: dict[tuple[str, str], list[str]] = {}
    for det in kept:
        by_identity.setdefault((det.type, det.value), []).append(det.where)
    kept = [
        det
        for det in kept
        if not any(_decoded_further(det.where, w) for w in by_identity[(det.type, det.value)])
    ]

    strong_spots = {(det.value, det.where) for det in kept if _strong(det)}
    return [
        det
        for det in kept
        if _strong(det) or (det.value, det.where) not in strong_spots or det.method != "pattern"
    ]
