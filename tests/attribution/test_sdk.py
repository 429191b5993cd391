"""SDK matching: label-boundary suffixes, most specific rule first, path and header rules."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leaktrace.attribution.sdk import SdkMatcher, split_target
from leaktrace.signatures import SignatureSet, schema
from leaktrace.signatures.model import SdkSig


@pytest.fixture(scope="module")
def matcher(signatures: SignatureSet) -> SdkMatcher:
    return SdkMatcher(signatures)


def sdk(id_: str, *endpoints: dict[str, object]) -> SdkSig:
    """A validated entry, as the loader hands it to the matcher."""
    validated = schema.SdkSig.model_validate(
        {
            "id": id_,
            "name": id_,
            "vendor": {"name": id_},
            "category": "analytics",
            "endpoints": [{"source": "○", **e} for e in endpoints],
            "examples": {"match": ["x"], "no_match": ["y"]},
        }
    )
    sig: SdkSig = schema.to_model(validated)
    return sig


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


def test_host_regex_rule_after_name_rules() -> None:
    m = SdkMatcher(
        [
            sdk("regional", {"host_regex": r"^pinpoint\.[a-z0-9-]+\.cloud\.example$"}),
            sdk("named", {"domain": "eu-1.cloud.example"}),
        ]
    )
    assert match_id(m, "pinpoint.us-2.cloud.example") == "regional"
    assert match_id(m, "PINPOINT.US-2.CLOUD.EXAMPLE.") == "regional"
    # A name rule for the same host is more specific and wins.
    assert match_id(m, "pinpoint.eu-1.cloud.example") == "named"
    assert match_id(m, "s3.us-2.cloud.example") is None
    found = m.match("pinpoint.us-2.cloud.example")
    assert found is not None and found[1] == r"host_regex:^pinpoint\.[a-z0-9-]+\.cloud\.example$"


def test_bundled_host_regex(matcher: SdkMatcher) -> None:
    assert match_id(matcher, "pinpoint.ap-southeast-1.amazonaws.com") == "aws_pinpoint"
    assert match_id(matcher, "s3.ap-southeast-1.amazonaws.com") is None


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("www.google.com", "/recaptcha/api2/anchor", "google_recaptcha"),
        ("www.google.com", "/search?q=x", None),
        ("www.googleapis.com", "/androidcheck/v1/attestations/attest", "google_safetynet"),
        ("www.googleapis.com", "/oauth2/v3/userinfo", None),
        ("graph.facebook.com", "/network_ads_common", "facebook_audience_network"),
        ("graph.facebook.com", "/v18.0/1/activities", "facebook"),
        ("is.snssdk.com", "/api/ad/union/sdk/get_ads/", "pangle"),
        ("fcm.googleapis.com", None, "firebase_messaging"),
        ("googleapis.com", None, None),
        ("map.qq.com", None, "tencent_location"),
        ("qq.com", None, None),
    ],
)
def test_shared_domains_are_split_by_host_and_path(
    matcher: SdkMatcher, host: str, path: str | None, expected: str | None
) -> None:
    assert match_id(matcher, host, path) == expected


def test_no_bare_shared_domain_is_claimed(signatures: SignatureSet) -> None:
    shared = {"google.com", "googleapis.com", "qq.com", "baidu.com", "taobao.com", "163.com",
              "amazonaws.com", "aliyuncs.com", "xiaomi.com", "tencent.com", "snssdk.com",
              "jd.com", "mail.ru", "yandex.net", "unity3d.com", "gtimg.com"}  # fmt: skip
    for entry in signatures.sdks.values():
        for endpoint in entry.endpoints:
            assert endpoint.domain not in shared, (entry.id, endpoint.domain)
            assert endpoint.host not in shared or endpoint.narrowed, (entry.id, endpoint.host)


def test_explain_lists_rules_in_order(matcher: SdkMatcher) -> None:
    checks = matcher.explain("is.snssdk.com", "/service/2/app_log")
    assert checks[0][0].sdk.id == "pangle" and checks[0][1] is False
    assert not any(ok for _rule, ok in checks)


_LABELS = st.sampled_from(["a", "b", "umeng", "com", "co", "uk", "example", "", "x-y"])
_DOMAINS = ["umeng.com", "a.umeng.com", "b.a.umeng.com", "co.uk", "example.co.uk", "x-y.a"]


@pytest.fixture(scope="module")
def by_domain() -> SdkMatcher:
    return SdkMatcher([sdk(f"s{i}", {"domain": name}) for i, name in enumerate(_DOMAINS)])


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(_LABELS, min_size=1, max_size=5))
@example(labels=["b", "a", "umeng", "com"])
@example(labels=["", "x", "example", "co", "uk", ""])
def test_candidates_are_the_host_then_every_parent_of_two_labels_or_more(
    by_domain: SdkMatcher, labels: list[str]
) -> None:
    """Every name of two labels or more that ends the host, longest first, whatever
    the labels (empty ones too: hosts come from traffic)."""
    host = ".".join(labels)
    named = host.rstrip(".").split(".")  # as normalised: no trailing dot
    parents = [".".join(named[i:]) for i in range(len(named) - 1)]
    expected = [f"domain:{name}" for name in parents if name in _DOMAINS]
    assert [rule.basis for rule in by_domain.candidates(host)] == (expected if host else [])
