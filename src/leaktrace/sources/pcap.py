"""Streaming reader for pcap and pcapng capture files.

Captures can be many gigabytes, so the file is read in large blocks and each
record header is unpacked in place; memory stays at about one block whatever
the file size. Damage in the middle (garbage records, a block whose lengths
disagree) is read past: the reader looks for the next record or block it can
trust, carries on from there and notes each skipped byte range in
``anomalies``. A file cut off, or damaged with nothing readable after it,
yields every frame before the damage and records where and why reading
stopped in ``damage``: a partial analysis with an honest note beats none.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from leaktrace.types import Diagnostic

__all__ = ["CaptureError", "CaptureReader", "Frame", "Skim"]


class Skim(Protocol):
    """A caller's shortcut through runs of records (see ``leaktrace.sources.skim``).

    Given the buffer, the position of a record and the reader's state, it takes
    as many records as it can handle without a ``Frame`` and returns the
    position, frame count and time state after them; records it leaves are
    read as usual. ``base`` is the file offset of ``buf[0]``.
    """

    def pcap(
        self,
        buf: bytes,
        pos: int,
        index: int,
        prev_sec: int,
        limit: int,
        big_endian: bool,
        scale: float,
        max_jump: int,
        linktype: int,
        base: int,
    ) -> tuple[int, int, int]:
        """Classic pcap; ``prev_sec`` is the last record's seconds, or -1."""
        ...

    def pcapng(
        self,
        buf: bytes,
        pos: int,
        index: int,
        last_ts: float,
        big_endian: bool,
        interfaces: tuple[tuple[int, float, float], ...],
        max_block: int,
        base: int,
    ) -> tuple[int, int, float]:
        """pcapng Enhanced Packet Blocks; ``interfaces`` are (linktype, units, offset)."""
        ...


class CaptureError(Exception):
    """The input cannot be read as a capture at all (missing, empty, unknown format)."""


@dataclass(slots=True)
class Frame:
    """One captured link-layer frame as stored in the file."""

    ts: float
    linktype: int
    data: bytes | memoryview
    offset: int
    index: int
    orig_len: int


# pcap global header magics: byte order of the file and timestamp fraction unit.
_PCAP_MAGICS: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
_BOM_LE = b"\x4d\x3c\x2b\x1a"
_BOM_BE = b"\x1a\x2b\x3c\x4d"

# Formats people hand us by mistake; naming them beats "bad magic".
_KNOWN_WRONG: dict[bytes, str] = {
    b"\x1f\x8b": "a gzip-compressed file; decompress it first",
    b"\x28\xb5\x2f\xfd": "a zstd-compressed file; decompress it first",
    b"\xfd7zXZ": "an xz-compressed file; decompress it first",
    b"BZh": "a bzip2-compressed file; decompress it first",
    b"PK\x03\x04": "a zip archive; extract the capture first",
    b"\x34\xcd\xb2\xa1": "a Kuznetzov-patched pcap, which is not supported",
    b"\xa1\xb2\xcd\x34": "a Kuznetzov-patched pcap, which is not supported",
}

_PCAP_HEADER_LEN = 24
_PCAP_RECORD_LEN = 16
# Largest record any libpcap-based tool writes for ordinary link types; a
# length beyond it is garbage, not a packet.
MAX_RECORD = 262_144
# A pcapng block longer than this is taken as a corrupt length field.
MAX_BLOCK = 64 << 20
# Neighbouring pcap records further apart in time than this are doubted until
# the record after the second one agrees with it.
MAX_JUMP = 86_400
# How far past damage to look for the next readable record or block; beyond
# it the file is taken as unreadable from the damage on.
MAX_RESYNC_SCAN = 64 << 20
# The same, when no earlier record gives a time to look for: every byte
# position has to be tried, which is slow.
MAX_BLIND_SCAN = 4 << 20
_RESYNC_CHUNK = 1 << 20
# Skipped ranges kept as diagnostics; the rest are only counted.
MAX_ANOMALIES = 1000

