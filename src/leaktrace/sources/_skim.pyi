from typing import Any

def skim(
    buf: bytes,
    pos: int,
    index: int,
    prev_sec: int,
    limit: int,
    big_endian: bool,
    scale: float,
    max_jump: int,
    linktype: int,
    bulk: dict[bytes, Any],
    client_acks: dict[bytes, Any],
    foreign: dict[bytes, bool] | None,
    count: int,
    next_sweep: int,
    stop_index: int,
    /,
) -> tuple[int, int, int, int]: ...
