"""The identifier types added as data, and the validators they need (properties, not samples)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from leaktrace.detectors import DetectorSet
from leaktrace.detectors.validators import cell_id, imeisv, installed_apps, utdid
from leaktrace.signatures import SignatureSet
from leaktrace.types import Field

_PLACEHOLDERS = {0xFFFF, 0xFFFFFF, 0xFFFFFFF, 2147483647}
_LABEL = st.from_regex(r"[a-z][a-z0-9_]{1,8}", fullmatch=True)
_PACKAGE = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}", st.sampled_from(["com", "cn", "tv", "io"]), _LABEL, _LABEL
).filter(
    lambda p: (
        p.rsplit(".", 1)[-1]
        not in {
            "com",
            "cn",
            "net",
            "org",
            "io",
            "co",
            "me",
            "tv",
            "cc",
            "us",
            "uk",
            "info",
            "top",
            "xyz",
        }
    )
)


@given(st.integers(min_value=-10, max_value=(1 << 37)))
def test_cell_id_range(number: int) -> None:
    expected = 0 < number < (1 << 36) and number not in _PLACEHOLDERS
    assert cell_id(str(number)) is expected


@given(st.text(max_size=14))
def test_cell_id_only_plain_decimals(text: str) -> None:
    if cell_id(text):
        assert text.isascii() and text.isdigit() and not text.startswith("0")


@given(
    st.lists(_PACKAGE, min_size=6, max_size=30, unique=True),
    st.sampled_from([",", "|", '","', " "]),
)
def test_installed_apps_six_distinct_names(names: list[str], sep: str) -> None:
    assert installed_apps(sep.join(names))
    assert not installed_apps(sep.join(names[:5]))
    assert not installed_apps(sep.join([names[0]] * len(names)))


@given(st.lists(st.builds(lambda a: f"api.{a}.com", _LABEL), min_size=6, max_size=20, unique=True))
def test_installed_apps_refuses_host_lists(hosts: list[str]) -> None:
    assert not installed_apps(",".join(hosts))


@given(st.from_regex(r"[0-9]{16}", fullmatch=True))
def test_imeisv(value: str) -> None:
    expected = len(set(value)) > 1 and value[:8] != "00000000" and value[14:] != "99"
    assert imeisv(value) is expected


@given(st.binary(min_size=18, max_size=18))
def test_utdid_accepts_any_18_bytes_in_base64(raw: bytes) -> None:
    text = base64.b64encode(raw).decode()
    assert utdid(text) is (len(set(text)) > 1 and not text.isdigit())


@given(st.text(max_size=30))
def test_utdid_needs_24_base64_chars(text: str) -> None:
    if utdid(text):
        assert len(text) == 24 and all(c.isascii() and (c.isalnum() or c in "+/") for c in text)


def test_installed_apps_found_in_a_form_field(signatures: SignatureSet) -> None:
    apps = (
        "com.tencent.mm,com.taobao.taobao,com.sina.weibo,com.baidu.BaiduMap,"
        "com.jingdong.app.mall,tv.danmaku.bili"
    )
    found = DetectorSet(signatures).detect([Field("query:applist", apps.encode(), key="applist")])
    (det,) = [d for d in found if d.type == "installed_apps"]
    assert det.value == apps and "key:applist" in det.evidence and det.confidence == 0.95


def test_cell_id_needs_its_key(signatures: SignatureSet) -> None:
    detectors = DetectorSet(signatures)
    keyed = detectors.detect([Field("body>json:$.cell.lac", b"4566", key="lac")])
    assert [d.type for d in keyed] == ["cell_id"]
    assert detectors.detect([Field("body>json:$.count", b"4566", key="count")]) == []


def test_new_types_are_described(signatures: SignatureSet) -> None:
    cell = signatures.identifiers["cell_id"]
    assert cell.sensitive and cell.category == "location"
    assert signatures.identifiers["installed_apps"].category == "behaviour"
    for type_id in ("vaid", "aaid", "utdid", "imeisv", "cell_id"):
        assert all(p.requires_key for p in signatures.identifiers[type_id].patterns), type_id
