"""Convert an Exodus Privacy tracker export into leaktrace SDK signature files.

Exodus keeps one regex over host names per tracker (``network_signature``).
Most are alternations of escaped domains, which become label-boundary suffix
rules here: tighter than Exodus's unanchored search (``facebook\\.com`` also
matches ``notfacebook.com``) and cheap to match. Anything else is kept as a
``host_regex`` rule with Exodus's own search semantics, or skipped with the
reason, so a user sees exactly what did not carry over.

Sans-IO: JSON text in, YAML texts and a skip list out; the CLI writes files.
Entries the bundled catalogue already covers are left out, so the output can
be layered with ``--signatures`` without duplicate-rule errors.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from leaktrace.attribution.sdk import SdkMatcher
from leaktrace.signatures.loader import SignatureSet
from leaktrace.signatures.schema import Endpoint, SdkSig, to_model

MAX_BYTES = 32 << 20
MAX_TRACKERS = 10_000
MAX_ALTERNATIVES = 256
MAX_REGEX = 2000
MAX_EXAMPLE = 253

CATEGORIES: Mapping[str, str] = {
    "advertisement": "ads",
    "analytics": "analytics",
    "crash reporting": "crash",
    "identification": "fingerprint",
    "location": "location",
    "profiling": "analytics",
}
"""Exodus category names (lower case) to ours; the first one that maps wins."""

SHARED_DOMAINS: frozenset[str] = frozenset(
    {
        "google.com", "googleapis.com", "gstatic.com", "googleusercontent.com",
        "qq.com", "gtimg.cn", "baidu.com", "bdstatic.com", "taobao.com", "alicdn.com",
        "aliyuncs.com", "amazonaws.com", "cloudfront.net", "akamaihd.net", "akamaized.net",
        "163.com", "126.net", "sina.com.cn", "sinaimg.cn", "microsoft.com", "azure.com",
        "windows.net", "apple.com", "icloud.com", "github.io", "herokuapp.com",
        "firebaseio.com", "appspot.com", "cloudflare.com", "fastly.net", "yandex.ru",
    }
)  # fmt: skip
"""Registrable domains serving many companies: a suffix rule on one would misattribute."""

LICENCE_HEADER = (
    "# Imported from an Exodus Privacy tracker export ({file}) by\n"
    "# `leaktrace signatures import-exodus`. Exodus Privacy data is made available\n"
    "# under the Open Database License (ODbL) 1.0, its contents under the Database\n"
    "# Contents License (DbCL) 1.0: redistributing this file requires attribution to\n"
    "# Exodus Privacy (https://exodus-privacy.eu.org) and share-alike under the ODbL.\n"
)

# The stdlib's regex parser (private, stable since Python 2), only to derive example hosts.
_sre_parse: Any = importlib.import_module("re._parser")

_SIMPLE = re.compile(r"[a-z0-9-]+(?:\\?\.[a-z0-9-]+)+")
_LEADING = ("^", "(.*\\.)?", "(.+\\.)?", ".*\\.", ".+\\.", ".*", "\\.")
_HOST_CHARS = re.compile(r"[a-z0-9.-]+")


class ExodusError(ValueError):
    """The file is not an Exodus tracker export at all."""


@dataclass(frozen=True, slots=True)
class Skipped:
    tracker: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportedSdk:
    id: str
    name: str
    yaml: str
    endpoints: int


@dataclass
class ExodusImport:
    sdks: list[ImportedSdk] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)  # parts of a tracker left out


def parse_export(raw: bytes) -> dict[str, Any]:
    """The ``trackers`` mapping of an export; ExodusError if the shape is wrong."""
    if len(raw) > MAX_BYTES:
        raise ExodusError(f"larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExodusError(f"not JSON: {exc}") from exc
    trackers = data.get("trackers") if isinstance(data, dict) else None
    if not isinstance(trackers, dict):
        raise ExodusError('expected an object with a "trackers" object')
    return trackers


def split_alternatives(signature: str) -> list[str]:
    """Top-level ``|`` alternatives; bars inside groups or classes stay put."""
    parts: list[str] = []
    depth = 0
    in_class = False
    escaped = False
    current: list[str] = []
    for ch in signature:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def simple_domain(alternative: str) -> tuple[str, str] | None:
    """``.*\\.umeng\\.com`` -> (domain, ``umeng.com``); ``^a\\.b\\.com$`` -> (host, ``a.b.com``).

    None when the alternative is more than a plain domain name. Only a name
    anchored at both ends, with no wildcard before it, is one exact host.
    """
    value = alternative.strip()
    exact = value.startswith("^") and value.endswith("$")
    changed = True
    while changed:
        changed = False
        for prefix in _LEADING:
            if value.startswith(prefix):
                value = value[len(prefix) :]
                changed = True
                exact = exact and prefix == "^"
    value = value.removesuffix("$")
    if not _SIMPLE.fullmatch(value):
        return None
    return ("host" if exact else "domain"), value.replace("\\.", ".")


def example_host(regex: str) -> str | None:
    """A short host the regex finds, for the entry's ``examples.match``; None if unsure."""
    try:
        tree = _sre_parse.parse(regex)
        sample = _sample(tree)
    except (re.error, _NoSample, RecursionError, OverflowError):
        return None
    sample = sample.lower()
    if (
        not sample
        or len(sample) > MAX_EXAMPLE
        or "." not in sample.strip(".")
        or not _HOST_CHARS.fullmatch(sample)
    ):
        return None
    if re.search(regex, sample) is None:
        return None
    return sample.strip(".")


