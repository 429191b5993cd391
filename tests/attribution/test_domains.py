"""Registrable domains from the bundled public suffix list, without any network access."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.attribution import domains
from leaktrace.attribution.domains import is_ip, normalize_host, registrable_domain


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("a.b.umeng.com", "umeng.com"),
        ("api.shop.example.com", "example.com"),
        ("Foo.Example.COM.", "example.com"),
        ("www.example.com.cn", "example.com.cn"),
        ("app.adjust.net.in", "adjust.net.in"),
        ("example.com:8443", "example.com"),
        ("1.2.3.4", None),
        ("[2001:db8::1]:443", None),
        ("2001:db8::1", None),
        ("localhost", None),
        ("com", None),
        ("", None),
    ],
)
def test_registrable_domain(host: str, domain: str | None) -> None:
    assert registrable_domain(host) == domain


def test_no_network_and_no_cache_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    extractor = tldextract.TLDExtract(
        cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True
    )
    assert extractor("a.never-seen-before-host.co.uk").top_domain_under_public_suffix == (
        "never-seen-before-host.co.uk"
    )
    registrable_domain.cache_clear()
    assert registrable_domain("x.another-new-host.com.au") == "another-new-host.com.au"
    assert domains._EXTRACT.suffix_list_urls == ()


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("Api.Example.com.", "api.example.com"),
        ("[::1]:80", "::1"),
        ("h:80", "h"),
        ("::1", "::1"),
        ("Api.Example.com.:443", "api.example.com"),  # the dot before the port goes too
        ("example.com. :80", "example.com"),
        ("[[::1]]", "::1"),
        ("[ ::1 ]:443", "::1"),
    ],
)
def test_normalize_host(raw: str, host: str) -> None:
    assert normalize_host(raw) == host


_HOSTISH = st.text(alphabet=st.sampled_from("aZ.:[] \t1İ\u3002"), max_size=12)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_HOSTISH, st.text(max_size=12)))
def test_a_normalised_host_normalises_to_itself(raw: str) -> None:
    """What the docstring promises holds of every result, so normalising twice (each
    layer normalises what it is handed) changes nothing; brackets nest without limit."""
    host = normalize_host(raw)
    assert normalize_host(host) == host
    assert host == host.strip() and not host.endswith(".") and not host.startswith("[")
    assert host.count(":") != 1


@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000 + "::1" + "]" * 100_000, "[ " * 50_000 + "h", "h" + ". " * 50_000 + ":1"],
)
def test_long_runs_of_brackets_spaces_and_dots_take_one_pass(raw: str) -> None:
    """Each is cut in one strip: taking one bracket, space or dot at a time would copy
    the rest of the host each time, as long a run as a header allows."""
    assert normalize_host(raw) in ("::1", "h")


def test_whitespace_is_what_strip_strips() -> None:
    stripped = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert stripped == domains.WHITESPACE


def test_is_ip() -> None:
    assert is_ip("10.0.0.1") and is_ip("::1")
    assert not is_ip("example.com")


# ------------------------------------------------------------------ same answers as tldextract


def _reference(host: str) -> str | None:
    """What tldextract itself says, through the same normalisation."""
    value = normalize_host(host)
    if not value or is_ip(value):
        return None
    return domains._tldextract()(value).top_domain_under_public_suffix or None


def _snapshot_rules() -> list[str]:
    path = domains.snapshot_path()
    assert path is not None, "tldextract's bundled snapshot was not found"
    return sorted(domains.SuffixRules.parse(path.read_text(encoding="utf-8")).rules)


def test_snapshot_is_read_without_importing_tldextract() -> None:
    code = (
        "import sys; from leaktrace.attribution.domains import registrable_domain as r; "
        "print(r('a.b.example.co.uk'), 'tldextract' in sys.modules, 'requests' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["example.co.uk", "False", "False"]


def test_every_rule_of_the_snapshot_agrees_with_tldextract() -> None:
    rules = _snapshot_rules()
    assert len(rules) > 5000
    hosts = []
    for rule in rules:
        concrete = rule.removeprefix("!").replace("*", "w1")
        hosts += [concrete, f"x.{concrete}", f"a.b.{concrete}", f"A.B.{concrete.upper()}:8080"]
    mine = [registrable_domain(h) for h in hosts]
    theirs = [_reference(h) for h in hosts]
    assert [(h, m) for h, m, t in zip(hosts, mine, theirs, strict=True) if m != t] == []
    assert sum(m is not None for m in mine) > len(rules)


_LABELS = st.sampled_from(
    ["uk", "co", "com", "ck", "www", "*", "!www", "jp", "kawasaki", "city", "bd", "er", "cn",
     "xn--fiqs8s", "xn--55qx5d", "xn--zz", "xn--", "", "Example", "a_b", "ac", "gov", "k12",
     "ak", "us", "公司", "香港", "123", "0"]
)  # fmt: skip
_DOTS = st.sampled_from([".", ".", ".", "\u3002", "\uff0e", "\uff61"])
_NOISE = st.sampled_from(["", "", "", "http://", "//", "x@", ":443", "/p?q", "#f", "[", "]", " "])


@st.composite
def _odd_hosts(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.one_of(_LABELS, st.text(max_size=6)), min_size=1, max_size=5))
    host = labels[0]
    for label in labels[1:]:
        host += draw(_DOTS) + label
    return draw(_NOISE) + host + draw(_NOISE)


@settings(max_examples=600, deadline=None)
@given(_odd_hosts())
def test_odd_hosts_agree_with_tldextract(host: str) -> None:
    assert registrable_domain(host) == _reference(host)


def test_an_unreadable_snapshot_falls_back_to_tldextract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stub = tmp_path / "snapshot"
    stub.write_text("// ===BEGIN ICANN DOMAINS===\ncom\n", encoding="utf-8")  # far too short
    monkeypatch.setattr(domains, "snapshot_path", lambda: stub)
    domains._suffix_rules.cache_clear()
    registrable_domain.cache_clear()
    try:
        assert domains._suffix_rules() is None
        assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    finally:
        domains._suffix_rules.cache_clear()
        registrable_domain.cache_clear()


def _fresh_rules() -> domains.SuffixRules | None:
    domains._suffix_rules.cache_clear()
    try:
        return domains._suffix_rules()
    finally:
        domains._suffix_rules.cache_clear()


def test_parsed_rules_come_from_the_cache_until_the_snapshot_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache_dir: Path
) -> None:
    real = domains.snapshot_path()
    assert real is not None
    copy = tmp_path / "snapshot"
    copy.write_bytes(real.read_bytes())
    monkeypatch.setattr(domains, "snapshot_path", lambda: copy)
    parsed: list[int] = []
    parse = domains.SuffixRules.parse

    def counting(text: str) -> domains.SuffixRules:
        parsed.append(len(text))
        return parse(text)

    monkeypatch.setattr(domains.SuffixRules, "parse", staticmethod(counting))
    first = _fresh_rules()
    assert first is not None and len(parsed) == 1
    assert len(list(cache_dir.glob("suffix-rules-*.bin"))) == 1
    again = _fresh_rules()
    assert again == first and len(parsed) == 1  # unpickled, not parsed

    copy.write_text("leaktrace-test-suffix\n" + real.read_text(encoding="utf-8"), encoding="utf-8")
    changed = _fresh_rules()
    assert changed is not None and len(parsed) == 2
    assert "leaktrace-test-suffix" in changed.rules and "leaktrace-test-suffix" not in first.rules


def test_a_corrupt_rules_entry_is_parsed_again(
    monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    first = _fresh_rules()
    assert first is not None
    (entry,) = cache_dir.glob("suffix-rules-*.bin")
    entry.write_bytes(entry.read_bytes()[:-10])
    assert _fresh_rules() == first


def _parses_as_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.text(alphabet="0123456789.:abcdefx%-٣", max_size=24),
        st.text(max_size=12),
    )
)
def test_is_ip_answers_as_ipaddress_does(host: str) -> None:
    assert is_ip(host) == _parses_as_ip(host)
