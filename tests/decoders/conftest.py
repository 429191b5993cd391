"""Shared fixtures for decoder tests."""

from __future__ import annotations

import zlib

import pytest


def gzip_of_zeros(total: int) -> bytes:
    """Stream-compress ``total`` zero bytes (the run-length strategy keeps it fast)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_RLE)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(total >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="session")
def gigabyte_bomb() -> bytes:
    """1 GiB of zeros, gzip'd to about 1 MiB."""
    return gzip_of_zeros(1 << 30)
