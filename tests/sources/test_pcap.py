from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from capbuild import (
    block,
    dsb,
    epb,
    idb,
    obsolete_pb,
    pcap_bytes,
    shb,
    spb,
    tcp4,
    udp4,
    write_pcap,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, wrpcap

from leaktrace.sources.pcap import CaptureError, CaptureReader


def _frames(n: int) -> list[tuple[int, int, bytes]]:
    return [(1_700_000_000 + i, i * 10, udp4(payload=bytes([i]) * (i + 1))) for i in range(n)]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("resolution", ["us", "ns"])
def test_pcap_all_magics(tmp_path: Path, endian: str, resolution: str) -> None:
    path = tmp_path / "a.pcap"
    offsets = write_pcap(path, _frames(3), linktype=101, resolution=resolution, endian=endian)
    reader = CaptureReader(path)
    frames = list(reader)
    assert reader.format == "pcap"
    assert reader.linktype == 101
    assert [f.index for f in frames] == [1, 2, 3]
    assert [f.offset for f in frames] == offsets
    assert [bytes(f.data) for f in frames] == [d for _, _, d in _frames(3)]
    scale = 1e-6 if resolution == "us" else 1e-9
    assert frames[2].ts == pytest.approx(1_700_000_002 + 20 * scale, abs=1e-9)
    assert reader.damage is None
    assert reader.bytes_read == reader.size == path.stat().st_size


def test_ns_resolution_keeps_sub_microsecond_order(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    write_pcap(path, [(10, 999_999_999, b"\x45"), (11, 1, b"\x45")], resolution="ns")
    ts = [f.ts for f in CaptureReader(path)]
    assert ts[0] == pytest.approx(10.999999999, abs=1e-9)
    assert ts[1] == pytest.approx(11.000000001, abs=1e-9)


def test_small_block_size_crosses_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "b.pcap"
    frames = _frames(200)
    write_pcap(path, frames)
    got = [bytes(f.data) for f in CaptureReader(path, block_size=1)]
    assert got == [d for _, _, d in frames]


def test_a_file_cut_while_it_is_read_ends_as_truncated(tmp_path: Path) -> None:
    """The next block is read together with the unread tail of the last one; when
    the file has shrunk under the reader, what was already read still counts."""
    data, offsets = pcap_bytes(_frames(200))
    path = tmp_path / "shrinking.pcap"
    path.write_bytes(data)
    reader = CaptureReader(path, block_size=1000)
    got = []
    for frame in reader.iter_frames():
        got.append(frame.index)
        if frame.index == 50:
            with path.open("r+b") as f:
                f.truncate(offsets[50] + 5)  # inside record 51's header
    assert got == list(range(1, len(got) + 1))  # no frame twice, none out of order
    assert 50 <= len(got) < 200
    assert reader.damage is not None and reader.damage.name == "capture_truncated"


def test_record_larger_than_block(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    big = b"x" * 100_000
    write_pcap(path, [(1, 0, big), (2, 0, b"y")])
    got = [bytes(f.data) for f in CaptureReader(path, block_size=4096)]
    assert got == [big, b"y"]


def test_truncated_mid_record(tmp_path: Path) -> None:
    data, offsets = pcap_bytes(_frames(5))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: offsets[3] + 16 + 2])  # record 4 header plus 2 bytes of its data
    reader = CaptureReader(path)
    frames = list(reader)
    assert len(frames) == 3
    assert reader.damage is not None
    assert reader.damage.name == "capture_truncated"
    assert reader.damage.offset == offsets[3]
    assert "record 4" in reader.damage.detail


def test_truncated_mid_record_header(tmp_path: Path) -> None:
    data, offsets = pcap_bytes(_frames(3))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: offsets[2] + 7])
    reader = CaptureReader(path, block_size=4096)
    assert len(list(reader)) == 2
    assert reader.damage is not None
    assert reader.damage.name == "capture_truncated"
    assert reader.damage.offset == offsets[2]


def test_garbage_length_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    data, offsets = pcap_bytes(_frames(3))
    buf = bytearray(data)
    struct.pack_into("<I", buf, offsets[1] + 8, 0x7FFFFFF0)
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(buf))
    reader = CaptureReader(path)
    assert [f.offset for f in reader] == [offsets[0], offsets[2]]
    assert reader.damage is None
    (skip,) = reader.anomalies
    assert skip.name == "capture_skipped"
    assert skip.offset == offsets[1]
    assert f"{offsets[1]}-{offsets[2]}" in skip.detail


def test_header_only_file_has_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    write_pcap(path, [])
    reader = CaptureReader(path)
    assert list(reader) == []
    assert reader.damage is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01", "too short"),
        (b"GET / HTTP/1.1\r\n" * 4, "not a pcap or pcapng"),
        (b"\x1f\x8b\x08\x00" + b"\0" * 40, "gzip"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "cut short"),
    ],
)
def test_unreadable_input_raises_one_line_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as err:
        CaptureReader(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        CaptureReader(tmp_path / "nope.pcap")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="directory"):
        CaptureReader(tmp_path)


