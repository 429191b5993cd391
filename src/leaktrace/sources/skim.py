"""The Python side of the native record walk (``_skim.c``).

Most frames of a capture need nothing but a lookup on a few header bytes:
download segments and the client's ACKs of flows already in the table, stray
ACKs of closed connections, and in a partitioned run the other workers'
frames. The C module takes such runs of records straight from the reader's
buffer and updates the flow table's counters the way ``FlowTable`` itself
would; the reader hands every other record to the Python path as a ``Frame``.
``Skimmer`` carries the state the walk needs between calls. Without the C
module (no compiler at install time) ``NATIVE`` is None and every record takes
the Python path, with the same results.
"""

from __future__ import annotations

from types import ModuleType

from leaktrace.sources.flows import FlowTable

NATIVE: ModuleType | None
try:
    from leaktrace.sources import _skim as NATIVE
except ImportError:  # pragma: no cover - depends on the build
    NATIVE = None

__all__ = ["NATIVE", "Skimmer"]


class Skimmer:
    """One capture read's walk: the flow table it accounts to, the partition
    (index, count) whose other workers' frames it drops, and the frame it must
    stop before (a progress report).

    ``owned_offset`` is the file offset of the record the last call stopped at
    when the walk found it to be this worker's frame, so that the capture
    source need not judge it again (-1 otherwise)."""

    __slots__ = ("_native", "_table", "_tables", "frames", "owned_offset", "stop_index")

    def __init__(
        self, native: ModuleType, table: FlowTable, partition: tuple[int, int] | None
    ) -> None:
        self._native = native
        self._table = table
        self._tables = (table.bulk, table.client_acks, table.closed_raw, partition)
        self.frames = 0  # frames read so far, taken or not
        self.stop_index = 1 << 62
        self.owned_offset = -1

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
        """``base`` is the file offset of ``buf[0]``."""
        table = self._table
        pos, index, prev_sec, table._count, owned = self._native.pcap(
            buf, pos, index, prev_sec, limit, big_endian, scale, max_jump, linktype,
            self._tables, table._count, table._next_sweep_count, self.stop_index,
        )  # fmt: skip
        self.frames = index
        self.owned_offset = base + pos if owned else -1
        return pos, index, prev_sec

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
        table = self._table
        pos, index, last_ts, table._count, owned = self._native.pcapng(
            buf, pos, index, last_ts, big_endian, interfaces, max_block,
            self._tables, table._count, table._next_sweep_count, self.stop_index,
        )  # fmt: skip
        self.frames = index
        self.owned_offset = base + pos if owned else -1
        return pos, index, last_ts
