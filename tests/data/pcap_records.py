"""Just enough of the pcap formats to derive the captures Linux cannot make natively.

Linux never writes DLT_NULL (the BSD/macOS loopback header), so that capture is
rewritten from a real Ethernet capture: same packets, same timestamps, new link
header. Truncation is likewise done here, at a recorded byte offset, so tests
know exactly which records survive. Written by hand rather than with scapy so
that timestamps and record order are copied bit for bit.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16

# DLT_NULL stores the sender's AF_ value in the sender's byte order. IPv4 is 2
# everywhere; IPv6 differs per OS, and 30 is what macOS (the usual source) writes.
NULL_AF_BY_ETHERTYPE = {0x0800: 2, 0x86DD: 30}


@dataclass(frozen=True, slots=True)
class Record:
    ts_sec: int
    ts_frac: int  # microseconds or nanoseconds, per the file's magic
    orig_len: int
    data: bytes
    offset: int  # byte offset of the record header in the file


@dataclass(frozen=True, slots=True)
class Capture:
    magic: int
    snaplen: int
    linktype: int
    records: list[Record]

    @property
    def nanosecond(self) -> bool:
        return self.magic == MAGIC_NS


def read(path: Path) -> Capture:
    """Read a little-endian classic pcap as written on this machine; raise on anything else."""
    blob = path.read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", blob)
    if magic not in (MAGIC_US, MAGIC_NS) or (major, minor) != (2, 4):
        raise ValueError(f"{path}: not a little-endian pcap 2.4 file (magic {magic:#x})")
    records = []
    offset = FILE_HEADER_LEN
    while offset + RECORD_HEADER_LEN <= len(blob):
        ts_sec, ts_frac, incl, orig = struct.unpack_from("<IIII", blob, offset)
        start = offset + RECORD_HEADER_LEN
        if start + incl > len(blob):
            raise ValueError(f"{path}: record at {offset} runs past the end of the file")
        records.append(Record(ts_sec, ts_frac, orig, blob[start : start + incl], offset))
        offset = start + incl
    if offset != len(blob):
        raise ValueError(f"{path}: {len(blob) - offset} trailing bytes")
    return Capture(magic, snaplen, linktype, records)


def write(path: Path, capture: Capture) -> None:
    parts = [struct.pack("<IHHiIII", capture.magic, 2, 4, 0, 0, capture.snaplen, capture.linktype)]
    for rec in capture.records:
        parts.append(struct.pack("<IIII", rec.ts_sec, rec.ts_frac, len(rec.data), rec.orig_len))
        parts.append(rec.data)
    path.write_bytes(b"".join(parts))


def _strip_ethernet(frame: bytes) -> tuple[int, bytes] | None:
    """(ethertype, payload) after the MAC header and any 802.1Q tags; None if not IP."""
    offset = 12
    while offset + 2 <= len(frame):
        ethertype = int.from_bytes(frame[offset : offset + 2], "big")
        if ethertype in (0x8100, 0x88A8):
            offset += 4
            continue
        if ethertype in NULL_AF_BY_ETHERTYPE:
            return ethertype, frame[offset + 2 :]
        return None
    return None


def ethernet_to_raw(frame: bytes) -> bytes | None:
    stripped = _strip_ethernet(frame)
    return None if stripped is None else stripped[1]


def ethernet_to_null(frame: bytes) -> bytes | None:
    stripped = _strip_ethernet(frame)
    if stripped is None:
        return None
    ethertype, payload = stripped
    return struct.pack("<I", NULL_AF_BY_ETHERTYPE[ethertype]) + payload


def relink(
    source: Capture, linktype: int, convert: Callable[[bytes], bytes | None]
) -> tuple[Capture, int]:
    """Re-encapsulate every record; returns the capture and how many non-IP frames were dropped."""
    records = []
    dropped = 0
    for rec in source.records:
        data = convert(rec.data)
        if data is None:
            dropped += 1
            continue
        orig_len = rec.orig_len - (len(rec.data) - len(data))
        records.append(Record(rec.ts_sec, rec.ts_frac, orig_len, data, -1))
    return Capture(source.magic, source.snaplen, linktype, records), dropped


def cut(path: Path, offset: int) -> None:
    """Truncate the file in place, as a capture interrupted mid-write would be."""
    with path.open("r+b") as handle:
        handle.truncate(offset)


def find_record(records: Iterable[Record], needle: bytes) -> Record:
    for rec in records:
        if needle in rec.data:
            return rec
    raise LookupError(f"no record contains {needle!r}")


@dataclass(frozen=True, slots=True)
class PcapngInterface:
    linktype: int
    name: str
    tsresol: int  # the raw if_tsresol byte; 6 (microseconds) when the option is absent


def pcapng_interfaces(path: Path) -> list[PcapngInterface]:
    """The interface description blocks of a little-endian pcapng file, in order."""
    blob = path.read_bytes()
    interfaces = []
    offset = 0
    while offset + 12 <= len(blob):
        block_type, block_len = struct.unpack_from("<II", blob, offset)
        if block_len < 12 or offset + block_len > len(blob):
            raise ValueError(f"{path}: bad block length {block_len} at {offset}")
        if block_type == 0x00000001:
            linktype = struct.unpack_from("<H", blob, offset + 8)[0]
            name, tsresol = "", 6
            opt = offset + 16
            end = offset + block_len - 4
            while opt + 4 <= end:
                code, length = struct.unpack_from("<HH", blob, opt)
                value = blob[opt + 4 : opt + 4 + length]
                if code == 0:
                    break
                if code == 2:
                    name = value.rstrip(b"\0").decode("utf-8", "replace")
                elif code == 9:
                    tsresol = value[0]
                opt += 4 + (length + 3) // 4 * 4
            interfaces.append(PcapngInterface(linktype, name, tsresol))
        offset += block_len
    return interfaces


@dataclass(frozen=True, slots=True)
class PcapngPacket:
    interface: int
    timestamp: int  # in units of the interface's if_tsresol
    orig_len: int
    data: bytes


def pcapng_packets(path: Path) -> list[PcapngPacket]:
    """Enhanced packet blocks in file order (which need not be time order)."""
    blob = path.read_bytes()
    packets = []
    offset = 0
    while offset + 12 <= len(blob):
        block_type, block_len = struct.unpack_from("<II", blob, offset)
        if block_len < 12 or offset + block_len > len(blob):
            raise ValueError(f"{path}: bad block length {block_len} at {offset}")
        if block_type == 0x00000006:
            iface, ts_high, ts_low, caplen, orig = struct.unpack_from("<IIIII", blob, offset + 8)
            start = offset + 28
            packets.append(
                PcapngPacket(iface, (ts_high << 32) | ts_low, orig, blob[start : start + caplen])
            )
        offset += block_len
    return packets
