"""Identifiers recognised by their shape: signature regex, then validator, then key hint.

Only the patterns the scanner reported for a field are run with ``re``, and
a match counts only if its validator agrees and, for shapes that are common
in ordinary traffic (UUIDs, 16-hex strings), a key hint names the type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from leaktrace.detectors.canonical import canonical_value
from leaktrace.detectors.engine import MultiPatternScanner, ScanEntry
from leaktrace.detectors.keys import KeyHints, KeysBefore, fold_keys
from leaktrace.detectors.validators import VALIDATORS, ValidatorSpec
from leaktrace.signatures.model import IdentifierSig, PatternSig, normalize_key
from leaktrace.types import Detection, Diagnostic, Field

MAX_CANDIDATES = 1000
"""Regex matches examined per pattern per field; more is a blob, not a payload."""

KEYED_DIRECT_MAX = 1024
"""Past this many bytes of folded value, the key-only rules' hints are looked for in
one scanner pass for all of them rather than a regex search each."""


@dataclass(frozen=True, slots=True)
class _Rule:
    type_id: str
    pattern: PatternSig
    regex: re.Pattern[bytes]
    validator: ValidatorSpec | None
    hints: KeyHints
    base: float
    with_key: float


class PatternDetector:
    """Confirms the scanner's candidate hits for identifier patterns."""

    def __init__(self, identifiers: Iterable[IdentifierSig]) -> None:
        rules: list[_Rule] = []
        for ident in identifiers:
            hints = KeyHints(ident.hints)
            for pattern in ident.patterns:
                conf = pattern.confidence or ident.confidence
                rules.append(
                    _Rule(
                        type_id=ident.id,
                        pattern=pattern,
                        regex=pattern.compiled,
                        validator=VALIDATORS[pattern.validator] if pattern.validator else None,
                        hints=hints,
                        base=conf.base,
                        with_key=conf.with_key,
                    )
                )
        self._rules = tuple(rules)
        self._keyed: MultiPatternScanner | None = None  # made when first needed
        self._keyed_ids: list[int] = []  # the rule index of each of its entries

    def _keyed_rules(self, folded: bytes) -> set[int]:
        """The key-only rules whose hints :meth:`KeyHints.spelt_in` ``folded`` (or more:
        hyperscan may over-report), from one scanner pass for all of them; for large
        values, where a pass per rule costs a read of the whole value each."""
        if self._keyed is None:
            entries: list[ScanEntry] = []
            for index, rule in enumerate(self._rules):
                expression = rule.hints.keyed_expression() if rule.pattern.requires_key else None
                if expression is not None:
                    entries.append(ScanEntry(expression))
                    self._keyed_ids.append(index)
            self._keyed = MultiPatternScanner(entries)
        ids = self._keyed_ids
        return {ids[hit] for hit in self._keyed.scan(folded)}

    @property
    def entries(self) -> list[ScanEntry]:
        return [
            ScanEntry(r.pattern.regex.encode("ascii"), literal=False, caseless=r.pattern.caseless)
            for r in self._rules
        ]

    @property
    def over_lists(self) -> list[int]:
        """The indexes into ``entries`` of the patterns that also run over joined lists."""
        return [i for i, r in enumerate(self._rules) if r.pattern.over_lists]

    def pattern_id(self, index: int) -> str:
        return self._rules[index].pattern.id

    def detect(self, field: Field, hits: Iterable[int]) -> Iterator[Detection | Diagnostic]:
        """Detections for the rules at ``hits`` (indexes into ``entries``)."""
        return self.confirm(field, self.candidates(field, hits))

    def candidates(self, field: Field, hits: Iterable[int]) -> list[tuple[_Rule, str | None]]:
        """The rules at ``hits`` that could still match, with the hint the field's key gives.

        A key-only rule (a cell id is any number) whose hints the field's key does
        not name is out before any regex runs when no key in the value could name
        them either: when the value has nowhere to write a key, or none of the
        hints is spelt in it. In ordinary traffic that is most of the scanner's
        number hits; in a binary upload it was a thousand key lookups per 64 KiB
        chunk, a cell id's digit run being everywhere in random bytes.
        """
        value = field.value
        key = normalize_key(field.key) if field.key else ""
        # A key written inside the value needs one of these before the match (see
        # keys.key_before); without them a key-only rule cannot match in this field.
        keyable = b"=" in value or b":" in value or b">" in value
        folded: bytes | None = None
        keyed: set[int] | None = None  # for a large value, all rules' answers at once
        out: list[tuple[_Rule, str | None]] = []
        for index in sorted(hits):
            rule = self._rules[index]
            field_hint = rule.hints.match_normalized(key)
            if field_hint is None and rule.pattern.requires_key:
                if not keyable:
                    continue
                if folded is None:
                    folded = fold_keys(value)
                    if len(folded) > KEYED_DIRECT_MAX:
                        keyed = self._keyed_rules(folded)
                if keyed is not None:
                    if index not in keyed:
                        continue
                elif not rule.hints.spelt_in(folded):
                    continue
            out.append((rule, field_hint))
        return out

    def confirm(
        self, field: Field, candidates: list[tuple[_Rule, str | None]]
    ) -> Iterator[Detection | Diagnostic]:
        """Run each candidate rule's regex, validator and key check over the field."""
        value = field.value
        keys_before = KeysBefore(value)
        for rule, field_hint in candidates:
            seen: dict[str, bool] = {}  # canonical value -> already reported with a hint
            for count, m in enumerate(rule.regex.finditer(value)):
                if count >= MAX_CANDIDATES:
                    yield Diagnostic(
                        name="detect_limit",
                        detail=(
                            f"{rule.pattern.id}: more than {MAX_CANDIDATES} candidates in "
                            f"{field.where}; the rest were not examined"
                        ),
                    )
                    break
                # The key check is cheaper than most validators, so it goes first.
                hint = field_hint or rule.hints.match_normalized(keys_before.at(m.start()))
                if rule.pattern.requires_key and hint is None:
                    continue
                text = m.group(0).decode("latin-1")
                if rule.validator is not None and not rule.validator.check(text):
                    continue
                canonical = canonical_value(rule.type_id, text)
                if canonical in seen and (seen[canonical] or hint is None):
                    continue
                seen[canonical] = hint is not None
                evidence: list[str] = []
                if rule.validator is not None:
                    evidence.append(rule.validator.evidence)
                if hint is not None:
                    evidence.append(f"key:{hint}")
                yield Detection(
                    type=rule.type_id,
                    value=canonical,
                    method="pattern",
                    confidence=rule.with_key if hint is not None else rule.base,
                    where=field.where,
                    form="plain",
                    evidence=tuple(evidence),
                )