_BT_SHB = 0x0A0D0D0A
_BT_IDB = 0x00000001
_BT_PB = 0x00000002
_BT_SPB = 0x00000003
_BT_EPB = 0x00000006
_BT_DSB = 0x0000000A

_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14

# Smallest legal length of each block type we decode (header and trailer included).
_MIN_BLOCK = {_BT_SHB: 28, _BT_IDB: 20, _BT_PB: 32, _BT_SPB: 16, _BT_EPB: 32, _BT_DSB: 20}


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units: float  # timestamp ticks per second
    offset: float  # seconds added to every timestamp (if_tsoffset)


class CaptureReader:
    """Iterates the frames of one pcap or pcapng file.

    Construction only validates the header, so a bad path fails early with a
    one-line ``CaptureError``; each iteration opens the file afresh.
    """

    def __init__(self, path: str | os.PathLike[str], block_size: int = 4 << 20) -> None:
        self.path = os.fspath(path)
        self._block_size = max(int(block_size), 1)
        self.size = 0
        self.bytes_read = 0
        self.damage: Diagnostic | None = None
        # Damage read past: each skipped byte range (capture_skipped), with offsets.
        self.anomalies: list[Diagnostic] = []
        self.skipped_ranges = 0
        self.skipped_bytes = 0
        self.decryption_secrets: list[tuple[int, bytes]] = []
        # Blocks passed over by type (name resolution, statistics, custom, unknown).
        self.skipped_blocks: dict[int, int] = {}
        self.format = ""
        # pcap only: the file-wide link type and snapshot length.
        self.linktype: int | None = None
        self.snaplen: int | None = None
        head = self._read_head()
        if head[:4] in _PCAP_MAGICS:
            self.format = "pcap"
            if len(head) < _PCAP_HEADER_LEN:
                raise CaptureError(f"{self.path}: pcap file header is cut short")
            endian, _ = _PCAP_MAGICS[head[:4]]
            snaplen, network = struct.unpack_from(endian + "II", head, 16)
            self.snaplen = snaplen
            # Upper bits carry FCS information, not the link type.
            self.linktype = network & 0xFFFF
        elif head[:4] == _PCAPNG_SHB_MAGIC:
            self.format = "pcapng"
            if len(head) < 28:
                raise CaptureError(f"{self.path}: pcapng section header is cut short")
            if head[8:12] not in (_BOM_LE, _BOM_BE):
                raise CaptureError(f"{self.path}: pcapng section header has a bad byte-order magic")
        else:
            for magic, what in _KNOWN_WRONG.items():
                if head.startswith(magic):
                    raise CaptureError(f"{self.path}: not a capture file but {what}")
            raise CaptureError(
                f"{self.path}: not a pcap or pcapng file (starts with 0x{head[:4].hex()})"
            )

    def _read_head(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                head = f.read(64)
        except FileNotFoundError:
            raise CaptureError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise CaptureError(f"{self.path}: is a directory, not a capture file") from None
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        if not head:
            raise CaptureError(f"{self.path}: file is empty")
        if len(head) < 4:
            raise CaptureError(f"{self.path}: too short to be a capture file")
        return head

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_frames()

    def iter_frames(self, skim: Skim | None = None) -> Iterator[Frame]:
        """The frames, except those ``skim`` takes (classic pcap only; see ``Skim``)."""
        self.bytes_read = 0
        self.damage = None
        self.anomalies = []
        self.skipped_ranges = 0
        self.skipped_bytes = 0
        self.decryption_secrets = []
        self.skipped_blocks = {}
        if self.format == "pcap":
            return self._pcap_frames(skim)
        return self._pcapng_frames(skim)

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb", buffering=0)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    # -- block buffer ---------------------------------------------------------

    def _refill(self, f: BinaryIO, buf: bytes, pos: int, need: int) -> bytes:
        """Return a buffer from ``buf[pos]`` on, holding ``need`` bytes if the file has them.

        ``buf`` always ends where the file position is. In a regular file the
        unread tail is read again together with the next block, which costs the
        kernel a few hundred bytes where joining would copy the whole block once more.
        """
        tail = len(buf) - pos
        if tail >= need:
            return buf[pos:]
        chunks = [buf[pos:]]
        if tail > 0 and f.seekable():
            end = f.seek(-tail, os.SEEK_CUR) + tail
            again = f.read(max(self._block_size, need))
            if len(again) >= tail:
                chunks[0] = again
                self.bytes_read += len(again) - tail
            else:  # the file shrank under us: keep what was read
                f.seek(end)
        have = len(chunks[0])
        while have < need:
            chunk = f.read(max(self._block_size, need - have))
            if not chunk:
                break
            self.bytes_read += len(chunk)
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    def _stop(self, name: str, detail: str, offset: int) -> None:
        self.damage = Diagnostic(name=name, detail=detail, offset=offset)

    # -- pcap -----------------------------------------------------------------

    def _pcap_frames(self, skim: Skim | None) -> Iterator[Frame]:
        with self._open() as f:
            buf = self._refill(f, b"", 0, _PCAP_HEADER_LEN)
            endian, scale = _PCAP_MAGICS.get(buf[:4], ("<", 1e-6))
            unpack = struct.Struct(endian + "IIII").unpack_from
            linktype = self.linktype if self.linktype is not None else 0
            snaplen = self.snaplen or 0
            limit = max(MAX_RECORD, snaplen if snaplen <= MAX_BLOCK else 0)
            check = _PcapCheck(endian, limit, 1_000_000 if scale == 1e-6 else 1_000_000_000)
            base = 0  # file offset of buf[0]
            pos = _PCAP_HEADER_LEN
            n = len(buf)
            index = 0
            prev_sec: int | None = None
            big_endian = endian == ">"
            while True:
                if skim is not None and pos + _PCAP_RECORD_LEN <= n:
                    pos, index, last = skim.pcap(
                        buf,
                        pos,
                        index,
                        -1 if prev_sec is None else prev_sec,
                        limit,
                        big_endian,
                        scale,
                        MAX_JUMP,
                        linktype,
                        base,
                    )
                    if last >= 0:
                        prev_sec = last
                if pos + _PCAP_RECORD_LEN > n:
                    buf = self._refill(f, buf, pos, _PCAP_RECORD_LEN)
                    base += pos
                    pos = 0
                    n = len(buf)
                    if n < _PCAP_RECORD_LEN:
                        if n:
                            self._stop(
                                "capture_truncated",
                                f"record header cut short: {n} of 16 bytes at end of file",
                                base,
                            )
                        return
                sec, frac, incl, orig = unpack(buf, pos)
                problem = None
                if incl > limit:
                    problem = f"record {index + 1} claims {incl} bytes, more than the {limit} limit"
                elif prev_sec is not None and abs(sec - prev_sec) > MAX_JUMP:
                    # A header from garbage almost always lands far from the last
                    # time; a real jump is confirmed by the record after it.
                    buf = self._refill(f, buf, pos, 2 * _PCAP_RECORD_LEN + incl)
                    base += pos
                    pos = 0
                    n = len(buf)
                    if not check.confirmed(buf, 0, len(buf) < 2 * _PCAP_RECORD_LEN + incl):
                        problem = f"record {index + 1} header is implausible"
                start = pos + _PCAP_RECORD_LEN
                end = start + incl
                if problem is None and end > n:
                    buf = self._refill(f, buf, pos, _PCAP_RECORD_LEN + incl)
                    base += pos
                    pos = 0
                    n = len(buf)
                    start = _PCAP_RECORD_LEN
                    end = start + incl
                    if end > n:
                        problem = f"record {index + 1} cut short: {n - start} of {incl} bytes"
                if problem is not None:
                    found = self._resync(f, buf, pos, base, check.finder(prev_sec), problem)
                    if found is None:
                        cut = problem.endswith(f"of {incl} bytes")
                        self._stop(
                            "capture_truncated" if cut else "capture_damaged", problem, base + pos
                        )
                        return
                    buf, base = found
                    pos = 0
                    n = len(buf)
                    continue
                index += 1
                yield Frame(sec + frac * scale, linktype, buf[start:end], base + pos, index, orig)
                prev_sec = sec
                pos = end

    # -- resynchronisation ------------------------------------------------------

    def _resync(
        self, f: BinaryIO, buf: bytes, pos: int, base: int, finder: _Finder, reason: str
    ) -> tuple[bytes, int] | None:
        """Scan past damage for the next record or block that ``finder`` vouches for.

        Returns the buffer starting at it and its file offset, after noting the
        skipped byte range; None when the file ends (or the scan bound is hit)
        first, so the caller reports where reading stopped instead.
        """
        damaged_at = base + pos
        q = pos + 1
        scanned = 0
        while scanned < finder.max_scan:
            buf = self._refill(f, buf, q, _RESYNC_CHUNK + finder.lookahead)
            base += q
            q = 0
            eof = len(buf) < _RESYNC_CHUNK + finder.lookahead
            limit = len(buf) if eof else _RESYNC_CHUNK
            hit, buf = finder.find(buf, limit, eof, self._more(f))
            if hit is not None:
                self._skip(damaged_at, base + hit, reason)
                return buf[hit:], base + hit
            if eof:
                return None
            q = _RESYNC_CHUNK
            scanned += _RESYNC_CHUNK
        return None

    def _more(self, f: BinaryIO) -> Callable[[bytes, int], bytes]:
        """Let a finder read on past its window when a candidate block is long."""

        def more(buf: bytes, need: int) -> bytes:
            return self._refill(f, buf, 0, need)

        return more

    def _skip(self, start: int, end: int, reason: str) -> None:
        self.skipped_ranges += 1
        self.skipped_bytes += end - start
        if len(self.anomalies) < MAX_ANOMALIES:
            self.anomalies.append(
                Diagnostic(
                    name="capture_skipped",
                    detail=f"skipped bytes {start}-{end} ({end - start} bytes): {reason}",
                    offset=start,
                )
            )

    # -- pcapng ---------------------------------------------------------------

    def _pcapng_frames(self, skim: Skim | None) -> Iterator[Frame]:
        with self._open() as f:
            buf = b""
            base = 0
            pos = 0
            n = 0
            index = 0
            last_ts = 0.0
            endian = "<"
            u32 = struct.Struct("<I").unpack_from
            hdr = struct.Struct("<II").unpack_from
            epb = struct.Struct("<IIIII").unpack_from
            pb = struct.Struct("<HHIIII").unpack_from
            interfaces: list[_Interface] = []
            ifaces: tuple[tuple[int, float, float], ...] = ()  # the same, for skim
            skipped = self.skipped_blocks
            while True:
                if skim is not None and pos + 12 <= n:
                    pos, index, last_ts = skim.pcapng(
                        buf, pos, index, last_ts, endian == ">", ifaces, MAX_BLOCK, base
                    )
                if pos + 12 > n:
                    buf = self._refill(f, buf, pos, 12)
                    base += pos
                    pos = 0
                    n = len(buf)
                    if n < 12:
                        if n:
                            self._stop(
                                "capture_truncated",
                                f"block header cut short: {n} bytes at end of file",
                                base,
                            )
                        return
                problem = None
                if buf[pos : pos + 4] == _PCAPNG_SHB_MAGIC:
                    bom = buf[pos + 8 : pos + 12]
                    if bom in (_BOM_LE, _BOM_BE):
                        endian = "<" if bom == _BOM_LE else ">"
                        u32 = struct.Struct(endian + "I").unpack_from
                        hdr = struct.Struct(endian + "II").unpack_from
                        epb = struct.Struct(endian + "IIIII").unpack_from
                        pb = struct.Struct(endian + "HHIIII").unpack_from
                        interfaces = []
                        ifaces = ()
                    else:
                        problem = f"section header has a bad byte-order magic 0x{bom.hex()}"
                btype, blen = hdr(buf, pos)
                if problem is None and (
                    blen < _MIN_BLOCK.get(btype, 12) or blen % 4 or blen > MAX_BLOCK
                ):
                    problem = f"block of type 0x{btype:08x} has an impossible length {blen}"
                if problem is None and pos + blen > n:
                    buf = self._refill(f, buf, pos, blen)
                    base += pos
                    pos = 0
                    n = len(buf)
                    if blen > n:
                        problem = f"block of type 0x{btype:08x} cut short: {n} of {blen} bytes"
                if problem is None:
                    (trailer,) = u32(buf, pos + blen - 4)
                    if trailer != blen:
                        problem = (
                            f"block of type 0x{btype:08x} length {blen} does not match "
                            f"its trailing length {trailer}"
                        )
                if problem is not None:
                    finder = _BlockFinder(endian)
                    found = self._resync(f, buf, pos, base, finder, problem)
                    if found is None:
                        cut = " cut short: " in problem
                        self._stop(
                            "capture_truncated" if cut else "capture_damaged", problem, base + pos
                        )
                        return
                    buf, base = found
                    pos = 0
                    n = len(buf)
                    continue
                # The block's framing is sound from here on: a block whose content
                # is inconsistent is skipped alone and reading goes on after it.
                if btype == _BT_EPB:
                    ifid, hi, lo, caplen, origlen = epb(buf, pos + 8)
                    if caplen > blen - 32:
                        self._skip_block(
                            base + pos,
                            blen,
                            f"packet block claims {caplen} bytes in a {blen}-byte block",
                        )
                    elif ifid >= len(interfaces):
                        self._skip_block(
                            base + pos, blen, f"packet block refers to undeclared interface {ifid}"
                        )
                    else:
                        iface = interfaces[ifid]
                        index += 1
                        last_ts = ((hi << 32) | lo) / iface.units + iface.offset
                        yield Frame(
                            last_ts,
                            iface.linktype,
                            buf[pos + 28 : pos + 28 + caplen],
                            base + pos,
                            index,
                            origlen,
                        )
                elif btype == _BT_SPB:
                    if not interfaces:
                        self._skip_block(
                            base + pos, blen, "simple packet block before any interface description"
                        )
                    else:
                        iface = interfaces[0]
                        (origlen,) = u32(buf, pos + 8)
                        caplen = min(origlen, blen - 16)
                        if iface.snaplen:
                            caplen = min(caplen, iface.snaplen)
                        index += 1
                        # The block has no timestamp: the previous packet's keeps time monotonic.
                        yield Frame(
                            last_ts,
                            iface.linktype,
                            buf[pos + 12 : pos + 12 + caplen],
                            base + pos,
                            index,
                            origlen,
                        )
                elif btype == _BT_IDB:
                    iface = self._interface(buf, pos, blen, endian)
                    interfaces.append(iface)
                    ifaces += ((iface.linktype, iface.units, iface.offset),)
                elif btype == _BT_PB:
                    ifid, _drops, hi, lo, caplen, origlen = pb(buf, pos + 8)
                    if caplen > blen - 32 or ifid >= len(interfaces):
                        self._skip_block(
                            base + pos,
                            blen,
                            f"obsolete packet block is inconsistent (interface {ifid}, "
                            f"{caplen} bytes in a {blen}-byte block)",
                        )
                    else:
                        iface = interfaces[ifid]
                        index += 1
                        last_ts = ((hi << 32) | lo) / iface.units + iface.offset
                        yield Frame(
                            last_ts,
                            iface.linktype,
                            buf[pos + 28 : pos + 28 + caplen],
                            base + pos,
                            index,
                            origlen,
                        )
                elif btype == _BT_DSB:
                    stype, slen = hdr(buf, pos + 8)
                    if slen > blen - 20:
                        self._skip_block(
                            base + pos,
                            blen,
                            f"decryption secrets block claims {slen} bytes in a {blen}-byte block",
                        )
                    else:
                        self.decryption_secrets.append((stype, buf[pos + 16 : pos + 16 + slen]))
                elif btype != _BT_SHB:
                    skipped[btype] = skipped.get(btype, 0) + 1
                pos += blen

    def _skip_block(self, offset: int, blen: int, reason: str) -> None:
        self._skip(offset, offset + blen, reason)

    @staticmethod
    def _interface(buf: bytes, pos: int, blen: int, endian: str) -> _Interface:
        """Decode an Interface Description Block; bad options fall back to defaults."""
        linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
        units = 1e6
        offset = 0.0
        opt = pos + 16
        end = pos + blen - 4
        opt_hdr = struct.Struct(endian + "HH").unpack_from
        while opt + 4 <= end:
            code, olen = opt_hdr(buf, opt)
            value = opt + 4
            if code == 0 or value + olen > end:
                break
            if code == _OPT_IF_TSRESOL and olen >= 1:
                res = buf[value]
                units = float(2 ** (res & 0x7F)) if res & 0x80 else float(10**res)
            elif code == _OPT_IF_TSOFFSET and olen >= 8:
                (offset_int,) = struct.unpack_from(endian + "q", buf, value)
                offset = float(offset_int)
            opt = value + ((olen + 3) & ~3)
        return _Interface(linktype, snaplen, units, offset)


# -- what a record or block that can be trusted looks like -------------------------------


class _Finder(Protocol):
    """Finds the first trustworthy record or block start in a window after damage."""

    lookahead: int  # bytes past the window needed to check a candidate in it
    max_scan: int

    def find(
        self, buf: bytes, limit: int, eof: bool, more: Callable[[bytes, int], bytes]
    ) -> tuple[int | None, bytes]:
        """First good start below ``limit``, and the buffer (``more`` may have grown it)."""
        ...


class _PcapCheck:
    """Plausibility of pcap record headers: lengths, sub-second field, neighbour in time."""

    def __init__(self, endian: str, limit: int, units: int) -> None:
        self.endian = endian
        self.limit = limit
        self.units = units
        self.unpack = struct.Struct(endian + "IIII").unpack_from

    def header_ok(self, buf: bytes, pos: int, lo: int = 0, hi: int = 0xFFFFFFFF) -> bool:
        if pos + _PCAP_RECORD_LEN > len(buf):
            return False
        sec, frac, incl, orig = self.unpack(buf, pos)
        return bool(
            0 < incl <= self.limit
            and incl <= orig <= MAX_BLOCK
            and frac < self.units
            and lo <= sec <= hi
        )

    def confirmed(self, buf: bytes, pos: int, eof: bool) -> bool:
        """The record at ``pos`` is sound and the next one (or the end of file) agrees."""
        if not self.header_ok(buf, pos):
            return False
        sec, _frac, incl, _orig = self.unpack(buf, pos)
        nxt = pos + _PCAP_RECORD_LEN + incl
        if nxt + _PCAP_RECORD_LEN > len(buf):
            return eof and nxt <= len(buf)
        return self.header_ok(buf, nxt, sec - MAX_JUMP, sec + MAX_JUMP)

    def finder(self, prev_sec: int | None) -> _RecordFinder:
        return _RecordFinder(self, prev_sec)


class _RecordFinder:
    """The next pcap record: two agreeing headers, near the last good time when known.

    With a last good time, only positions whose high timestamp bytes are close
    to it are tried (found by a regular expression, at C speed).
    """

    def __init__(self, check: _PcapCheck, prev_sec: int | None) -> None:
        self.check = check
        self.lookahead = 2 * _PCAP_RECORD_LEN + check.limit
        self.lo, self.hi = 0, 0xFFFFFFFF
        self.pattern: re.Pattern[bytes] | None = None
        self.max_scan = MAX_BLIND_SCAN
        if prev_sec is not None:
            self.lo = max(prev_sec - MAX_JUMP, 0)
            self.hi = min(prev_sec + MAX_JUMP, 0xFFFFFFFF)
            high = [
                re.escape(struct.pack(check.endian + "H", top))
                for top in range(self.lo >> 16, (self.hi >> 16) + 1)
            ]
            lead = b"[\x00-\xff]{2}" if check.endian == "<" else b""
            self.pattern = re.compile(b"(?=" + lead + b"(?:" + b"|".join(high) + b"))")
            self.max_scan = MAX_RESYNC_SCAN

    def find(
        self, buf: bytes, limit: int, eof: bool, more: Callable[[bytes, int], bytes]
    ) -> tuple[int | None, bytes]:
        check = self.check
        if self.pattern is not None:
            starts: Iterator[int] = (
                m.start() for m in self.pattern.finditer(buf, 0, min(len(buf), limit + 4))
            )
        else:
            starts = iter(range(limit))
        for pos in starts:
            if pos >= limit:
                break
            if check.header_ok(buf, pos, self.lo, self.hi) and check.confirmed(buf, pos, eof):
                return pos, buf
        return None, buf


# Block types a resynchronising reader may land on: the ones pcapng defines.
_KNOWN_BLOCKS = (_BT_IDB, _BT_PB, _BT_SPB, 4, 5, _BT_EPB, _BT_DSB, 0x0BAD, 0x40000BAD)


class _BlockFinder:
    """The next pcapng block whose type is known and whose two length fields agree."""

    lookahead = 64 << 10
    max_scan = MAX_RESYNC_SCAN

    def __init__(self, endian: str) -> None:
        self.endian = endian
        codes = [struct.pack(endian + "I", t) for t in _KNOWN_BLOCKS] + [_PCAPNG_SHB_MAGIC]
        self.pattern = re.compile(b"(?=" + b"|".join(re.escape(c) for c in codes) + b")")

    def find(
        self, buf: bytes, limit: int, eof: bool, more: Callable[[bytes, int], bytes]
    ) -> tuple[int | None, bytes]:
        pos = 0
        while True:
            match = self.pattern.search(buf, pos, min(len(buf), limit + 4))
            if match is None or match.start() >= limit:
                return None, buf
            pos = match.start()
            buf, good = self._block_ok(buf, pos, eof, more)
            if good:
                return pos, buf
            pos += 1

    def _block_ok(
        self, buf: bytes, pos: int, eof: bool, more: Callable[[bytes, int], bytes]
    ) -> tuple[bytes, bool]:
        if pos + 12 > len(buf):
            return buf, False
        endian = self.endian
        if buf[pos : pos + 4] == _PCAPNG_SHB_MAGIC:
            bom = buf[pos + 8 : pos + 12]
            if bom not in (_BOM_LE, _BOM_BE):
                return buf, False
            endian = "<" if bom == _BOM_LE else ">"
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        if blen < _MIN_BLOCK.get(btype, 12) or blen % 4 or blen > MAX_BLOCK:
            return buf, False
        if pos + blen > len(buf) and not eof:
            buf = more(buf, pos + blen)
        if pos + blen > len(buf):
            return buf, False
        (trailer,) = struct.unpack_from(endian + "I", buf, pos + blen - 4)
        if trailer != blen:
            return buf, False
        if btype in (_BT_EPB, _BT_PB):
            (caplen,) = struct.unpack_from(endian + "I", buf, pos + 20)
            return buf, caplen <= blen - 32
        return buf, True
