from typing import Any

Tables = tuple[dict[bytes, Any], dict[bytes, Any], dict[bytes, None], dict[bytes, bool] | None]

def pcap(
    buf: bytes,
    pos: int,
    index: int,
    prev_sec: int,
    limit: int,
    big_endian: bool,
    scale: float,
    max_jump: int,
    linktype: int,
    tables: Tables,
    count: int,
    next_sweep: int,
    stop_index: int,
    /,
) -> tuple[int, int, int, int, int]: ...
def pcapng(
    buf: bytes,
    pos: int,
    index: int,
    last_ts: float,
    big_endian: bool,
    interfaces: tuple[tuple[int, float, float], ...],
    max_block: int,
    tables: Tables,
    count: int,
    next_sweep: int,
    stop_index: int,
    /,
) -> tuple[int, int, float, int, int]: ...
