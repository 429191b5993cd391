"""Key hints: the name a value travels under is the best evidence of what it is.

A hint comes either from the decoded field's key (``Field.key``) or, for raw
text such as ``imei=869...`` or an unparsed JSON blob, from the key written
just before the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from leaktrace.signatures.model import normalize_key

NEAR_WINDOW = 24
"""How many bytes before a match may hold its key, e.g. ``"device_id":"``."""

# What a key may hold besides ASCII letters and digits; normalize_key drops these, and
# fold_keys drops them from a whole value, so both must read the same set.
_KEY_SEPARATORS = b"_$.-"
# key, then quotes/escapes, then ':' '=' or '>' (XML), then opening quotes/brackets.
_KEY_BEFORE = re.compile(
    rb"([A-Za-z0-9" + re.escape(_KEY_SEPARATORS) + rb"]{1,40})[\s\"'\\]*[:=>][\s\"'\\\[]*\Z"
)
_SUFFIX_MIN = 4
_MEMO_MAX = 4096


class KeyHints:
    """Match payload keys against a type's normalised hint names.

    Hints of four or more characters also match as a suffix (``userPhone``
    ends with ``phone``); short ones such as ``did`` or ``mac`` must match
    the whole key, or ``imac`` and ``candid`` would count.
    """

    __slots__ = ("_exact", "_keyed", "_memo", "_spellings", "_suffixes")

    def __init__(self, hints: Iterable[str]) -> None:
        self._exact = frozenset(normalize_key(h) for h in hints if normalize_key(h))
        self._suffixes = tuple(sorted(h for h in self._exact if len(h) >= _SUFFIX_MIN))
        # The hints a key written in a payload can spell: key_before reads ASCII only.
        self._spellings = tuple(sorted(h.encode() for h in self._exact if h.isascii()))
        self._keyed: re.Pattern[bytes] | None = None  # made when first needed
        # Answers for keys already seen: traffic repeats a handful of keys endlessly.
        self._memo: dict[str, str | None] = {}

    def __bool__(self) -> bool:
        return bool(self._exact)

    def match(self, key: str | None) -> str | None:
        """The hint that ``key`` satisfies, if any."""
        if not key or not self._exact:
            return None
        return self.match_normalized(normalize_key(key))

    def match_normalized(self, norm: str) -> str | None:
        """Like :meth:`match` for a key already passed through ``normalize_key``."""
        if not norm:
            return None
        memo = self._memo
        if norm in memo:
            return memo[norm]
        found: str | None = None
        if norm in self._exact:
            found = norm
        else:
            for hint in self._suffixes:
                if norm.endswith(hint):
                    found = hint
                    break
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[norm] = found
        return found

    def spelt_in(self, folded: bytes) -> bool:
        """Whether any key in the value that ``folded`` (``fold_keys``) was made from
        could name one of the hints.

        A key names a hint only if its folded text ends with the hint, and a key
        is followed by quotes or spaces and then ``:``, ``=`` or ``>``, none of
        which folding removes: so the folded value holds the hint right before
        those. A hint merely spelt somewhere is not enough: in a large binary body
        a two-letter hint such as ``sn`` turns up by chance, followed by a ``=``
        far more rarely, and each chance hit cost a regex pass over the whole
        body for nothing.
        """
        keyed = self._keyed
        if keyed is None:
            expression = self.keyed_expression()
            if expression is None:
                return False
            keyed = self._keyed = re.compile(expression)
        return keyed.search(folded) is not None

    def keyed_expression(self) -> bytes | None:
        """The regex :meth:`spelt_in` searches a folded value for (None without ASCII
        hints): a spelling where key_before could read it, at the end of a key, so
        followed by what ``_KEY_BEFORE`` allows between a key and its ``:``, ``=`` or
        ``>``, then that."""
        if not self._spellings:
            return None
        names = b"|".join(re.escape(s) for s in self._spellings)
        return b"(?:" + names + rb")[\s\"'\\]*[:=>]"

    def match_near(self, value: bytes, start: int) -> str | None:
        """The hint named by the key written right before ``value[start:]``."""
        if not self._exact:
            return None
        return self.match_normalized(key_before(value, start))


def fold_keys(value: bytes) -> bytes:
    """``value`` as ``normalize_key`` folds the keys ``key_before`` reads in it: ASCII
    letters lowered and the separators a key may hold (``_ $ . -``) taken out."""
    return value.lower().translate(None, _KEY_SEPARATORS)


def key_before(value: bytes, start: int) -> str:
    """The normalised key written right before ``value[start:]``, or ``""``."""
    if start <= 0:
        return ""
    m = _KEY_BEFORE.search(value, max(0, start - NEAR_WINDOW), start)
    return normalize_key(m.group(1).decode("ascii")) if m is not None else ""


class KeysBefore:
    """Memoised :func:`key_before` for one value.

    Several patterns (IMEI, keyed IMSI, bank card) match at the same offsets,
    so each offset's key is read once per field.
    """

    __slots__ = ("_seen", "_value")

    def __init__(self, value: bytes) -> None:
        self._value = value
        self._seen: dict[int, str] = {}

    def at(self, start: int) -> str:
        found = self._seen.get(start)
        if found is None:
            found = self._seen[start] = key_before(self._value, start)
        return found
