"""Attributor: party and SDK for whole messages, cached per host where the path cannot matter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.attribution import Attributor, SdkMatcher
from leaktrace.signatures import SignatureSet
from leaktrace.types import (
    Attribution,
    DnsQuestion,
    FlowKey,
    HostBasis,
    HttpRequest,
    Message,
    MessageKind,
    TlsHello,
)

FLOW = FlowKey("10.0.0.2", 40000, "10.0.0.1", 80, 6)


def http(host: str | None, target: str = "/", headers: tuple[tuple[str, str], ...] = ()) -> Message:
    return Message(
        ts=1.0,
        flow=FLOW,
        community_id="1:x",
        transport="http",
        kind=MessageKind.HTTP,
        host=host,
        host_basis="header" if host else "none",
        origin="test",
        http=HttpRequest("POST", target, "HTTP/1.1", (("Host", host or ""), *headers)),
    )


def dns(qname: str) -> Message:
    return Message(
        ts=1.0,
        flow=FLOW,
        community_id="1:x",
        transport="dns",
        kind=MessageKind.DNS,
        host=qname,
        host_basis="qname",
        origin="test",
        dns=DnsQuestion(qname, 1),
    )


@pytest.fixture(scope="module")
def attributor(signatures: SignatureSet) -> Attributor:
    return Attributor(signatures, first_party_domains=["example.com"])


def test_first_party_by_registrable_domain(attributor: Attributor) -> None:
    assert attributor.attribute(http("api.shop.example.com")) == Attribution(
        host="api.shop.example.com",
        registrable_domain="example.com",
        party="first",
        sdk=None,
    )


def test_third_party_sdk(attributor: Attributor) -> None:
    result = attributor.attribute(http("ulogs.umeng.com", "/unify_logs"))
    assert (result.party, result.sdk, result.sdk_name, result.basis) == (
        "third",
        "umeng",
        "Umeng+ (U-App analytics, U-Push, U-Share)",
        "domain:umeng.com",
    )
    assert result.registrable_domain == "umeng.com"


def test_unknown_host_is_third_when_first_party_is_declared(attributor: Attributor) -> None:
    assert attributor.attribute(http("cdn.unrelated.example.net")).party == "third"


def test_unknown_without_first_party_declaration(signatures: SignatureSet) -> None:
    plain = Attributor(signatures)
    assert plain.attribute(http("cdn.unrelated.example.net")).party == "unknown"
    assert plain.attribute(http("ulogs.umeng.com")).party == "third"


def test_self_hosted_sdk_on_a_first_party_host(attributor: Attributor) -> None:
    result = attributor.attribute(http("sa.shop.example.com", "/sa?project=default"))
    assert (result.party, result.sdk) == ("first", "sensorsdata")
    # Same host, other path: no SDK. The cache must not mix the two up.
    assert attributor.attribute(http("sa.shop.example.com", "/api/cart")).sdk is None
    again = attributor.attribute(http("sa.shop.example.com", "/sa?project=default"))
    assert again.sdk == "sensorsdata"


def test_path_rule_on_a_shared_domain(attributor: Attributor) -> None:
    assert attributor.attribute(http("is.snssdk.com", "/api/ad/union/sdk/x")).sdk == "pangle"
    assert attributor.attribute(http("is.snssdk.com", "/service/2/app_log/")).sdk is None


@pytest.mark.parametrize("spelled", ["api.shop.example.com.:443", "API.Shop.Example.com. :443"])
def test_a_host_with_a_dot_and_a_port_is_the_host(attributor: Attributor, spelled: str) -> None:
    """``Host: name.:443`` (a fully qualified name with its port) names the same
    destination as ``name``: one summary row, one host in the findings."""
    assert attributor.attribute(http(spelled)) == attributor.attribute(http("api.shop.example.com"))


def test_absolute_form_target(attributor: Attributor) -> None:
    msg = http("is.snssdk.com", "http://is.snssdk.com/api/ad/union/sdk/x")
    assert attributor.attribute(msg).sdk == "pangle"


def test_dns_question(attributor: Attributor) -> None:
    result = attributor.attribute(dns("loc.map.baidu.com"))
    assert (result.sdk, result.party) == ("baidu_location", "third")


def test_no_host(attributor: Attributor) -> None:
    assert attributor.attribute(http(None)) == Attribution(
        host=None, registrable_domain=None, party="unknown", sdk=None
    )


def test_ip_host(attributor: Attributor) -> None:
    result = attributor.attribute(http("123.196.118.23"))
    assert (result.sdk, result.registrable_domain, result.party) == ("jpush", None, "third")


@pytest.mark.parametrize(
    "declared", ["example.com", "*.example.com", ".example.com", "EXAMPLE.com"]
)
def test_first_party_spellings(signatures: SignatureSet, declared: str) -> None:
    a = Attributor(signatures, [declared])
    assert a.attribute(http("a.example.com")).party == "first"
    assert a.attribute(http("example.com")).party == "first"
    assert a.attribute(http("notexample.com")).party == "third"


def test_first_party_below_a_public_suffix(signatures: SignatureSet) -> None:
    a = Attributor(signatures, ["shop.example.com"])
    assert a.attribute(http("api.shop.example.com")).party == "first"
    assert a.attribute(http("www.example.com")).party == "third"


def tls(host: str | None, basis: HostBasis, sni: str | None = None) -> Message:
    return Message(
        ts=1.0,
        flow=FlowKey("10.0.0.2", 40001, "203.0.113.9", 443, 6),
        community_id="1:y",
        transport="tls",
        kind=MessageKind.TLS_HELLO,
        host=host,
        host_basis=basis,
        origin="test",
        tls=TlsHello(sni=sni),
    )


@pytest.mark.parametrize("host", ["ulogs.umeng.com", "a.b.umeng.com", "loc.map.baidu.com"])
def test_tls_flow_named_by_dns_is_attributed_like_http(attributor: Attributor, host: str) -> None:
    # No SNI: the source named the server from the DNS answer for its address.
    by_dns = attributor.attribute(tls(host, "dns"))
    by_sni = attributor.attribute(tls(host, "sni", sni=host))
    by_http = attributor.attribute(http(host))
    assert by_dns.sdk is not None
    assert (by_dns.sdk, by_dns.basis, by_dns.party) == (by_http.sdk, by_http.basis, by_http.party)
    assert by_dns == by_sni


def test_tls_flow_on_a_shared_host_has_no_path_to_narrow_by(attributor: Attributor) -> None:
    # The path rule cannot be checked without HTTP, so the shared host stays unattributed.
    assert attributor.attribute(tls("is.snssdk.com", "dns")).sdk is None
    assert attributor.attribute(tls("notumeng.com", "dns")).sdk is None


def test_attribute_target_without_a_message(attributor: Attributor) -> None:
    result = attributor.attribute_target("is.snssdk.com", "/api/ad/union/sdk/get_ads/")
    assert (result.sdk, result.basis) == ("pangle", "host:is.snssdk.com+path:^/api/ad/union/sdk")


def test_attributors_sharing_one_matcher_keep_their_own_first_party(
    signatures: SignatureSet,
) -> None:
    """Corpus mode shares the SDK rules across captures; the declared domains stay each app's."""
    shared = SdkMatcher(signatures)
    shop = Attributor(signatures, ["example.com"], shared)
    other = Attributor(signatures, ["example.org"], shared)
    assert shop.matcher is other.matcher is shared
    for message in (http("api.example.com"), http("ulogs.umeng.com", "/unify_logs")):
        assert other.attribute(message) == Attributor(signatures, ["example.org"]).attribute(
            message
        )
        assert shop.attribute(message) == Attributor(signatures, ["example.com"]).attribute(message)
    assert shop.attribute(http("api.example.com")).party == "first"
    assert other.attribute(http("api.example.com")).party == "third"