def test_scapy_written_pcap(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcap"
    pkts = [Ether() / IP(dst="1.1.1.1") / UDP(dport=53) / b"abc" for _ in range(3)]
    for i, p in enumerate(pkts):
        p.time = 1000 + i
    wrpcap(str(path), pkts)
    frames = list(CaptureReader(path))
    assert [f.linktype for f in frames] == [1, 1, 1]
    assert [bytes(f.data) for f in frames] == [bytes(p) for p in pkts]
    assert [f.ts for f in frames] == [1000.0, 1001.0, 1002.0]


# -- pcapng ------------------------------------------------------------------------


def test_pcapng_two_interfaces_and_tsresol(tmp_path: Path) -> None:
    eth_frame = bytes(Ether() / IP() / UDP() / b"e")
    raw_frame = udp4(payload=b"r")
    data = (
        shb()
        + idb(1)  # default microseconds
        + idb(101, tsresol=9)  # nanoseconds
        + epb(0, 1_700_000_000_000_001, eth_frame)
        + epb(1, 1_700_000_000_000_000_007, raw_frame)
    )
    path = tmp_path / "two.pcapng"
    path.write_bytes(data)
    reader = CaptureReader(path)
    frames = list(reader)
    assert reader.format == "pcapng"
    assert [f.linktype for f in frames] == [1, 101]
    assert [bytes(f.data) for f in frames] == [eth_frame, raw_frame]
    assert frames[0].ts == pytest.approx(1_700_000_000.000001, abs=1e-7)
    assert frames[1].ts == pytest.approx(1_700_000_000.000000007, abs=1e-6)
    assert [f.index for f in frames] == [1, 2]
    assert reader.damage is None


def test_pcapng_power_of_two_resolution(tmp_path: Path) -> None:
    data = shb() + idb(101, tsresol=0x80 | 10) + epb(0, 1024 * 5 + 512, b"\x45")
    path = tmp_path / "p2.pcapng"
    path.write_bytes(data)
    (frame,) = CaptureReader(path)
    assert frame.ts == pytest.approx(5.5)


def test_pcapng_big_endian_and_second_section(tmp_path: Path) -> None:
    data = (
        shb(">")
        + idb(101, endian=">")
        + epb(0, 1_000_000, b"\x45first", endian=">")
        + shb("<")
        + idb(1)
        + epb(0, 2_000_000, b"second")
    )
    path = tmp_path / "sections.pcapng"
    path.write_bytes(data)
    frames = list(CaptureReader(path))
    assert [(f.linktype, bytes(f.data), f.ts) for f in frames] == [
        (101, b"\x45first", 1.0),
        (1, b"second", 2.0),
    ]


def test_pcapng_new_section_forgets_interfaces(tmp_path: Path) -> None:
    data = shb() + idb(1) + shb() + epb(0, 0, b"x")
    path = tmp_path / "forget.pcapng"
    path.write_bytes(data)
    reader = CaptureReader(path)
    assert list(reader) == []
    assert reader.damage is None
    (skip,) = reader.anomalies
    assert skip.name == "capture_skipped"
    assert "interface 0" in skip.detail


def test_pcapng_skips_unknown_blocks_and_collects_secrets(tmp_path: Path) -> None:
    secrets = b"CLIENT_RANDOM 00 11\n"
    data = (
        shb()
        + idb(101)
        + block(0x0BAD, b"custom block payload")
        + block(0x12345678, b"")
        + block(5, b"\0" * 12)  # interface statistics
        + dsb(0x544C534B, secrets)
        + epb(0, 7, b"\x45abc")
        + spb(b"\x45simple")
        + obsolete_pb(0, 9, b"\x45old")
    )
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(data)
    reader = CaptureReader(path)
    frames = list(reader)
    assert [bytes(f.data) for f in frames] == [b"\x45abc", b"\x45simple", b"\x45old"]
    assert [f.index for f in frames] == [1, 2, 3]
    assert reader.skipped_blocks == {0x0BAD: 1, 0x12345678: 1, 5: 1}
    assert reader.decryption_secrets == [(0x544C534B, secrets)]
    assert frames[1].ts == frames[0].ts  # a simple packet block has no time of its own
    assert reader.damage is None


def test_pcapng_simple_packet_block_respects_snaplen(tmp_path: Path) -> None:
    data = shb() + idb(101, snaplen=4) + spb(b"\x45abcdefgh", orig_len=9)
    path = tmp_path / "spb.pcapng"
    path.write_bytes(data)
    (frame,) = CaptureReader(path)
    assert bytes(frame.data) == b"\x45abc"
    assert frame.orig_len == 9


def test_pcapng_bad_block_length(tmp_path: Path) -> None:
    good = shb() + idb(101) + epb(0, 1, b"\x45a")
    bad = struct.pack("<II", 6, 13) + b"\0" * 20
    path = tmp_path / "badlen.pcapng"
    path.write_bytes(good + bad)
    reader = CaptureReader(path)
    assert len(list(reader)) == 1
    assert reader.damage is not None
    assert reader.damage.name == "capture_damaged"
    assert reader.damage.offset == len(good)


def test_pcapng_trailer_mismatch(tmp_path: Path) -> None:
    good = shb() + idb(101)
    broken = bytearray(epb(0, 1, b"\x45abc"))
    struct.pack_into("<I", broken, len(broken) - 4, 999)
    path = tmp_path / "trailer.pcapng"
    path.write_bytes(good + bytes(broken))
    reader = CaptureReader(path)
    assert list(reader) == []
    assert reader.damage is not None
    assert reader.damage.name == "capture_damaged"
    assert reader.damage.offset == len(good)


def test_pcapng_truncated_block(tmp_path: Path) -> None:
    head = shb() + idb(101) + epb(0, 1, b"\x45one")
    last = epb(0, 2, b"\x45two" * 10)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(head + last[:30])
    reader = CaptureReader(path, block_size=4096)
    assert [bytes(f.data) for f in reader] == [b"\x45one"]
    assert reader.damage is not None
    assert reader.damage.name == "capture_truncated"
    assert reader.damage.offset == len(head)


def test_scapy_written_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcapng"
    pkts = [Ether() / IP(dst="9.9.9.9") / UDP(dport=443) / bytes([i]) for i in range(4)]
    for i, p in enumerate(pkts):
        p.time = 2000 + i / 4
    with PcapNgWriter(str(path)) as writer:
        for p in pkts:
            writer.write(p)
    frames = list(CaptureReader(path))
    assert [bytes(f.data) for f in frames] == [bytes(p) for p in pkts]
    assert [f.ts for f in frames] == pytest.approx([2000, 2000.25, 2000.5, 2000.75])


def test_iterating_twice_reads_again(tmp_path: Path) -> None:
    path = tmp_path / "twice.pcap"
    write_pcap(path, _frames(4))
    reader = CaptureReader(path)
    assert len(list(reader)) == 4
    assert len(list(reader)) == 4


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 64))
def test_garbage_after_a_valid_header_never_raises(tail: bytes, block_size: int) -> None:
    """Any bytes after a valid header end in frames and maybe a damage note, never an exception."""
    import tempfile

    for head in (pcap_bytes([(1, 0, tcp4())])[0], shb() + idb(1)):
        with tempfile.NamedTemporaryFile(suffix=".cap") as tmp:
            tmp.write(head + tail)
            tmp.flush()
            reader = CaptureReader(tmp.name, block_size=block_size)
            frames = list(reader)
            assert all(f.offset < len(head) + len(tail) for f in frames)
            if reader.damage is not None:
                assert reader.damage.offset is not None
                assert reader.damage.offset <= len(head) + len(tail)


