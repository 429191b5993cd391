"""The HTML report's structure, self-containment and escaping of traffic-controlled text."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.declaration import parse_declaration
from leaktrace.policy.engine import evaluate
from leaktrace.policy.lists import SHARED_COLUMNS, lists_csv
from leaktrace.report.html import CSP, SCRIPT, render_html
from leaktrace.testing import finding
from leaktrace.timeline import Timeline
from leaktrace.types import TimelineEvent

DECL = parse_declaration(
    {
        "app": {"id": "com.example.demoshop", "name": "Demo Shop"},
        "first_party": ["example.com"],
        "collects": [{"type": "phone", "purpose": "login"}],
        "shares": [{"party": "baidu_location", "types": ["location"]}],
        "consent": {"event": "consent"},
    }
)
PAYLOAD = "<script>alert(1)</script>"


class Tags(HTMLParser):
    """Every start tag with its attributes, and all text, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def report(findings: list, events: list | None = None) -> str:
    return render_html(evaluate(Timeline(findings, events or []), DECL))


def test_sections_and_self_contained() -> None:
    html = report(
        [
            finding(ts=100.0),
            finding(ts=130.0, host="api.shop.example.com", party="first", sdk=None, type="phone"),
        ],
        [TimelineEvent(120.0, "consent")],
    )
    ids = {attrs.get("id") for _, attrs in parse(html).tags}
    for needed in (
        "summary",
        "double-lists",
        "matrix",
        "timeline",
        "violations",
        "rules",
        "consent-mark",
        "observed-shared",
        "declared-shared",
    ):
        assert needed in ids, needed
    # no fetches of any kind: no src/href attributes pointing anywhere
    for tag, attrs in parse(html).tags:
        assert "src" not in attrs, tag
        assert not (attrs.get("href") or "").strip(), tag
    assert "http-equiv" in html and "default-src 'none'" in CSP
    assert html.count("<script>") == 1 and SCRIPT in html


def test_differences_are_highlighted() -> None:
    html = report([finding()])
    assert '<tr class="undeclared">' in html  # umeng imei: observed, not declared
    assert '<tr class="not_observed">' in html  # baidu_location location: declared, not seen
    assert 'class="num cell-violation"' in html


def test_traffic_text_stays_inert() -> None:
    hostile = finding(
        host=PAYLOAD + ".evil.com",
        where=f"query:{PAYLOAD}",
        sdk=None,
        value="<img src=x onerror=alert(2)>",
        origin='pcap:"><iframe>x</iframe>#1',
    )
    events = [TimelineEvent(50.0, PAYLOAD, (("url", PAYLOAD),))]
    html = report([hostile], events)
    parsed = parse(html)
    assert [tag for tag, _ in parsed.tags].count("script") == 1
    assert not [t for t, _ in parsed.tags if t in ("img", "iframe")]
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    assert any(PAYLOAD in text for text in parsed.text)  # shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=40),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
)
def test_any_traffic_text_adds_no_markup(host: str, where: str, event: str) -> None:
    html = report(
        [finding(host=host or None, where=where, sdk=None)], [TimelineEvent(90.0, event or "x")]
    )
    parsed = parse(html)
    assert [t for t, _ in parsed.tags].count("script") == 1
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    clean = report([finding(host="h.example.org", where="w", sdk=None)], [TimelineEvent(90.0, "x")])
    assert len(parsed.tags) == len(parse(clean).tags)


def test_csv_cells_cannot_start_formulas() -> None:
    ev = evaluate(Timeline([finding(host="=cmd|' /C calc'!A0.evil.com", sdk=None)]), DECL)
    text = lists_csv(ev.lists.shared, SHARED_COLUMNS)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(SHARED_COLUMNS)
    assert all(not re.match(r"^[=+\-@]", cell) for row in rows[1:] for cell in row)


def test_a_withdrawal_and_what_followed_it_are_shown() -> None:
    decl = parse_declaration(
        {
            "app": {"id": "com.example.demoshop"},
            "consent": {"event": "consent"},
            "withdrawal": {"event": "withdraw"},
        }
    )
    marks = [TimelineEvent(10.0, "consent"), TimelineEvent(20.0, "withdraw")]
    html = render_html(evaluate(Timeline([finding(ts=25.0)], marks), decl))
    text = " ".join(parse(html).text)
    assert "Consent withdrawn:" in text and "(event 'withdraw')" in text
    assert "LT-AFTER-WITHDRAWAL" in text and "5.0 s after consent was withdrawn" in text
    unmarked = render_html(evaluate(Timeline([finding(ts=25.0)], marks[:1]), decl))
    assert "Consent not withdrawn in this session" in " ".join(parse(unmarked).text)
