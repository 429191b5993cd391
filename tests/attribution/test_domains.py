"""Registrable domains from the bundled public suffix list, without any network access."""

from __future__ import annotations

import socket

import pytest
import tldextract

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
    [("Api.Example.com.", "api.example.com"), ("[::1]:80", "::1"), ("h:80", "h"), ("::1", "::1")],
)
def test_normalize_host(raw: str, host: str) -> None:
    assert normalize_host(raw) == host


def test_is_ip() -> None:
    assert is_ip("10.0.0.1") and is_ip("::1")
    assert not is_ip("example.com")
