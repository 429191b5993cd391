"""Find the device's own identifiers, however they were disguised.

SDKs rarely send an IMEI or MAC as-is: they upper-case it, strip separators,
hash it (MD5/SHA-1/SHA-256, hex or base64) or base64 it. Every such variant of
every device value is precomputed once as a literal for the scanner, so a
hashed identifier costs no more to find than a plain one. The finding keeps
the device's plain value and records the disguise in ``form``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, quote_plus

from leaktrace.detectors.canonical import canonical_mac, canonical_value
from leaktrace.detectors.engine import ScanEntry
from leaktrace.detectors.validators import cn_mobile_national
from leaktrace.types import Detection, Diagnostic, Field

if TYPE_CHECKING:
    from leaktrace.profile import DeviceProfile

MIN_VALUE_BYTES = 4
"""Shorter device values would match everywhere; they are skipped with a diagnostic."""

MIN_BASE64_SOURCE = 6
"""Base64 of shorter values is a handful of characters, too common to mean anything."""

MAX_OCCURRENCES = 1000

FOLDED_CONFIDENCE = 0.9
_HASHES = ("md5", "sha1", "sha256")

Boundary = Literal["none", "digit", "alnum"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One spelling of one device value that the scanner looks for."""

    type_id: str
    value: str  # canonical plain value reported in the Detection
    form: str
    needle: bytes
    caseless: bool
    confidence: float
    boundary: Boundary
    evidence: tuple[str, ...] = ()


def _boundary(needle: bytes) -> Boundary:
    """Digits must not continue into more digits; other ASCII words not into more letters.

    ``13800138000`` inside ``8613800138000`` is the e164 needle's match, and
    an SSID ``HomeNet-5G`` inside ``MyHomeNet-5Gx`` is a different network.
    Values that begin and end in non-ASCII text (CJK names) have no word
    boundary to check.
    """
    if needle.isdigit():
        return "digit"
    if needle[:1].isalnum() or needle[-1:].isalnum():
        return "alnum"
    return "none"


def _b64(data: bytes) -> list[bytes]:
    """Standard and URL-safe alphabets, padding dropped so both padded forms match."""
    std = base64.b64encode(data).rstrip(b"=")
    url = base64.urlsafe_b64encode(data).rstrip(b"=")
    return [std] if std == url else [std, url]


def _spellings(type_id: str, raw: str, canonical: str) -> list[tuple[str, str, float, str]]:
    """(form, text, confidence, preimage label) for the plain-text spellings of a value."""
    out: list[tuple[str, str, float, str]] = [("plain", raw, 1.0, "plain")]
    if type_id in ("mac", "bssid"):
        colon = canonical_mac(raw)
        nosep = colon.replace(":", "")
        out += [
            ("lower", colon, FOLDED_CONFIDENCE, "lower"),
            ("upper", colon.upper(), FOLDED_CONFIDENCE, "upper"),
            ("plain", colon.replace(":", "-"), 1.0, "dashes"),
            ("upper", colon.replace(":", "-").upper(), FOLDED_CONFIDENCE, "dashes_upper"),
            ("nosep", nosep, 1.0, "nosep"),
            ("nosep", nosep.upper(), 1.0, "nosep_upper"),
        ]
    if type_id == "phone":
        national = cn_mobile_national(raw)
        if national is not None:
            out += [
                ("national", national, 1.0, "national"),
                ("e164", "+86" + national, 1.0, "e164"),
                ("e164", "86" + national, 1.0, "e164_noplus"),
                ("e164", "0086" + national, 1.0, "e164_0086"),
            ]
        elif canonical.startswith("+"):
            out.append(("e164", canonical, 1.0, "e164"))
    # Type-specific spellings come first so they name the form of a shared needle.
    return [
        *out,
        ("plain", canonical, 1.0, "canonical"),
        ("upper", raw.upper(), FOLDED_CONFIDENCE, "upper"),
        ("lower", raw.lower(), FOLDED_CONFIDENCE, "lower"),
    ]


