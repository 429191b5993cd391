"""Each rule with findings that trip it and findings that do not."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.declaration import AppDeclaration, FrequencyLimit
from leaktrace.policy.context import PolicySettings
from leaktrace.policy.engine import evaluation_record
from leaktrace.policy.rules import RULE_INFO, RULES, _busiest_window
from leaktrace.signatures.loader import SignatureSet
from leaktrace.testing import finding
from leaktrace.types import TimelineEvent

from .conftest import declaration, judge, tripped

IMEI_TO_UMENG = finding()  # IMEI to ulogs.umeng.com (SDK umeng) over http, confidence 0.95
UNKNOWN_HOST = finding(host="t.trackly.io", sdk=None, type="android_id", value="3f**********857")
FIRST_PHONE = finding(host="api.shop.example.com", party="first", sdk=None, type="phone")


def test_rule_ids_are_stable_and_unique() -> None:
    ids = [rule.info.id for rule in RULES]
    assert ids == [
        "LT-SHARE-UNDISCLOSED",
        "LT-COLLECT-UNDISCLOSED",
        "LT-BEFORE-CONSENT",
        "LT-CLEARTEXT-SENSITIVE",
        "LT-DEVICE-ID-OUT-OF-SCOPE",
        "LT-FREQUENCY",
        "LT-AFTER-WITHDRAWAL",
        "LT-SENSITIVE-SHARED",
    ]
    for info in RULE_INFO.values():
        assert info.clauses and info.severity in ("high", "medium", "low")


# --------------------------------------------------------------------------- sharing


def test_share_undisclosed_trips_when_party_not_named(signatures: SignatureSet) -> None:
    ev = judge([IMEI_TO_UMENG], declaration(), signatures)
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == [("umeng", "imei")]
    verdict = ev.verdicts[0]
    assert "does not name" in verdict.reason and verdict.recipient.company
    assert verdict.evidence[0].where == "query:imei" and verdict.hosts == ("ulogs.umeng.com",)


@pytest.mark.parametrize("party", ["umeng", "umeng.com", "ulogs.umeng.com"])
def test_share_declared_by_sdk_id_or_domain(signatures: SignatureSet, party: str) -> None:
    decl = declaration(shares=[{"party": party, "types": ["imei"]}])
    assert tripped(judge([IMEI_TO_UMENG], decl, signatures), "LT-SHARE-UNDISCLOSED") == []


def test_share_named_but_type_missing(signatures: SignatureSet) -> None:
    decl = declaration(shares=[{"party": "umeng", "types": ["oaid"]}])
    ev = judge([IMEI_TO_UMENG], decl, signatures)
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == [("umeng", "imei")]
    assert "lists only oaid" in ev.verdicts[0].reason


def test_unknown_sdk_host_is_judged_by_domain(signatures: SignatureSet) -> None:
    ev = judge([UNKNOWN_HOST], declaration(), signatures)
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == [("trackly.io", "android_id")]
    decl = declaration(shares=[{"party": "trackly.io", "types": ["android_id"]}])
    assert tripped(judge([UNKNOWN_HOST], decl, signatures), "LT-SHARE-UNDISCLOSED") == []
    other = declaration(shares=[{"party": "notrackly.io", "types": ["android_id"]}])
    assert tripped(judge([UNKNOWN_HOST], other, signatures), "LT-SHARE-UNDISCLOSED")


def test_hashed_identifier_still_counts(signatures: SignatureSet) -> None:
    hashed = finding(form="md5", where="query:idmd5")
    assert tripped(judge([hashed], declaration(), signatures), "LT-SHARE-UNDISCLOSED")


def test_weak_findings_make_a_warning(signatures: SignatureSet) -> None:
    weak = finding(confidence=0.3)
    ev = judge([weak], declaration(), signatures)
    assert [v.level for v in ev.verdicts if v.rule == "LT-SHARE-UNDISCLOSED"] == ["warning"]


# --------------------------------------------------------------------------- collection


def test_collect_undisclosed(signatures: SignatureSet) -> None:
    ev = judge([FIRST_PHONE], declaration(), signatures)
    assert tripped(ev, "LT-COLLECT-UNDISCLOSED") == [("example.com", "phone")]
    ok = declaration(collects=[{"type": "phone", "purpose": "login"}])
    assert tripped(judge([FIRST_PHONE], ok, signatures), "LT-COLLECT-UNDISCLOSED") == []


def test_party_follows_the_declaration_judged_against(signatures: SignatureSet) -> None:
    """A finding made without a declaration (party unknown) is first party under this one."""
    unknown = finding(host="api.shop.example.com", party="unknown", sdk=None, type="phone")
    ev = judge([unknown], declaration(), signatures)
    assert tripped(ev, "LT-COLLECT-UNDISCLOSED") == [("example.com", "phone")]
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == []


def test_rules_needing_a_declaration_say_so(signatures: SignatureSet) -> None:
    ev = judge([IMEI_TO_UMENG], None, signatures)
    status = {r.rule.id: (r.checked, r.why_not) for r in ev.results}
    assert status["LT-SHARE-UNDISCLOSED"] == (False, "no declaration (--app app.yaml)")
    assert status["LT-CLEARTEXT-SENSITIVE"][0] is True


# --------------------------------------------------------------------------- consent


def test_before_consent_event(signatures: SignatureSet) -> None:
    early = finding(ts=100.0)
    late = finding(ts=200.0, type="oaid", value="ab****cd")
    decl = declaration(consent={"event": "consent"})
    ev = judge([early, late], decl, signatures, [TimelineEvent(150.0, "consent")])
    assert tripped(ev, "LT-BEFORE-CONSENT") == [("umeng", "imei")]
    assert "50.0 s before consent" in next(
        v.reason for v in ev.verdicts if v.rule == "LT-BEFORE-CONSENT"
    )
    after_only = judge([late], decl, signatures, [TimelineEvent(150.0, "consent")])
    assert tripped(after_only, "LT-BEFORE-CONSENT") == []


def test_consent_never_marked_means_everything_is_before(signatures: SignatureSet) -> None:
    decl = declaration(consent={"event": "consent"})
    ev = judge([finding(ts=500.0)], decl, signatures, [TimelineEvent(10.0, "login")])
    assert tripped(ev, "LT-BEFORE-CONSENT") == [("umeng", "imei")]
    assert ev.consent is not None and ev.consent.ts is None


def test_consent_event_without_any_events_is_not_judged(signatures: SignatureSet) -> None:
    ev = judge([finding()], declaration(consent={"event": "consent"}), signatures)
    result = next(r for r in ev.results if r.rule.id == "LT-BEFORE-CONSENT")
    assert not result.checked and "no timeline events" in (result.why_not or "")


def test_consent_at_and_url(signatures: SignatureSet) -> None:
    decl = declaration(consent={"at": 150.0})
    ev = judge([finding(ts=100.0), finding(ts=160.0, host="x.umeng.com")], decl, signatures)
    assert [v.count for v in ev.verdicts if v.rule == "LT-BEFORE-CONSENT"] == [1]
    url = declaration(consent={"url": r"/privacy/agree$"})
    mark = TimelineEvent(120.0, "request", (("url", "https://api.example.com/privacy/agree"),))
    ev = judge([finding(ts=100.0), finding(ts=130.0)], url, signatures, [mark])
    assert [v.count for v in ev.verdicts if v.rule == "LT-BEFORE-CONSENT"] == [1]


# --------------------------------------------------------------------------- withdrawal

WITHDRAWN = declaration(consent={"event": "consent"}, withdrawal={"event": "withdraw"})


def test_identifiers_after_a_withdrawal_trip_until_consent_is_given_again(
    signatures: SignatureSet,
) -> None:
    marks = [TimelineEvent(50.0, "consent"), TimelineEvent(100.0, "withdraw")]
    before = finding(ts=90.0)
    after = [finding(ts=101.5), finding(ts=130.0, type="oaid", value="ab****cd")]
    ev = judge([before, *after], WITHDRAWN, signatures, marks)
    assert tripped(ev, "LT-AFTER-WITHDRAWAL") == [("umeng", "imei"), ("umeng", "oaid")]
    imei = next(v for v in ev.verdicts if v.rule == "LT-AFTER-WITHDRAWAL" and v.type == "imei")
    assert imei.count == 1 and "1.5 s after consent was withdrawn" in imei.reason
    assert dict(imei.detail) == {"withdrawal": "event 'withdraw'"}
    # consent given again at 120: what follows it is allowed
    again = judge(
        [before, *after], WITHDRAWN, signatures, [*marks, TimelineEvent(120.0, "consent")]
    )
    assert tripped(again, "LT-AFTER-WITHDRAWAL") == [("umeng", "imei")]
    verdict = next(v for v in again.verdicts if v.rule == "LT-AFTER-WITHDRAWAL")
    assert dict(verdict.detail)["consent again"] == "20.0 s later"
    assert evaluation_record(again)["withdrawal"] == {"ts": 100.0, "basis": "event 'withdraw'"}


def test_a_withdrawal_by_request_or_time(signatures: SignatureSet) -> None:
    by_url = declaration(consent={"at": 10.0}, withdrawal={"url": "/privacy/revoke$"})
    mark = TimelineEvent(100.0, "request", (("url", "https://api.example.com/privacy/revoke"),))
    ev = judge([finding(ts=90.0), finding(ts=110.0)], by_url, signatures, [mark])
    assert [v.count for v in ev.verdicts if v.rule == "LT-AFTER-WITHDRAWAL"] == [1]
    at = declaration(withdrawal={"at": 100.0})
    ev = judge([finding(ts=90.0), finding(ts=110.0)], at, signatures)
    assert [v.first_ts for v in ev.verdicts if v.rule == "LT-AFTER-WITHDRAWAL"] == [110.0]


@pytest.mark.parametrize(
    ("decl", "events", "why"),
    [
        (declaration(), [TimelineEvent(1.0, "x")], "does not say how a withdrawal shows"),
        (WITHDRAWN, [], "no timeline events"),
        (WITHDRAWN, [TimelineEvent(1.0, "consent")], "not withdrawn in this session"),
    ],
)
def test_a_withdrawal_the_session_cannot_place_is_not_judged(
    signatures: SignatureSet, decl: AppDeclaration, events: list[TimelineEvent], why: str
) -> None:
    ev = judge([finding(ts=500.0)], decl, signatures, events)
    result = next(r for r in ev.results if r.rule.id == "LT-AFTER-WITHDRAWAL")
    assert not result.checked and why in (result.why_not or "") and not result.verdicts


# --------------------------------------------------------------------------- sensitive shared

LOCATION_TO_BAIDU = finding(
    host="api.map.baidu.com", sdk="baidu_location", type="location", value="39.9***,116.3***"
)


@pytest.mark.parametrize(
    ("separate", "levels"),
    [(None, ["warning"]), (False, ["violation"]), (True, [])],
    ids=["not-stated", "declared-without", "declared-with"],
)
def test_sensitive_shared_needs_separate_consent(
    signatures: SignatureSet, separate: bool | None, levels: list[str]
) -> None:
    share: dict[str, object] = {"party": "baidu_location", "types": ["location", "imei"]}
    if separate is not None:
        share["separate_consent"] = separate
    decl = declaration(shares=[share])
    imei = finding(host="api.map.baidu.com", sdk="baidu_location")  # not a sensitive type
    ev = judge([LOCATION_TO_BAIDU, imei, FIRST_PHONE], decl, signatures)
    verdicts = [v for v in ev.verdicts if v.rule == "LT-SENSITIVE-SHARED"]
    assert [v.level for v in verdicts] == levels
    assert all((v.recipient.key, v.type) == ("baidu_location", "location") for v in verdicts)
    if separate is None:
        assert "does not say" in verdicts[0].reason


def test_undeclared_sensitive_sharing_is_left_to_the_undisclosed_rule(
    signatures: SignatureSet,
) -> None:
    ev = judge([LOCATION_TO_BAIDU], declaration(), signatures)
    assert tripped(ev, "LT-SHARE-UNDISCLOSED") == [("baidu_location", "location")]
    assert tripped(ev, "LT-SENSITIVE-SHARED") == []


# --------------------------------------------------------------------------- clear text


def test_cleartext_sensitive(signatures: SignatureSet) -> None:
    phone_http = finding(host="api.shop.example.com", party="first", sdk=None, type="phone")
    phone_https = finding(
        host="api.shop.example.com", party="first", sdk=None, type="phone", transport="https"
    )
    ev = judge([phone_http, phone_https, IMEI_TO_UMENG], declaration(), signatures)
    assert tripped(ev, "LT-CLEARTEXT-SENSITIVE") == [("example.com", "phone")]
    verdict = next(v for v in ev.verdicts if v.rule == "LT-CLEARTEXT-SENSITIVE")
    assert verdict.count == 1 and verdict.evidence[0].transport == "http"


def test_cleartext_types_follow_signatures_and_settings(signatures: SignatureSet) -> None:
    assert signatures.identifiers["id_card"].sensitive
    card = finding(type="id_card", value="11**************1X")
    assert tripped(judge([card], None, signatures), "LT-CLEARTEXT-SENSITIVE")
    only_imei = PolicySettings(cleartext_types=frozenset({"imei"}))
    ev = judge([card, IMEI_TO_UMENG], None, signatures, settings=only_imei)
    assert tripped(ev, "LT-CLEARTEXT-SENSITIVE") == [("umeng", "imei")]


# --------------------------------------------------------------------------- device ids


def test_device_id_out_of_scope(signatures: SignatureSet) -> None:
    mac = finding(type="mac", value="a4*********9b")
    android = finding(type="android_id", value="3f**********857")
    decl = declaration(needs_device_ids=False)
    ev = judge([IMEI_TO_UMENG, mac, android], decl, signatures)
    assert tripped(ev, "LT-DEVICE-ID-OUT-OF-SCOPE") == [("umeng", "imei"), ("umeng", "mac")]
    ev = judge([IMEI_TO_UMENG, mac], declaration(needs_device_ids=["mac"]), signatures)
    assert tripped(ev, "LT-DEVICE-ID-OUT-OF-SCOPE") == [("umeng", "imei")]
    unstated = judge([IMEI_TO_UMENG], declaration(), signatures)
    result = next(r for r in unstated.results if r.rule.id == "LT-DEVICE-ID-OUT-OF-SCOPE")
    assert not result.checked and result.verdicts == []


# --------------------------------------------------------------------------- frequency


def locations(times: list[float], host: str = "loc.map.baidu.com") -> list:
    return [
        finding(
            ts=t,
            type="location",
            value="39.9*,116.4*",
            host=host,
            sdk="baidu_location",
            trans_depth=i + 1,
        )
        for i, t in enumerate(times)
    ]


def test_frequency_default_is_a_warning(signatures: SignatureSet) -> None:
    ev = judge(locations([0, 20, 40, 200]), declaration(), signatures)
    verdicts = [v for v in ev.verdicts if v.rule == "LT-FREQUENCY"]
    assert [(v.count, v.level) for v in verdicts] == [(3, "warning")]
    assert "3 times within 60 s" in verdicts[0].reason
    assert tripped(judge(locations([0, 61, 122]), declaration(), signatures), "LT-FREQUENCY") == []


def test_frequency_declared_in_background(signatures: SignatureSet) -> None:
    decl = declaration(
        frequency=[{"type": "location", "max": 1, "per_s": 60, "state": "background"}]
    )
    events = [TimelineEvent(0, "foreground"), TimelineEvent(100, "background")]
    fore = judge(locations([10, 20, 30]), decl, signatures, events)
    assert tripped(fore, "LT-FREQUENCY") == []
    back = judge(locations([10, 110, 120]), decl, signatures, events)
    verdict = next(v for v in back.verdicts if v.rule == "LT-FREQUENCY")
    assert verdict.level == "violation" and verdict.count == 2
    no_marks = judge(locations([110, 120]), decl, signatures)
    result = next(r for r in no_marks.results if r.rule.id == "LT-FREQUENCY")
    assert not result.checked and "no background/foreground marks" in (result.why_not or "")


def test_one_message_with_two_coordinates_counts_once(signatures: SignatureSet) -> None:
    twice = [*locations([0]), *locations([0])]  # same flow, depth and time: one request
    assert tripped(judge(twice, declaration(), signatures), "LT-FREQUENCY") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 500), max_size=30), st.integers(1, 120))
def test_busiest_window_is_the_maximum(times: list[int], per_s: int) -> None:
    items = locations([float(t) for t in times])
    window = _busiest_window(items, float(per_s))
    brute = max((sum(1 for u in times if t <= u < t + per_s) for t in times), default=0)
    assert len(window) == brute
    if window:
        assert max(f.ts for f in window) - min(f.ts for f in window) < per_s


def test_party_scoped_limit(signatures: SignatureSet) -> None:
    limit = FrequencyLimit(type="location", max=1, per_s=60, party="amap.com")
    decl = declaration(frequency=[asdict(limit)])
    assert tripped(judge(locations([0, 1, 2]), decl, signatures), "LT-FREQUENCY") == []
    amap = locations([0, 1, 2], host="apilocate.amap.com")
    assert tripped(judge(amap, decl, signatures), "LT-FREQUENCY")
