"""Which SDK a request belongs to, from its host (and, for shared hosts, its path).

Rules come from ``signatures/sdks``. A host is matched by walking its label
suffixes in a dict (``a.b.umeng.com``, ``b.umeng.com``, ``umeng.com``), so the
cost does not grow with the number of SDKs and the most specific rule wins.
Host regexes (imported lists) are only searched for hosts no name rule
claims, once per host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from leaktrace.attribution.domains import normalize_host
from leaktrace.signatures.loader import SignatureSet
from leaktrace.signatures.model import Endpoint, SdkSig

Headers = Sequence[tuple[str, str]]

CACHE_LIMIT = 65536
"""Hosts whose candidate rules are memoised; the memo is reset, not grown, past this."""


def split_target(target: str | None) -> tuple[str | None, str | None]:
    """(path, query) of an HTTP request-target in origin or absolute form, or a bare path."""
    if not target:
        return None, None
    if target.startswith("/"):
        path, sep, query = target.partition("?")
        return path, (query if sep else None)
    if "://" in target:
        try:
            parts = urlsplit(target)
        except ValueError:
            return None, None
        return parts.path or "/", (parts.query if "?" in target else None)
    return None, None  # authority form (CONNECT) or "*"


@dataclass(frozen=True, slots=True)
class Rule:
    sdk: SdkSig
    endpoint: Endpoint
    basis: str
    host_regex: re.Pattern[str] | None
    path: re.Pattern[str] | None
    query: re.Pattern[str] | None
    header_name: str | None
    header_value: re.Pattern[str] | None

    @property
    def narrowed(self) -> bool:
        return self.path is not None or self.header_name is not None

    def accepts(self, path: str | None, query: str | None, headers: Headers) -> bool:
        if self.path is not None and (path is None or self.path.search(path) is None):
            return False
        if self.query is not None and (query is None or self.query.search(query) is None):
            return False
        if self.header_name is not None:
            assert self.header_value is not None
            pattern = self.header_value
            if not any(
                name.lower() == self.header_name and pattern.search(value) is not None
                for name, value in headers
            ):
                return False
        return True


def _basis(endpoint: Endpoint) -> str:
    parts = []
    if endpoint.domain is not None:
        parts.append(f"domain:{endpoint.domain}")
    if endpoint.host is not None:
        parts.append(f"host:{endpoint.host}")
    if endpoint.host_regex is not None:
        parts.append(f"host_regex:{endpoint.host_regex}")
    if endpoint.path is not None:
        parts.append(f"path:{endpoint.path}")
    if endpoint.header is not None:
        parts.append(f"header:{endpoint.header.name.lower()}")
    return "+".join(parts)


def _rule(sdk: SdkSig, endpoint: Endpoint) -> Rule:
    header = endpoint.header
    return Rule(
        sdk=sdk,
        endpoint=endpoint,
        basis=_basis(endpoint),
        host_regex=re.compile(endpoint.host_regex) if endpoint.host_regex is not None else None,
        path=re.compile(endpoint.path) if endpoint.path is not None else None,
        query=re.compile(endpoint.query) if endpoint.query is not None else None,
        header_name=header.name.lower() if header is not None else None,
        header_value=re.compile(header.value) if header is not None else None,
    )


class SdkMatcher:
    def __init__(self, signatures: SignatureSet | Iterable[SdkSig]) -> None:
        sdks = signatures.sdks.values() if isinstance(signatures, SignatureSet) else signatures
        self._by_domain: dict[str, list[Rule]] = {}
        self._by_host: dict[str, list[Rule]] = {}
        self._by_regex: list[Rule] = []
        self._anywhere: list[Rule] = []
        for sdk in sdks:
            for endpoint in sdk.endpoints:
                rule = _rule(sdk, endpoint)
                if endpoint.host is not None:
                    self._by_host.setdefault(endpoint.host, []).append(rule)
                elif endpoint.domain is not None:
                    self._by_domain.setdefault(endpoint.domain, []).append(rule)
                elif endpoint.host_regex is not None:
                    self._by_regex.append(rule)
                else:
                    self._anywhere.append(rule)
        # Narrowed rules are tried before the plain rule for the same name.
        for table in (self._by_domain, self._by_host):
            for rules in table.values():
                rules.sort(key=lambda r: not r.narrowed)
        self._by_regex.sort(key=lambda r: not r.narrowed)
        self._memo: dict[str, tuple[Rule, ...]] = {}

    def candidates(self, host: str | None) -> tuple[Rule, ...]:
        """Rules that can apply to ``host``, most specific first."""
        key = normalize_host(host) if host else ""
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        rules: list[Rule] = []
        if key:
            exact = self._by_host.get(key)
            if exact:
                rules.extend(exact)
            # The host and each parent domain of two labels or more, longest first.
            by_domain = self._by_domain
            suffix = key
            dot = suffix.find(".")
            while dot != -1:
                under = by_domain.get(suffix)
                if under:
                    rules.extend(under)
                suffix = suffix[dot + 1 :]
                dot = suffix.find(".")
            rules.extend(
                r for r in self._by_regex if r.host_regex is not None and r.host_regex.search(key)
            )
        rules.extend(self._anywhere)
        if len(self._memo) >= CACHE_LIMIT:
            self._memo.clear()
        found = tuple(rules)
        self._memo[key] = found
        return found

    def relevance(self, host: str | None) -> tuple[bool, bool]:
        """Whether the path, and whether the headers, can change the answer for ``host``.

        Callers use it to decide what a memoised answer must be keyed on.
        """
        rules = self.candidates(host)
        return (
            any(rule.path is not None for rule in rules),
            any(rule.header_name is not None for rule in rules),
        )

    def explain(
        self, host: str | None, path: str | None = None, headers: Headers = ()
    ) -> list[tuple[Rule, bool]]:
        """Every rule that could apply to ``host``, in the order tried, and whether it accepts.

        The first accepting rule is the one :meth:`match` returns.
        """
        req_path, query = split_target(path)
        return [
            (rule, not rule.narrowed or rule.accepts(req_path, query, headers))
            for rule in self.candidates(host)
        ]

    def match(
        self, host: str | None, path: str | None = None, headers: Headers = ()
    ) -> tuple[SdkSig, str] | None:
        """The SDK and the basis of the match (``domain:umeng.com``), or None.

        ``path`` is the request path, optionally with ``?query``, or a full URL.
        """
        req_path, query = split_target(path)
        for rule in self.candidates(host):
            if not rule.narrowed or rule.accepts(req_path, query, headers):
                return rule.sdk, rule.basis
        return None
