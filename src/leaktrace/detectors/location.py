"""Coordinates in traffic: lat/lng field pairs, ``lat,lng`` values and pairs inside raw text.

A location is two numbers, usually in two fields, so this detector looks at a
whole message at once. Without a device fix it reports any valid-looking pair
(pattern mode); with one it projects the fix into GCJ-02 and BD-09 and reports
pairs within the fix's radius, naming the datum in ``form`` (profile mode).
Longitude-first order, common in Chinese map SDKs, is handled both ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaktrace.detectors.engine import ScanEntry
from leaktrace.detectors.geo import haversine_m, in_china_box, wgs84_to_bd09, wgs84_to_gcj02
from leaktrace.detectors.keys import KeyHints
from leaktrace.signatures.model import IdentifierSig, normalize_key
from leaktrace.types import Detection, Diagnostic, Field, slot_init

if TYPE_CHECKING:
    from leaktrace.profile import DeviceLocation

TYPE_ID = "location"
TRIGGER = rb"[0-9]\.[0-9]{2}"
"""Scanner entry: only fields holding a decimal with two or more places are examined."""

MAX_NUMBERS = 256
"""Labelled numbers or number pairs examined per field of raw text."""

MAX_SIBLINGS = 16
"""lat-like (or lng-like) fields paired per parent object."""

PAIR_GAP = 64
"""Largest byte distance between a labelled latitude and its longitude in raw text."""

MIN_PATTERN_DECIMALS = 3
MIN_PROFILE_DECIMALS = 2
TRUNCATED_DECIMALS = 4
DEFAULT_BASE = 0.5
DEFAULT_WITH_KEY = 0.9

_NUM = rb"-?[0-9]{1,3}\.[0-9]{2,}"
_SEP = rb"(?:\s?(?:[,;|_]|%2[Cc])\s?|\s)"
_WHOLE_NUM = re.compile(rb"\s*[\"']?(-?[0-9]{1,3}\.[0-9]+)[\"']?\s*")
_WHOLE_PAIR = re.compile(
    rb"\s*[\[(\"']?\s*(" + _NUM + rb")" + _SEP + rb"\s*(" + _NUM + rb")\s*[\])\"']?\s*"
)
_RAW_PAIR = re.compile(
    rb"(?<![0-9.])(" + _NUM + rb")" + _SEP + rb"(" + _NUM + rb")(?![0-9]|\.[0-9])"
)
_LABELLED = re.compile(
    rb"([A-Za-z_$][A-Za-z0-9_$]{0,30})[\\\"']*\s*[:=]\s*[\\\"']*(" + _NUM + rb")(?![0-9])"
)
_LAST_KEY = re.compile(r"[^.>:\[/]*\Z")

_LAT_KEYS = frozenset({"lat", "latitude", "la", "y", "lati", "gpslat", "wgslat", "wgs84lat"})
_LNG_KEYS = frozenset({"lng", "lon", "long", "longitude", "lo", "x", "longi", "gpslng", "gpslon"})
_AXIS_PREFIXES = ("gps", "wgs", "gcj", "bd", "loc", "cur", "user", "my", "last", "device")


def axis_of(key: str | None) -> str | None:
    """``"lat"``, ``"lng"`` or None for a payload key."""
    if not key:
        return None
    norm = normalize_key(key)
    if norm in _LAT_KEYS or norm.endswith("latitude"):
        return "lat"
    if norm in _LNG_KEYS or norm.endswith("longitude") or (len(norm) > 3 and norm.endswith("lng")):
        return "lng"
    for prefix in _AXIS_PREFIXES:
        rest = norm.removeprefix(prefix)
        if rest != norm:
            if rest == "lat":
                return "lat"
            if rest in ("lon", "lng"):
                return "lng"
    return None


def parent_of(where: str, key: str | None) -> str:
    """The ``where`` of the object holding a field: its chain without the last key."""
    if key:
        idx = where.rfind(key)
        if idx >= 0 and all(ch in "'\"]" for ch in where[idx + len(key) :]):
            return where[:idx]
    m = _LAST_KEY.search(where)
    return where[: m.start()] if m else where


@slot_init
@dataclass(frozen=True, slots=True)
class Number:
    text: str
    value: float
    decimals: int


def _number(raw: bytes) -> Number:
    text = raw.decode("ascii")
    return Number(text=text, value=float(text), decimals=len(text.partition(".")[2]))


@slot_init
@dataclass(frozen=True, slots=True)
class Candidate:
    """Two numbers that may be a coordinate pair, in the order they were found."""

    first: Number
    second: Number
    where: str
    labelled: bool  # True: first is the latitude and second the longitude, by key names
    evidence: tuple[str, ...] = ()  # key hints that name a location


def _unlabelled(pair: re.Match[bytes], where: str, hint: str | None) -> Candidate:
    """Two numbers found side by side (groups 1 and 2), no key naming which is which;
    ``hint`` is a location key the field or the text near them gives, if any."""
    return Candidate(
        _number(pair.group(1)),
        _number(pair.group(2)),
        where,
        labelled=False,
        evidence=(f"key:{hint}",) if hint else (),
    )


@slot_init
@dataclass(frozen=True, slots=True)
class _Single:
    index: int
    field: Field
    axis: str
    number: Number


class LocationDetector:
    def __init__(self, sig: IdentifierSig | None, device: DeviceLocation | None) -> None:
        self._hints = KeyHints(sig.hints if sig is not None else ())
        self._base = sig.confidence.base if sig is not None else DEFAULT_BASE
        self._with_key = sig.confidence.with_key if sig is not None else DEFAULT_WITH_KEY
        self._device = device
        self._projections: tuple[tuple[str, float, float], ...] = ()
        if device is not None:
            self._projections = (
                ("wgs84", device.lat, device.lng),
                ("gcj02", *wgs84_to_gcj02(device.lat, device.lng)),
                ("bd09", *wgs84_to_bd09(device.lat, device.lng)),
            )

    @property
    def entries(self) -> list[ScanEntry]:
        return [ScanEntry(TRIGGER)]

    # ------------------------------------------------------------------ candidates

    def candidates(
        self, fields: Sequence[Field], triggered: Sequence[bool]
    ) -> Iterator[Candidate | Diagnostic]:
        singles: dict[str, list[_Single]] = {}
        for index, field in enumerate(fields):
            if not triggered[index]:
                continue
            for item in self._of_field(index, field):
                if isinstance(item, _Single):
                    singles.setdefault(parent_of(field.where, field.key), []).append(item)
                else:
                    yield item
        for group in singles.values():
            yield from self._pair_siblings(group)

    def contributes(self, field: Field) -> bool:
        """Whether a field gives this detector anything at all: a number under a latitude
        or longitude key, a pair, or raw text holding either (or too many of them).

        That depends on the field's value and key alone, its place only naming what it
        gives, so the answer can be remembered with the value. The scanner's trigger
        also fires on version strings ("okhttp/4.12.0" in every request's User-Agent),
        which give nothing and need not bring the whole message here."""
        return next(self._of_field(0, field), None) is not None

    def _of_field(self, index: int, field: Field) -> Iterator[_Single | Candidate | Diagnostic]:
        value = field.value
        whole = _WHOLE_NUM.fullmatch(value)
        if whole is not None:
            axis = axis_of(field.key)
            if axis is not None:
                yield _Single(index, field, axis, _number(whole.group(1)))
            return
        pair = _WHOLE_PAIR.fullmatch(value)
        if pair is not None:
            yield _unlabelled(pair, field.where, self._hints.match(field.key))
            return
        yield from self._raw(field)

    def _pair_siblings(self, group: list[_Single]) -> Iterator[Candidate | Diagnostic]:
        lats = [s for s in group if s.axis == "lat"]
        lngs = [s for s in group if s.axis == "lng"]
        if len(lats) > MAX_SIBLINGS or len(lngs) > MAX_SIBLINGS:
            yield Diagnostic(
                name="detect_limit",
                detail=(
                    f"location: more than {MAX_SIBLINGS} lat/lng fields under "
                    f"{parent_of(group[0].field.where, group[0].field.key)!r}; rest not paired"
                ),
            )
        for lat in lats[:MAX_SIBLINGS]:
            if not lngs:
                break
            lng = min(lngs[:MAX_SIBLINGS], key=lambda s: abs(s.index - lat.index))
            yield Candidate(
                lat.number,
                lng.number,
                lat.field.where,
                labelled=True,
                evidence=(
                    f"key:{normalize_key(lat.field.key or '')}",
                    f"key:{normalize_key(lng.field.key or '')}",
                ),
            )

    def _raw(self, field: Field) -> Iterator[Candidate | Diagnostic]:
        value = field.value
        used: list[tuple[int, int]] = []
        labelled: list[tuple[str, Number, int, int, str]] = []
        for count, m in enumerate(_LABELLED.finditer(value)):
            if count >= MAX_NUMBERS:
                yield _limit(field, "labelled numbers")
                break
            axis = axis_of(m.group(1).decode("ascii"))
            if axis is not None:
                key = normalize_key(m.group(1).decode("ascii"))
                labelled.append((axis, _number(m.group(2)), m.start(2), m.end(2), key))
        i = 0
        while i + 1 < len(labelled):
            a, b = labelled[i], labelled[i + 1]
            if a[0] != b[0] and b[2] - a[3] <= PAIR_GAP:
                lat, lng = (a, b) if a[0] == "lat" else (b, a)
                used += [(a[2], a[3]), (b[2], b[3])]
                yield Candidate(
                    lat[1],
                    lng[1],
                    field.where,
                    labelled=True,
                    evidence=(f"key:{lat[4]}", f"key:{lng[4]}"),
                )
                i += 2
            else:
                i += 1
        field_hint = self._hints.match(field.key)
        for count, m in enumerate(_RAW_PAIR.finditer(value)):
            if count >= MAX_NUMBERS:
                yield _limit(field, "number pairs")
                break
            if any(s < m.end() and m.start() < e for s, e in used):
                continue
            yield _unlabelled(
                m, field.where, field_hint or self._hints.match_near(value, m.start())
            )

    # ------------------------------------------------------------------ decisions

    def detect(
        self, fields: Sequence[Field], triggered: Sequence[bool]
    ) -> Iterator[Detection | Diagnostic]:
        """Detections for one message's fields; ``triggered[i]`` says the scanner saw a decimal."""
        for cand in self.candidates(fields, triggered):
            if isinstance(cand, Diagnostic):
                yield cand
                continue
            found = self._match_device(cand) if self._device is not None else None
            if found is None:
                found = self._pattern(cand)
            if found is not None:
                yield found

    def _pattern(self, cand: Candidate) -> Detection | None:
        oriented = _orient(cand)
        if oriented is None:
            return None
        lat, lng, swapped = oriented
        if min(lat.decimals, lng.decimals) < MIN_PATTERN_DECIMALS:
            return None
        if lat.value == 0.0 and lng.value == 0.0:
            return None
        keyed = cand.labelled or bool(cand.evidence)
        # Bare pairs of small fractions are scores and ratios far more often than places.
        if not keyed and (abs(lat.value) < 1.0 or abs(lng.value) < 1.0):
            return None
        evidence = ("range_ok", *cand.evidence, *(("order:lnglat",) if swapped else ()))
        return Detection(
            type=TYPE_ID,
            value=f"{lat.text},{lng.text}",
            method="pattern",
            confidence=self._with_key if keyed else self._base,
            where=cand.where,
            form="plain",
            evidence=evidence,
        )

    def _match_device(self, cand: Candidate) -> Detection | None:
        assert self._device is not None
        if min(cand.first.decimals, cand.second.decimals) < MIN_PROFILE_DECIMALS:
            return None
        orders = [(cand.first, cand.second, False)]
        if not cand.labelled:
            orders.append((cand.second, cand.first, True))
        best: tuple[float, str, bool] | None = None
        for lat, lng, swapped in orders:
            if abs(lat.value) > 90.0 or abs(lng.value) > 180.0:
                continue
            truncated = min(lat.decimals, lng.decimals) <= TRUNCATED_DECIMALS
            for system, plat, plng in self._projections:
                dist = haversine_m(lat.value, lng.value, plat, plng)
                near = dist <= self._device.radius_m
                cut = truncated and _cut_from(lat, plat) and _cut_from(lng, plng)
                if (near or cut) and (best is None or dist < best[0]):
                    best = (dist, system + ("_truncated" if truncated else ""), swapped)
        if best is None:
            return None
        dist, form, swapped = best
        evidence = (f"distance_m:{round(dist)}", *cand.evidence, *(("swapped",) if swapped else ()))
        return Detection(
            type=TYPE_ID,
            value=self._device.plain,
            method="profile",
            confidence=0.9 if form.endswith("_truncated") else 1.0,
            where=cand.where,
            form=form,
            evidence=evidence,
        )


def _orient(cand: Candidate) -> tuple[Number, Number, bool] | None:
    """(lat, lng, swapped) for a candidate, or None when no order is in range."""
    a, b = cand.first, cand.second
    if cand.labelled:
        return (a, b, False) if abs(a.value) <= 90.0 and abs(b.value) <= 180.0 else None
    options = []
    if abs(a.value) <= 90.0 and abs(b.value) <= 180.0:
        options.append((a, b, False))
    if abs(b.value) <= 90.0 and abs(a.value) <= 180.0:
        options.append((b, a, True))
    if not options:
        return None
    if len(options) == 2:
        # Both orders are in range; China's box settles it (lat < 56 < 72 < lng there).
        for lat, lng, swapped in options:
            if in_china_box(lat.value, lng.value):
                return lat, lng, swapped
    return options[0]


def _cut_from(number: Number, exact: float) -> bool:
    """True when ``number`` is ``exact`` truncated or rounded to its own decimals."""
    return abs(number.value - exact) <= 10.0 ** (-number.decimals) + 1e-9


def _limit(field: Field, what: str) -> Diagnostic:
    return Diagnostic(
        name="detect_limit",
        detail=f"location: more than {MAX_NUMBERS} {what} in {field.where}; rest not examined",
    )