class _NoSample(Exception):
    pass


def _sample(items: Any) -> str:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_sample_class(arg))
        elif name == "BRANCH":
            out.append(_sample(arg[1][0]))
        elif name == "SUBPATTERN":
            out.append(_sample(arg[-1]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, body = arg
            out.append(_sample(body) * min(int(low), 8))
        elif name == "AT":
            continue
        else:
            raise _NoSample(name)
    return "".join(out)


def _sample_class(items: Any) -> str:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return "0" if "DIGIT" in str(arg) else "a"
        if name == "NEGATE":
            raise _NoSample("negated class")
    raise _NoSample("empty class")


def slug(name: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if value and not value[0].isalpha():
        value = "t_" + value
    return value


def convert(trackers: Mapping[str, Any], file_label: str, bundled: SignatureSet) -> ExodusImport:
    """Turn each tracker into one SDK entry, leaving out what the bundled catalogue covers."""
    result = ExodusImport()
    matcher = SdkMatcher(bundled)
    taken_ids = set(bundled.sdks)
    taken_rules: dict[tuple[str, str], str] = {}
    for count, (key, tracker) in enumerate(trackers.items()):
        if count >= MAX_TRACKERS:
            result.skipped.append(
                Skipped("(rest)", f"more than {MAX_TRACKERS} trackers; the rest were not read")
            )
            break
        _convert_one(str(key), tracker, file_label, matcher, taken_ids, taken_rules, result)
    return result


def _convert_one(
    key: str,
    tracker: Any,
    file_label: str,
    matcher: SdkMatcher,
    taken_ids: set[str],
    taken_rules: dict[tuple[str, str], str],
    result: ExodusImport,
) -> None:
    if not isinstance(tracker, dict) or not isinstance(tracker.get("name"), str):
        result.skipped.append(Skipped(f"#{key}", "not an object with a name"))
        return
    name = tracker["name"].strip() or f"tracker {key}"
    signature = tracker.get("network_signature")
    if not isinstance(signature, str) or not signature.strip():
        result.skipped.append(Skipped(name, "no network signature"))
        return
    if len(signature) > MAX_REGEX:
        result.skipped.append(Skipped(name, f"network signature longer than {MAX_REGEX}"))
        return
    alternatives = split_alternatives(signature)
    if len(alternatives) > MAX_ALTERNATIVES:
        result.skipped.append(Skipped(name, f"more than {MAX_ALTERNATIVES} alternatives"))
        return

    endpoints: list[dict[str, str]] = []
    matches: list[str] = []
    covered_by: set[str] = set()
    source = f"exodus import: {file_label}"
    for alt in alternatives:
        simple = simple_domain(alt)
        if simple is not None:
            kind, domain = simple
            reason = _domain_problem(kind, domain, matcher, taken_rules)
            if reason is not None:
                if reason.startswith("covered by bundled sdk "):
                    covered_by.add(reason.removeprefix("covered by bundled sdk "))
                result.notes.append(Skipped(name, f"{alt}: {reason}"))
                continue
            taken_rules[(kind, domain)] = name
            endpoints.append({kind: domain, "source": source})
            matches.append(domain)
            continue
        problem = _regex_problem(alt)
        if problem is not None:
            result.notes.append(Skipped(name, f"{alt}: {problem}"))
            continue
        if ("host_regex", alt) in taken_rules:
            owner = taken_rules[("host_regex", alt)]
            result.notes.append(Skipped(name, f"{alt}: already imported for {owner}"))
            continue
        example = example_host(alt)
        if example is None:
            result.notes.append(Skipped(name, f"{alt}: no example host could be derived"))
            continue
        taken_rules[("host_regex", alt)] = name
        endpoints.append({"host_regex": alt, "source": source})
        matches.append(example)

    if not endpoints:
        reason = (
            f"already covered by bundled sdk {', '.join(sorted(covered_by))}"
            if covered_by
            else "no network rule could be converted"
        )
        result.skipped.append(Skipped(name, reason))
        return

    sdk_id = _free_id(slug(name) or f"exodus_{slug(key)}", key, taken_ids)
    entry: dict[str, Any] = {
        "id": sdk_id,
        "name": name,
        "vendor": {"name": name},
        "category": _category(tracker.get("categories")),
        "privacy_policy": None,
        "endpoints": endpoints,
        "examples": {
            "match": matches,
            "no_match": _no_match(endpoints),
        },
    }
    try:
        sdk = SdkSig.model_validate(entry)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        result.skipped.append(Skipped(name, f"does not make a valid entry: {problem}"))
        return
    # The examples are run by whoever lints the output: keep only those that hold.
    own = SdkMatcher([to_model(sdk)])
    examples = entry["examples"]
    examples["no_match"] = [h for h in examples["no_match"] if own.match(h) is None]
    taken_ids.add(sdk_id)
    result.sdks.append(
        ImportedSdk(sdk_id, name, _yaml(entry, tracker, key, file_label), len(endpoints))
    )


def _domain_problem(
    kind: str, domain: str, matcher: SdkMatcher, taken_rules: dict[tuple[str, str], str]
) -> str | None:
    try:
        Endpoint.model_validate({kind: domain, "source": "check"})
    except ValidationError as exc:
        return f"not a usable {kind} ({exc.errors()[0]['msg']})"
    if domain in SHARED_DOMAINS:
        return "shared domain; write a narrowed rule (host or path) by hand"
    found = matcher.match(domain)
    if found is not None:
        return f"covered by bundled sdk {found[0].id}"
    if (kind, domain) in taken_rules:
        return f"already imported for {taken_rules[(kind, domain)]}"
    return None


def _regex_problem(alternative: str) -> str | None:
    try:
        Endpoint(host_regex=alternative, source="check")
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def _free_id(base: str, key: str, taken: set[str]) -> str:
    for candidate in (base, f"{base}_exodus", f"{base}_exodus_{slug(key) or 'x'}"):
        if candidate not in taken:
            return candidate
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def _category(categories: Any) -> str:
    if isinstance(categories, list):
        for item in categories:
            mapped = CATEGORIES.get(str(item).strip().lower())
            if mapped is not None:
                return mapped
    return "analytics"


def _no_match(endpoints: list[dict[str, str]]) -> list[str]:
    out = ["unrelated-host.invalid"]
    for endpoint in endpoints:
        domain = endpoint.get("domain")
        if domain is not None:
            out.append(f"{domain}.invalid")
            break
    return out


def _yaml(entry: Mapping[str, Any], tracker: Mapping[str, Any], key: str, file_label: str) -> str:
    q = _quote
    lines = [LICENCE_HEADER.format(file=q(file_label)[1:-1]).rstrip("\n")]
    lines.append(f"# Exodus tracker {q(key)}: {q(str(tracker.get('network_signature', '')))}")
    code = tracker.get("code_signature")
    if isinstance(code, str) and code:
        lines.append(f"# code signature: {q(code)}")
    website = tracker.get("website")
    if isinstance(website, str) and website:
        lines.append(f"# website: {q(website)}")
    categories = tracker.get("categories")
    if isinstance(categories, list) and categories:
        lines.append(f"# Exodus categories: {', '.join(q(str(c)) for c in categories)}")
    lines += [
        f"id: {q(entry['id'])}",
        f"name: {q(entry['name'])}",
        f"vendor: {{name: {q(entry['vendor']['name'])}}}",
        f"category: {entry['category']}",
        "privacy_policy: null",
        "endpoints:",
    ]
    for endpoint in entry["endpoints"]:
        kind = next(k for k in ("domain", "host", "host_regex") if k in endpoint)
        lines.append(f"  - {kind}: {q(endpoint[kind])}")
        lines.append(f"    source: {q(endpoint['source'])}")
    examples = entry["examples"]
    lines.append("examples:")
    lines.append(f"  match: [{', '.join(q(x) for x in examples['match'])}]")
    lines.append(f"  no_match: [{', '.join(q(x) for x in examples['no_match'])}]")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A double-quoted YAML scalar that YAML readers accept, whatever the export held.

    JSON escapes are valid YAML; characters YAML refuses in a file (other
    control characters, lone surrogates) are written as escapes too.
    """
    return "".join(
        ch
        if ch.isprintable()
        else (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        for ch in json.dumps(text, ensure_ascii=False)
    )
