"""pcap_records writes the derived fixtures, so its round trip and its failures must be exact."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pcap_records as pr

records = st.lists(
    st.tuples(
        st.integers(0, 2**32 - 1),
        st.integers(0, 999_999_999),
        st.binary(max_size=80),
    ),
    max_size=6,
)


def build(recs: list[tuple[int, int, bytes]], magic: int = pr.MAGIC_US) -> pr.Capture:
    return pr.Capture(
        magic, 262144, pr.LINKTYPE_ETHERNET, [pr.Record(s, f, len(d), d, -1) for s, f, d in recs]
    )


@settings(max_examples=60, deadline=None)
@given(recs=records, nano=st.booleans())
def test_write_then_read_is_identity(
    tmp_path_factory: pytest.TempPathFactory, recs: list[tuple[int, int, bytes]], nano: bool
) -> None:
    path = tmp_path_factory.mktemp("rt") / "x.pcap"
    capture = build(recs, pr.MAGIC_NS if nano else pr.MAGIC_US)
    pr.write(path, capture)
    back = pr.read(path)
    assert back.nanosecond is nano
    assert [(r.ts_sec, r.ts_frac, r.data) for r in back.records] == recs
    offsets = [r.offset for r in back.records]
    assert offsets == sorted(offsets) and (not offsets or offsets[0] == pr.FILE_HEADER_LEN)


@settings(max_examples=60, deadline=None)
@given(recs=records.filter(bool), data=st.data())
def test_any_cut_is_a_value_error_or_a_clean_prefix(
    tmp_path_factory: pytest.TempPathFactory,
    recs: list[tuple[int, int, bytes]],
    data: st.DataObject,
) -> None:
    path = tmp_path_factory.mktemp("cut") / "x.pcap"
    pr.write(path, build(recs))
    size = path.stat().st_size
    offset = data.draw(st.integers(pr.FILE_HEADER_LEN, size))
    pr.cut(path, offset)
    try:
        back = pr.read(path)
    except ValueError:
        return
    ends = {pr.FILE_HEADER_LEN}
    total = pr.FILE_HEADER_LEN
    for _, _, payload in recs:
        total += pr.RECORD_HEADER_LEN + len(payload)
        ends.add(total)
    assert offset in ends
    assert [r.data for r in back.records] == [d for _, _, d in recs][: len(back.records)]


def test_rejects_foreign_magic(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(struct.pack(">IHHiIII", pr.MAGIC_US, 2, 4, 0, 0, 65535, 1))
    with pytest.raises(ValueError, match="not a little-endian"):
        pr.read(path)


ETH_IPV4 = bytes(12) + b"\x08\x00" + b"\x45" + bytes(19)
ETH_VLAN_IPV6 = bytes(12) + b"\x81\x00\x00\x4d" + b"\x86\xdd" + b"\x60" + bytes(39)
ETH_ARP = bytes(12) + b"\x08\x06" + bytes(28)


@pytest.mark.parametrize(
    ("frame", "null", "raw"),
    [
        (ETH_IPV4, struct.pack("<I", 2) + ETH_IPV4[14:], ETH_IPV4[14:]),
        (ETH_VLAN_IPV6, struct.pack("<I", 30) + ETH_VLAN_IPV6[18:], ETH_VLAN_IPV6[18:]),
        (ETH_ARP, None, None),
        (b"\x00" * 5, None, None),
    ],
)
def test_relinking_one_frame(frame: bytes, null: bytes | None, raw: bytes | None) -> None:
    assert pr.ethernet_to_null(frame) == null
    assert pr.ethernet_to_raw(frame) == raw


def test_relink_keeps_timestamps_and_counts_what_it_drops() -> None:
    source = build([(1, 2, ETH_IPV4), (3, 4, ETH_ARP), (5, 6, ETH_VLAN_IPV6)])
    out, dropped = pr.relink(source, pr.LINKTYPE_NULL, pr.ethernet_to_null)
    assert dropped == 1 and out.linktype == pr.LINKTYPE_NULL
    assert [(r.ts_sec, r.ts_frac) for r in out.records] == [(1, 2), (5, 6)]
    assert [r.orig_len for r in out.records] == [len(r.data) for r in out.records]


@settings(max_examples=60, deadline=None)
@given(frame=st.binary(max_size=64))
def test_relinking_never_raises_on_junk(frame: bytes) -> None:
    for convert in (pr.ethernet_to_null, pr.ethernet_to_raw):
        result = convert(frame)
        assert result is None or len(result) <= len(frame) - 10
