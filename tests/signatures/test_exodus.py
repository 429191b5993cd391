"""Exodus export conversion: alternatives, suffix rules, host regexes, skips, never a crash."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.attribution.sdk import SdkMatcher
from leaktrace.signatures import SignatureSet
from leaktrace.signatures.exodus import (
    ExodusError,
    convert,
    example_host,
    parse_export,
    simple_domain,
    split_alternatives,
)
from leaktrace.signatures.schema import SdkSig


def test_split_alternatives_respects_groups_and_classes() -> None:
    assert split_alternatives(r"a\.com|(x|y)\.b\.com|[|]c\.com| ") == [
        r"a\.com",
        r"(x|y)\.b\.com",
        r"[|]c\.com",
    ]
    assert split_alternatives(r"a\|b\.com") == [r"a\|b\.com"]


@pytest.mark.parametrize(
    ("alternative", "expected"),
    [
        (r"umeng\.com", ("domain", "umeng.com")),
        (r".*\.umeng\.com", ("domain", "umeng.com")),
        (r"(.*\.)?umeng\.com$", ("domain", "umeng.com")),
        (r"^alog\.umeng\.com$", ("host", "alog.umeng.com")),
        (r"^.*\.umeng\.com$", ("domain", "umeng.com")),
        ("umeng.com", ("domain", "umeng.com")),
        (r"ads[0-9]+\.x\.com", None),
        (r"(a|b)\.x\.com", None),
        ("umeng", None),
    ],
)
def test_simple_domain(alternative: str, expected: tuple[str, str] | None) -> None:
    assert simple_domain(alternative) == expected


@pytest.mark.parametrize(
    "regex",
    [r"ads[0-9]+\.beta\.test", r"(crash|reports)\.g\.test", r"^t\d{2}\.x\.test$", r"a?b\.c\.d"],
)
def test_example_host_is_found_by_its_regex(regex: str) -> None:
    sample = example_host(regex)
    assert sample is not None and re.search(regex, sample)


@pytest.mark.parametrize("regex", [r"[^a]+\.x\.test", "abc", r"(?=x)y\.z", "[x"])
def test_example_host_gives_up_rather_than_guess(regex: str) -> None:
    assert example_host(regex) is None


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"trackers": []}', b"\xff\xfe", b'{"other": {}}'])
def test_parse_export_rejects_other_shapes(raw: bytes) -> None:
    with pytest.raises(ExodusError):
        parse_export(raw)


def tracker(name: str, signature: str, categories: list[str] | None = None) -> dict[str, object]:
    return {
        "name": name,
        "code_signature": "com.x.",
        "network_signature": signature,
        "website": "https://x.test",
        "categories": categories or [],
    }


def test_covered_by_bundled_and_shared_domains(signatures: SignatureSet) -> None:
    result = convert(
        {
            "1": tracker("U", r"ulogs\.umeng\.com|umeng\.com"),
            "2": tracker("G", r"google\.com|googleapis\.com"),
            "3": tracker("N", r"new-tracker\.test", ["Location"]),
        },
        "t.json",
        signatures,
    )
    assert [s.id for s in result.sdks] == ["n"]
    reasons = {s.tracker: s.reason for s in result.skipped}
    assert reasons["U"] == "already covered by bundled sdk umeng"
    assert reasons["G"] == "no network rule could be converted"
    assert any("shared domain" in n.reason for n in result.notes)
    assert "category: location" in result.sdks[0].yaml


def test_output_is_a_valid_entry_whose_examples_hold(signatures: SignatureSet) -> None:
    result = convert(
        {"9": tracker("Mixed One", r"^a\.mixed\.test$|b[0-9]\.mixed\.test|mixedcdn\.test")},
        "t.json",
        signatures,
    )
    (entry,) = result.sdks
    text = entry.yaml
    assert text.startswith("# Imported from an Exodus Privacy tracker export (t.json)")
    import yaml

    sdk = SdkSig.model_validate(yaml.safe_load(text))
    kinds = [(e.domain, e.host, e.host_regex) for e in sdk.endpoints]
    assert kinds == [
        (None, "a.mixed.test", None),
        (None, None, r"b[0-9]\.mixed\.test"),
        ("mixedcdn.test", None, None),
    ]
    matcher = SdkMatcher([sdk])
    for host in sdk.examples.match:
        assert matcher.match(host) is not None
    for host in sdk.examples.no_match:
        assert matcher.match(host) is None


def test_id_collision_with_bundled_gets_a_suffix(signatures: SignatureSet) -> None:
    result = convert({"1": tracker("Umeng", r"umeng-new\.test")}, "t.json", signatures)
    assert [s.id for s in result.sdks] == ["umeng_exodus"]


def test_bounds_are_reported(signatures: SignatureSet) -> None:
    long = "|".join(f"t{i}\\.x\\.test" for i in range(300))
    result = convert({"1": tracker("Long", long)}, "t.json", signatures)
    assert result.skipped[0].reason.startswith("network signature longer than") or (
        "more than" in result.skipped[0].reason
    )


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_SIGNATURE = st.lists(
    st.sampled_from(
        [r"a\.b\.test", ".*", r"[x", "(", r"x+\.y", "|", r"\.", "^", "$", "google.com", "é"]
    ),
    max_size=6,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        _JSONISH
        | st.builds(
            lambda n, s, c: {"name": n, "network_signature": s, "categories": c},
            st.text(max_size=12),
            _SIGNATURE,
            st.lists(st.text(max_size=12), max_size=2),
        ),
        max_size=5,
    )
)
def test_convert_never_raises_and_every_output_validates(
    signatures: SignatureSet, trackers: dict[str, object]
) -> None:
    import yaml

    result = convert(trackers, "fuzz.json", signatures)
    assert len(result.sdks) + len(result.skipped) <= len(trackers)
    for entry in result.sdks:
        SdkSig.model_validate(yaml.safe_load(entry.yaml))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab. |*+?^$", max_size=24))
def test_split_without_groups_is_a_plain_split(signature: str) -> None:
    expected = [p.strip() for p in signature.split("|") if p.strip()]
    assert split_alternatives(signature) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["(a|b)", "[|]", r"\|", "x", ".", "|"]), max_size=10).map("".join))
def test_split_never_cuts_inside_a_group_or_class(signature: str) -> None:
    for part in split_alternatives(signature):
        assert part.count("(") == part.count(")")
        assert part.count("[") == part.count("]")
        assert not part.endswith("\\")


def test_export_round_trip_through_json(signatures: SignatureSet) -> None:
    raw = json.dumps({"trackers": {"1": tracker("Rt", r"rt-sdk\.test")}}).encode()
    result = convert(parse_export(raw), "rt.json", signatures)
    assert [s.id for s in result.sdks] == ["rt"]