def test_pcapng_if_tsoffset(tmp_path: Path) -> None:
    from capbuild import option

    body = struct.pack("<HHI", 101, 0, 0) + option(14, struct.pack("<q", 1000)) + option(0, b"")
    data = shb() + block(1, body) + epb(0, 2_500_000, b"\x45")
    path = tmp_path / "offset.pcapng"
    path.write_bytes(data)
    (frame,) = CaptureReader(path)
    assert frame.ts == pytest.approx(1002.5)


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs Wireshark's editcap")
def test_editcap_written_pcapng_with_secrets(tmp_path: Path) -> None:
    """A file written by Wireshark's own tools: options everywhere and a secrets block."""
    src = tmp_path / "in.pcap"
    frames = _frames(5)
    write_pcap(src, frames, resolution="ns", linktype=101)
    keys = tmp_path / "keys.txt"
    keys.write_text("CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\n")
    out = tmp_path / "out.pcapng"
    subprocess.run(
        ["editcap", "-F", "pcapng", "--inject-secrets", f"tls,{keys}", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    reader = CaptureReader(out)
    got = list(reader)
    assert [bytes(f.data) for f in got] == [d for _, _, d in frames]
    assert [f.linktype for f in got] == [101] * 5
    assert got[3].ts == pytest.approx(1_700_000_003 + 30e-9, abs=1e-6)
    assert reader.decryption_secrets == [(0x544C534B, keys.read_bytes())]
    assert reader.damage is None


@pytest.mark.skipif(shutil.which("mergecap") is None, reason="needs Wireshark's mergecap")
def test_mergecap_two_link_types(tmp_path: Path) -> None:
    """mergecap keeps one interface per input, each with its own link type."""
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write_pcap(a, [(10, 0, udp4(payload=b"raw"))], linktype=101)
    eth = bytes(Ether() / IP() / UDP() / b"eth")
    write_pcap(b, [(11, 0, eth)], linktype=1)
    out = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-w", str(out), str(a), str(b)], check=True, capture_output=True)
    got = [(f.linktype, f.ts) for f in CaptureReader(out)]
    assert got == [(101, 10.0), (1, 11.0)]
