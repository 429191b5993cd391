"""Bounded decompression: gzip, zlib/deflate, brotli and zstd.

Every decoder stops at ``cap`` output bytes however much the input claims,
so a 1 MB gzip of 1 GB of zeros costs ``cap`` bytes of memory, not 1 GB.
The libraries do the decompressing; this module only feeds them in bounded
steps.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Final

import brotli

from leaktrace.types import slot_init

GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
DECLARED_CODINGS: Final = frozenset({"gzip", "deflate", "br", "zstd"})

# Brotli has no output limit per call, so input goes in a few bytes at a time;
# one byte can expand to at most about one 16 MiB window.
_BROTLI_MAX_STEP: Final = 16
_ZSTD_MAX_WINDOW: Final = 1 << 25
_ZSTD_READ: Final = 1 << 20
_ZSTD_UNKNOWN_SIZE: Final = (1 << 64) - 1


@slot_init
@dataclass(frozen=True, slots=True)
class Inflated:
    """Output of one decompression; partial when ``capped`` or ``error`` is set."""

    data: bytes
    capped: bool = False  # output reached the cap; data is the first cap bytes
    error: str | None = None  # corrupt or cut-short stream; data is what came before


def sniff(data: bytes) -> str | None:
    """Name the compression format announced by the first bytes, if any.

    Brotli has no magic number and is only ever decoded when declared.
    """
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    if len(data) >= 2 and data[0] == 0x78 and not data[1] & 0x20 and (0x7800 | data[1]) % 31 == 0:
        return "zlib"
    return None


def inflate(coding: str, data: bytes, cap: int) -> Inflated:
    """Decompress ``data`` in format ``coding`` to at most ``cap`` bytes."""
    if coding == "gzip":
        return _zlib(data, 31, cap, members=True)
    if coding == "zlib":
        return _zlib(data, 15, cap)
    if coding == "deflate":
        # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2); some clients send raw deflate.
        wrapped = _zlib(data, 15, cap)
        return wrapped if wrapped.data or wrapped.error is None else _zlib(data, -15, cap)
    if coding == "br":
        return _brotli(data, cap)
    if coding == "zstd":
        return _zstd(data, cap)
    return Inflated(b"", error=f"unsupported coding {coding!r}")


def _zlib(data: bytes, wbits: int, cap: int, members: bool = False) -> Inflated:
    out = bytearray()
    inflater = zlib.decompressobj(wbits)
    pending = data
    try:
        while True:
            chunk = inflater.decompress(pending, cap - len(out) + 1)
            out += chunk
            if len(out) > cap:
                return Inflated(bytes(out[:cap]), capped=True)
            before = len(pending)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                rest = inflater.unused_data
                if members and rest.startswith(GZIP_MAGIC):
                    inflater = zlib.decompressobj(wbits)
                    pending = rest
                    continue
                return Inflated(bytes(out))
            if not chunk and (not pending or len(pending) >= before):
                return Inflated(bytes(out), error="stream ends early")
    except zlib.error as exc:
        return Inflated(bytes(out), error=str(exc))


def _brotli(data: bytes, cap: int) -> Inflated:
    out = bytearray()
    decompressor = brotli.Decompressor()
    pos = 0
    step = 1
    try:
        while pos < len(data):
            chunk = decompressor.process(data[pos : pos + step])
            pos += step
            out += chunk
            if len(out) > cap:
                return Inflated(bytes(out[:cap]), capped=True)
            # Grow the step while output stays ordinary; fall back to one byte near a bomb.
            step = min(step * 2, _BROTLI_MAX_STEP) if len(chunk) <= 256 * step else 1
    except brotli.error as exc:
        return Inflated(bytes(out), error=str(exc) or "corrupt brotli stream")
    if not decompressor.is_finished():
        return Inflated(bytes(out), error="stream ends early")
    return Inflated(bytes(out))


def _zstd(data: bytes, cap: int) -> Inflated:
    import zstandard  # 5-20 ms to import; only zstd bodies need it

    out = bytearray()
    dctx = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    try:
        with dctx.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            while len(out) <= cap:
                chunk = reader.read(min(cap + 1 - len(out), _ZSTD_READ))
                if not chunk:
                    break
                out += chunk
        if len(out) > cap:
            return Inflated(bytes(out[:cap]), capped=True)
        declared = zstandard.get_frame_parameters(data).content_size
    except zstandard.ZstdError as exc:
        return Inflated(bytes(out[:cap]), capped=len(out) > cap, error=str(exc))
    # The reader does not report a cut-short frame; the frame header may say how long it was.
    if declared != _ZSTD_UNKNOWN_SIZE and len(out) < declared:
        return Inflated(bytes(out), error="stream ends early")
    return Inflated(bytes(out))
