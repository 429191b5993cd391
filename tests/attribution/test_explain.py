"""``explain_match``: the answer behind ``leaktrace signatures match``."""

from __future__ import annotations

import pytest

from leaktrace.attribution.explain import explain_match, split_host_or_url
from leaktrace.signatures import SignatureSet


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a.b.umeng.com", ("a.b.umeng.com", None)),
        ("A.B.Umeng.com.", ("a.b.umeng.com", None)),
        ("is.snssdk.com/api/ad?x=1", ("is.snssdk.com", "/api/ad?x=1")),
        ("https://h.example:8443/p?q=1", ("h.example", "/p?q=1")),
        ("http://[::1]:80/x", ("::1", "/x")),
        ("https://", (None, "/")),
        ("", (None, None)),
    ],
)
def test_split_host_or_url(text: str, parts: tuple[str | None, str | None]) -> None:
    assert split_host_or_url(text) == parts


def test_suffix_match_and_its_evidence(signatures: SignatureSet) -> None:
    result = explain_match("a.b.umeng.com", signatures)
    assert result.attribution.sdk == "umeng"
    assert result.attribution.basis == "domain:umeng.com"
    assert result.source is not None and "✅" in result.source
    assert result.first_party_entry == "umeng.com"
    assert result.attribution.party == "third"


def test_no_match(signatures: SignatureSet) -> None:
    result = explain_match("notumeng.com", signatures)
    assert result.attribution.sdk is None and result.source is None
    assert result.first_party_entry == "notumeng.com"


def test_first_party_list_decides_the_party(signatures: SignatureSet) -> None:
    result = explain_match("https://sa.shop.example.com/sa?project=p", signatures, ["example.com"])
    assert (result.attribution.party, result.attribution.sdk) == ("first", "sensorsdata")


def test_ip_host_is_its_own_first_party_entry(signatures: SignatureSet) -> None:
    result = explain_match("123.196.118.23", signatures)
    assert result.attribution.sdk == "jpush"
    assert result.first_party_entry == "123.196.118.23"
    assert result.attribution.registrable_domain is None


def test_rejected_rule_is_shown(signatures: SignatureSet) -> None:
    result = explain_match("is.snssdk.com/service/2/app_log/", signatures)
    assert result.attribution.sdk is None
    assert result.rules[0].sdk == "pangle" and result.rules[0].accepted is False
