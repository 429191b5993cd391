from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.flowid import community_id

# From corelight/community-id-spec, baseline/README.md and baseline_deflt.json.
GOLDEN = [
    ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    ("1.2.3.4", 1122, "5.6.7.8", 3344, 17, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
    ("1.2.3.4", 1122, "5.6.7.8", 3344, 132, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="),
    ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
    ("1.2.3.4", 1122, "5.6.7.8", 3344, 17, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
    (
        "2001:470:e5bf:dead:4957:2174:e82c:4887",
        63943,
        "2607:f8b0:400c:c03::1a",
        25,
        6,
        0,
        "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
    ),
    ("192.168.1.52", 54585, "8.8.8.8", 53, 17, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    ("128.232.110.120", 34855, "66.35.250.204", 80, 6, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ("1.2.3.4", 8, "5.6.7.8", 0, 1, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    ("5.6.7.8", 0, "1.2.3.4", 0, 1, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    ("1.2.3.4", 11, "5.6.7.8", 0, 1, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="),
    (
        "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
        128,
        "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
        0,
        58,
        0,
        "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=",
    ),
    ("10.1.12.1", 0, "10.1.12.2", 0, 46, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
]


@pytest.mark.parametrize(("src", "sport", "dst", "dport", "proto", "seed", "expected"), GOLDEN)
def test_golden_vectors(
    src: str, sport: int, dst: str, dport: int, proto: int, seed: int, expected: str
) -> None:
    assert community_id(src, sport, dst, dport, proto, seed) == expected


# ICMP's reverse direction carries the counterpart type, so it has its own vectors above.
_PORTED = [v for v in GOLDEN if v[4] not in (1, 58)]


@pytest.mark.parametrize(("src", "sport", "dst", "dport", "proto", "seed", "expected"), _PORTED)
def test_reverse_direction_hashes_alike(
    src: str, sport: int, dst: str, dport: int, proto: int, seed: int, expected: str
) -> None:
    assert community_id(dst, dport, src, sport, proto, seed) == expected


def test_port_less_protocol_ignores_ports() -> None:
    assert community_id("10.1.12.1", 5, "10.1.12.2", 9, 46) == community_id(
        "10.1.12.2", 0, "10.1.12.1", 0, 46
    )


def test_same_address_orders_by_port() -> None:
    a = community_id("10.0.0.1", 5000, "10.0.0.1", 80, 6)
    b = community_id("10.0.0.1", 80, "10.0.0.1", 5000, 6)
    assert a == b
    assert a != community_id("10.0.0.1", 5001, "10.0.0.1", 80, 6)


_v4 = st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i)))
_v6 = st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i)))
_port = st.integers(0, 65535)


@given(st.one_of(st.tuples(_v4, _v4), st.tuples(_v6, _v6)), _port, _port, st.sampled_from([6, 17]))
def test_symmetric_for_any_flow(addrs: tuple[str, str], sport: int, dport: int, proto: int) -> None:
    src, dst = addrs
    cid = community_id(src, sport, dst, dport, proto)
    assert cid == community_id(dst, dport, src, sport, proto)
    assert cid.startswith("1:") and len(cid) == 30
