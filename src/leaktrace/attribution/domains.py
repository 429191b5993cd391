"""Registrable domains (eTLD+1) from the public suffix list bundled with tldextract.

Only the snapshot shipped inside the package is used: analysis must give the
same answer offline and must never reach out to the network or write a cache
while it reads someone's traffic.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import tldextract

_EXTRACT = tldextract.TLDExtract(
    cache_dir=None,
    suffix_list_urls=(),
    fallback_to_snapshot=True,
    include_psl_private_domains=False,
)


def normalize_host(host: str) -> str:
    """Lower case, without a trailing dot, IPv6 brackets or a port."""
    value = host.strip().lower().rstrip(".")
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str | None:
    """``api.shop.example.co.uk`` -> ``example.co.uk``; None for IP literals and bare suffixes."""
    value = normalize_host(host)
    if not value or is_ip(value):
        return None
    result = _EXTRACT(value)
    return result.top_domain_under_public_suffix or None
