"""Registrable domains (eTLD+1) from the public suffix list bundled with tldextract.

Only the snapshot shipped inside that package is used: analysis must give the
same answer offline and must never reach out to the network or write a cache
while it reads someone's traffic.

The snapshot is read here rather than through tldextract's own extractor:
importing tldextract pulls in requests and urllib3 and its first lookup builds
two tries, about a quarter of a second before the first packet, for a lookup
that needs one set of suffix rules. The answers are tldextract's (its ICANN
section, no private domains), including its handling of odd host strings; the
tests compare the two on generated hosts. Should the snapshot file ever move,
tldextract itself answers instead.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import scheme_chars

from leaktrace import cache as state_cache

SNAPSHOT_FILE = ".tld_set_snapshot"
MIN_RULES = 1000
"""Fewer ICANN rules than this means the snapshot is not the list it should be."""
_PRIVATE_SECTION = "// ===BEGIN PRIVATE DOMAINS==="
_UNICODE_DOTS = ("\u3002", "\uff0e", "\uff61")
_SCHEME_CHARS = frozenset(scheme_chars)
# A name of ASCII labels and nothing else: no scheme, path, user, port or space to
# cut off and no trailing dot, so it is its own host part.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def normalize_host(host: str) -> str:
    """Lower case, without a trailing dot, IPv6 brackets or a port.

    A normalised host normalises to itself, so the layers that each normalise
    what they are handed (attribution, SDK rules, registrable domains, policy)
    agree on a host: ``Example.com.:443`` loses its port and then its dot.
    """
    value = _trimmed(host.lower())
    if value.startswith("["):
        inner = value[1:]
        close = inner.find("]")
        if close != -1:
            inner = inner[:close]
        # Brackets inside brackets ("[[::1]]", from traffic) all go.
        value = _trimmed(inner.lstrip(WHITESPACE + "["))
    if value.count(":") == 1:
        value = _trimmed(value.partition(":")[0])
    return value


#: What ``str.strip()`` strips (``str.isspace``), for the strips that take more.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_TRAILING = WHITESPACE + "."


def _trimmed(value: str) -> str:
    """Without surrounding whitespace and trailing dots, in any mix; one pass each end,
    as a host from traffic may be a long run of them."""
    return value.lstrip().rstrip(_TRAILING)


def is_ip(host: str) -> bool:
    # An IP literal is dotted decimal or holds a colon: a name is answered without
    # ipaddress, whose two failed parses cost about 10 us a new host.
    if ":" not in host and not host.replace(".", "").isdecimal():
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str | None:
    """``api.shop.example.co.uk`` -> ``example.co.uk``; None for IP literals and bare suffixes."""
    value = normalize_host(host)
    if not value or is_ip(value):
        return None
    suffixes = _suffix_rules()
    if suffixes is None:
        fallback: str = _tldextract()(value).top_domain_under_public_suffix
        return fallback or None
    return suffixes.registrable(_host_part(value)) or None


@dataclass(frozen=True, slots=True)
class SuffixRules:
    """The ICANN rules of a public suffix list, as sets of dotted strings.

    ``nodes`` holds every label suffix of every rule (``uk``, ``co.uk``,
    ``*.ck``, ``!www.ck``): walking a host's labels right to left through
    ``nodes`` is walking a trie of the reversed rules, without building one.
    """

    rules: frozenset[str]
    nodes: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> SuffixRules:
        """Rules from list text: a rule is the first word of a line that does not
        start with a comment or a space, as tldextract reads it."""
        public = text.partition(_PRIVATE_SECTION)[0]
        rules: set[str] = set()
        for line in public.split("\n"):
            if not line or line[0].isspace():
                continue
            word = line.split(None, 1)[0]
            rest = word.lstrip(".*!")
            if rest and (rest[0].isalnum() or rest[0] == "_"):
                rules.add(word)
        nodes = set(rules)
        for rule in rules:
            dot = rule.find(".")
            while dot != -1:
                nodes.add(rule[dot + 1 :])
                dot = rule.find(".", dot + 1)
        return cls(frozenset(rules), frozenset(nodes))

    def suffix_start(self, labels: list[str]) -> int | None:
        """Index of the first label of the public suffix, or None when no rule applies.

        A wildcard rule claims one more label unless an exception rule names it.
        """
        start: int | None = None
        path = ""
        index = len(labels)
        for label in reversed(labels):
            decoded = _decode_label(label)
            candidate = f"{decoded}.{path}" if path else decoded
            if decoded and "." not in decoded and candidate in self.nodes:
                index -= 1
                path = candidate
                if candidate in self.rules:
                    start = index
                continue
            if (f"*.{path}" if path else "*") in self.nodes:
                exception = f"!{decoded}.{path}" if path else f"!{decoded}"
                return index if exception in self.nodes else index - 1
            break
        return start

    def registrable(self, host: str) -> str:
        """The label before the public suffix plus the suffix; empty when there is none."""
        for dot in _UNICODE_DOTS:
            host = host.replace(dot, ".")
        labels = host.split(".")
        start = self.suffix_start(labels)
        if start is None or start == 0:
            return ""
        suffix = ".".join(labels[start:])
        domain = labels[start - 1]
        return f"{domain}.{suffix}" if suffix and domain else ""


def _decode_label(label: str) -> str:
    """Lower case, and punycode labels in the Unicode form the list uses."""
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            import idna

            decoded: str = idna.decode(lowered)
        except (ImportError, UnicodeError, IndexError):
            return lowered
        return decoded
    return lowered


def _host_part(value: str) -> str:
    """The host of a URL-like string: what is left after a scheme, a path, user
    information and a port are cut off, the way tldextract reads its input."""
    if _PLAIN_NAME.fullmatch(value):
        return value  # what every host name in traffic is, answered at once
    schemeless = value
    slashes = value.find("//")
    if slashes == 0:
        schemeless = value[2:]
    elif (
        slashes >= 2 and value[slashes - 1] == ":" and not set(value[: slashes - 1]) - _SCHEME_CHARS
    ):
        schemeless = value[slashes + 2 :]
    authority = schemeless.partition("/")[0].partition("?")[0].partition("#")[0]
    after_userinfo = authority.rpartition("@")[-1]
    if after_userinfo.startswith("["):
        inside, bracket, _rest = after_userinfo.partition("]")
        if bracket:
            return f"{inside}]"
    hostname = after_userinfo.partition(":")[0].strip()
    return hostname.rstrip("." + "".join(_UNICODE_DOTS))


@lru_cache(maxsize=1)
def _suffix_rules() -> SuffixRules | None:
    """The rules from tldextract's bundled snapshot, found without importing tldextract.

    Parsed rules are kept in the per-user cache (``leaktrace.cache``): parsing the
    list cost every run's first lookup about five times what unpickling the sets
    costs (36 ms against 7 ms, measured together).
    """
    path = snapshot_path()
    if path is None:
        return None
    key = _rules_cache_key(path)
    if key is not None:
        cached = state_cache.load_object(_RULES_CACHE_KIND, key, SuffixRules)
        if cached is not None:
            return cached
    try:
        rules = SuffixRules.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    if len(rules.rules) < MIN_RULES:
        return None
    if key is not None and _rules_cache_key(path) == key:
        state_cache.store_object(_RULES_CACHE_KIND, key, rules, keep=2)
    return rules


_RULES_CACHE_KIND = "suffix-rules"


def _rules_cache_key(path: Path) -> str | None:
    """The snapshot file by name and status (``cache.file_stamp``, as the signature
    cache judges its files), and this module's code, which decides what the rules hold."""
    try:
        stamp = state_cache.file_stamp(path)
        code = state_cache.file_digest(Path(__file__))
    except OSError:
        return None
    return state_cache.make_key(_RULES_CACHE_KIND, str(path.resolve()), *stamp, code)


def snapshot_path() -> Path | None:
    """Where the public suffix list snapshot bundled with tldextract is installed."""
    try:
        spec = importlib.util.find_spec("tldextract")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SNAPSHOT_FILE
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=1)
def _tldextract() -> Any:
    """tldextract's own extractor, offline: the fallback, and the reference the tests use."""
    import tldextract

    return tldextract.TLDExtract(
        cache_dir=None,
        suffix_list_urls=(),
        fallback_to_snapshot=True,
        include_psl_private_domains=False,
    )


def __getattr__(name: str) -> Any:
    """``_EXTRACT``, tldextract's extractor, built on first use only."""
    if name == "_EXTRACT":
        return _tldextract()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
