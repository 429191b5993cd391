"""SDK matching: label-boundary suffixes, most specific rule first, path and header rules."""

from __future__ import annotations

import pytest

from leaktrace.attribution.sdk import SdkMatcher, split_target
from leaktrace.signatures import SignatureSet
from leaktrace.signatures.schema import SdkSig


@pytest.fixture(scope="module")
def matcher(signatures: SignatureSet) -> SdkMatcher:
    return SdkMatcher(signatures)


def sdk(id_: str, *endpoints: dict[str, object]) -> SdkSig:
    return SdkSig.model_validate(
        {
            "id": id_,
            "name": id_,
            "vendor": {"name": id_},
            "category": "analytics",
            "endpoints": [{"source": "○", **e} for e in endpoints],
            "examples": {"match": ["x"], "no_match": ["y"]},
        }
    )


def match_id(matcher: SdkMatcher, host: str | None, path: str | None = None) -> str | None:
    found = matcher.match(host, path)
    return found[0].id if found else None


def test_suffix_on_label_boundary(matcher: SdkMatcher) -> None:
    assert matcher.match("a.b.umeng.com") is not None
    found = matcher.match("a.b.umeng.com")
    assert found is not None
    assert (found[0].id, found[1]) == ("umeng", "domain:umeng.com")
    assert matcher.match("notumeng.com") is None
    assert matcher.match("umeng.com.evil.example") is None
    assert match_id(matcher, "ULOGS.UMENG.COM.") == "umeng"


def test_exact_ip_host(matcher: SdkMatcher) -> None:
    found = matcher.match("123.196.118.23")
    assert found is not None and found[1] == "host:123.196.118.23"
    assert matcher.match("1.123.196.118.23") is None


def test_path_rule_on_a_shared_host(matcher: SdkMatcher) -> None:
    assert match_id(matcher, "is.snssdk.com", "/api/ad/union/sdk/get_ads/") == "pangle"
    assert match_id(matcher, "is.snssdk.com", "/service/2/app_log/") is None
    assert match_id(matcher, "is.snssdk.com") is None


def test_path_only_rule_matches_self_hosted_collectors(matcher: SdkMatcher) -> None:
    found = matcher.match("sa.shop.example.com", "/sa?project=default")
    assert found is not None
    assert (found[0].id, found[1]) == ("sensorsdata", r"path:^/sa(\.gif)?$")
    assert match_id(matcher, "x.example.com", "/sa.gif?a=1&project=p") == "sensorsdata"
    assert match_id(matcher, "x.example.com", "/sa") is None  # query missing
    assert match_id(matcher, "x.example.com", "/sale?project=1") is None
    assert match_id(matcher, "x.example.com", "http://x.example.com/sa?project=1") == "sensorsdata"


def test_longest_rule_wins() -> None:
    m = SdkMatcher(
        [
            sdk("parent", {"domain": "example.com"}),
            sdk("child", {"domain": "ads.example.com"}),
            sdk("exact", {"host": "x.ads.example.com"}),
        ]
    )
    assert match_id(m, "a.ads.example.com") == "child"
    assert match_id(m, "x.ads.example.com") == "exact"
    assert match_id(m, "www.example.com") == "parent"


def test_narrowed_rule_is_tried_before_plain_rule_of_the_same_domain() -> None:
    m = SdkMatcher(
        [
            sdk("generic", {"domain": "shared.example"}),
            sdk("special", {"domain": "shared.example", "path": "^/special/"}),
        ]
    )
    assert match_id(m, "a.shared.example", "/special/x") == "special"
    assert match_id(m, "a.shared.example", "/other") == "generic"


def test_header_rule() -> None:
    m = SdkMatcher([sdk("hdr", {"header": {"name": "X-SDK-Name", "value": "^acme/"}})])
    assert m.match("h.example", None, [("x-sdk-name", "acme/1.2")]) is not None
    assert m.match("h.example", None, [("x-sdk-name", "other")]) is None
    assert m.match("h.example") is None
    assert m.relevance("h.example") == (False, True)


def test_relevance(matcher: SdkMatcher) -> None:
    # The self-hosted Sensors rule makes the path relevant for every host.
    assert matcher.relevance("ulogs.umeng.com") == (True, False)
    only_hosts = SdkMatcher([sdk("plain", {"domain": "plain.example"})])
    assert only_hosts.relevance("a.plain.example") == (False, False)


def test_no_host(matcher: SdkMatcher) -> None:
    assert matcher.match(None) is None


@pytest.mark.parametrize(
    ("target", "parts"),
    [
        ("/a/b?x=1", ("/a/b", "x=1")),
        ("/a", ("/a", None)),
        ("/a?", ("/a", "")),
        ("http://h.example/p?q", ("/p", "q")),
        ("https://h.example", ("/", None)),
        ("h.example:443", (None, None)),
        ("*", (None, None)),
        (None, (None, None)),
        ("http://[::1", (None, None)),
    ],
)
def test_split_target(target: str | None, parts: tuple[str | None, str | None]) -> None:
    assert split_target(target) == parts