_REQUESTS = [
    ("ulogs.umeng.com", "/unify_logs", ()),
    ("is.snssdk.com", "/api/ad/union/sdk/get_ads/", ()),
    ("is.snssdk.com", "/other", ()),
    ("stats.example.com", "/sa.gif?project=x", ()),
    ("stats.example.com", "/i", ()),
    ("stats.example.com", "/nothing", ()),
    ("api.shop.example.com", "/matomo.php", ()),
    ("cdn.unrelated.example.net", "/", ()),
    ("10.1.2.3", "/i", ()),
]


@pytest.mark.parametrize("hosted_only", [False, True])
def test_cached_answers_are_the_uncached_ones(signatures: SignatureSet, hosted_only: bool) -> None:
    """Every request, asked twice in varying order, gets what ``attribute_target`` (no
    memo) gives: with rules that look at any host's path (the bundled set has some),
    and without them, where the answer is remembered per host alone."""
    sdks = signatures.sdks
    if hosted_only:
        sdks = {
            k: v
            for k, v in sdks.items()
            if all(e.domain or e.host or e.host_regex for e in v.endpoints)
        }
        assert len(sdks) < len(signatures.sdks)
    sigs = SignatureSet(identifiers=signatures.identifiers, sdks=sdks)
    attributor = Attributor(sigs, first_party_domains=["example.com"])
    for host, target, headers in [*_REQUESTS, *reversed(_REQUESTS), *_REQUESTS]:
        got = attributor.attribute(http(host, target, headers))
        assert got == attributor.attribute_target(host, target, (("Host", host), *headers))
    assert attributor.attribute(http("ulogs.umeng.com", "/x")).sdk == "umeng"


@pytest.mark.parametrize(
    "host",
    ["is.snssdk.com", "IS.snssdk.com.", "ulogs.umeng.com", "stats.example.com", "10.1.2.3", None],
)
def test_messages_without_a_request_are_answered_by_their_host(
    signatures: SignatureSet, host: str | None
) -> None:
    """DNS and TLS messages are remembered by the host as spelled, and answered as
    ``attribute_target`` answers the host alone; a request to the same host after
    them is still judged by its path."""
    attributor = Attributor(signatures, first_party_domains=["example.com"])
    normal = host.lower().rstrip(".") if host else None
    for message in (tls(host, "sni", sni=host), dns(host or ""), tls(host, "sni", sni=host)):
        assert attributor.attribute(message) == attributor.attribute_target(
            normal if message.host else None
        )
    if host is not None and normal == "is.snssdk.com":
        assert attributor.attribute(tls(host, "sni", sni=host)).sdk is None
        assert attributor.attribute(http(host, "/api/ad/union/sdk/get_ads/")).sdk == "pangle"


_FIRST_LABELS = st.sampled_from(["", "a", "example", "com", "shop", "cn", "x"])


@settings(max_examples=300, deadline=None)
@given(
    host=st.lists(_FIRST_LABELS, min_size=1, max_size=5).map(".".join),
    declared=st.lists(st.lists(_FIRST_LABELS, min_size=1, max_size=3).map(".".join), max_size=3),
)
def test_first_party_is_the_host_or_any_name_it_ends_with(
    signatures: SignatureSet, host: str, declared: list[str]
) -> None:
    """The host itself or any dotted tail of it (empty labels too: hosts come from traffic)
    is a declared domain."""
    attributor = Attributor(signatures, declared)
    labels = host.split(".")
    tails = {".".join(labels[i:]) for i in range(len(labels))}
    assert attributor.is_first_party(host) == bool(tails & attributor._first)