def variants_for(type_id: str, raw: str) -> list[Variant]:
    """Every needle for one device value; the first variant of a given needle wins."""
    canonical = canonical_value(type_id, raw)
    found: dict[tuple[bytes, bool], Variant] = {}

    def add(form: str, needle: bytes, caseless: bool, conf: float, *ev: str) -> None:
        key = (needle.lower() if caseless else needle, caseless)
        if len(needle) >= MIN_VALUE_BYTES and key not in found:
            found[key] = Variant(
                type_id=type_id,
                value=canonical,
                form=form,
                needle=needle.lower() if caseless else needle,
                caseless=caseless,
                confidence=conf,
                boundary=_boundary(needle),
                evidence=ev,
            )

    spellings = _spellings(type_id, raw, canonical)
    for form, text, conf, _label in spellings:
        add(form, text.encode("utf-8"), False, conf)
    preimages: dict[str, str] = {}
    for _form, text, _conf, label in spellings:
        preimages.setdefault(text, label)
    for text, label in preimages.items():
        data = text.encode("utf-8")
        for algo in _HASHES:
            digest = hashlib.new(algo, data).digest()
            add(algo, digest.hex().encode("ascii"), True, 1.0, f"preimage:{label}")
            for encoded in _b64(digest):
                add(f"{algo}_base64", encoded, False, 1.0, f"preimage:{label}")
        if len(data) >= MIN_BASE64_SOURCE:
            for encoded in _b64(data):
                add("base64", encoded, False, 1.0, f"preimage:{label}")
        for quoted in {quote(text, safe=""), quote_plus(text, safe="")}:
            if quoted != text:
                add("urlencoded", quoted.encode("ascii"), False, 1.0, f"preimage:{label}")
    return list(found.values())


def _standalone(hay: bytes, start: int, end: int, boundary: Boundary) -> bool:
    if boundary == "none":
        return True
    before = hay[start - 1 : start]
    after = hay[end : end + 1]
    if boundary == "digit":
        return not before.isdigit() and not after.isdigit()
    # Only an alphanumeric end of the needle can run into a neighbour.
    first, last = hay[start : start + 1], hay[end - 1 : end]
    return not (first.isalnum() and before.isalnum()) and not (last.isalnum() and after.isalnum())


class ProfileDetector:
    """Literal matching of device-value variants, confirmed for word boundaries."""

    def __init__(self, device: DeviceProfile | None) -> None:
        variants: list[Variant] = []
        skipped: list[Diagnostic] = []
        if device is not None:
            for type_id, raw in device.values():
                if len(raw.encode("utf-8")) < MIN_VALUE_BYTES:
                    skipped.append(
                        Diagnostic(
                            name="profile_value_ignored",
                            detail=(
                                f"{type_id}: value shorter than {MIN_VALUE_BYTES} bytes "
                                "would match everywhere"
                            ),
                        )
                    )
                    continue
                variants.extend(variants_for(type_id, raw))
        self.variants: tuple[Variant, ...] = tuple(variants)
        self.setup_diagnostics: tuple[Diagnostic, ...] = tuple(skipped)

    @property
    def entries(self) -> list[ScanEntry]:
        return [ScanEntry(v.needle, literal=True, caseless=v.caseless) for v in self.variants]

    def detect(self, field: Field, hits: Iterable[int]) -> Iterator[Detection | Diagnostic]:
        lowered: bytes | None = None
        for index in sorted(hits):
            variant = self.variants[index]
            if variant.caseless:
                if lowered is None:
                    lowered = field.value.lower()
                hay = lowered
            else:
                hay = field.value
            found, capped = self._occurs(hay, variant)
            if capped:
                yield Diagnostic(
                    name="detect_limit",
                    detail=(
                        f"profile {variant.type_id}/{variant.form}: more than {MAX_OCCURRENCES} "
                        f"occurrences in {field.where} without a word boundary; rest skipped"
                    ),
                )
            if found:
                yield Detection(
                    type=variant.type_id,
                    value=variant.value,
                    method="profile",
                    confidence=variant.confidence,
                    where=field.where,
                    form=variant.form,
                    evidence=variant.evidence,
                )

    @staticmethod
    def _occurs(hay: bytes, variant: Variant) -> tuple[bool, bool]:
        """(found standing alone, gave up after MAX_OCCURRENCES embedded ones)."""
        needle = variant.needle
        start = hay.find(needle)
        tries = 0
        while start >= 0:
            if _standalone(hay, start, start + len(needle), variant.boundary):
                return True, False
            tries += 1
            if tries >= MAX_OCCURRENCES:
                return False, True
            start = hay.find(needle, start + 1)
        return False, False
