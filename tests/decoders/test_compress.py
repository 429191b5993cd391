"""Bounded decompression, including bombs."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.decoders.compress import Inflated, inflate, sniff

TEXT = b'{"imei":"869677023945285","events":[' + b'{"e":"open","t":1700000000},' * 50 + b"{}]}"


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "zlib": zlib.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_roundtrip(coding: str) -> None:
    assert inflate(coding, ENCODERS[coding](TEXT), cap=1 << 20) == Inflated(TEXT)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_cap_cuts_output(coding: str) -> None:
    result = inflate(coding, ENCODERS[coding](TEXT), cap=100)
    assert result == Inflated(TEXT[:100], capped=True)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_cut_short_stream_gives_partial_output_and_error(coding: str) -> None:
    big = bytes(range(256)) * 200 + TEXT * 20
    blob = ENCODERS[coding](big)
    result = inflate(coding, blob[: len(blob) // 2], cap=1 << 20)
    assert result.error is not None
    assert not result.capped
    assert big.startswith(result.data)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_garbage_is_an_error_not_an_exception(coding: str) -> None:
    result = inflate(coding, b"\x1f\x8b\x08garbage-garbage-garbage", cap=1000)
    assert result.error is not None


def test_raw_deflate_declared_as_deflate() -> None:
    assert inflate("deflate", deflate_raw(TEXT), cap=1 << 20) == Inflated(TEXT)


def test_multi_member_gzip() -> None:
    assert inflate("gzip", gzip.compress(b"abc") + gzip.compress(b"def"), cap=100) == Inflated(
        b"abcdef"
    )


def test_trailing_junk_after_stream_is_ignored() -> None:
    assert inflate("gzip", gzip.compress(b"abc") + b"\x00\x00", cap=100) == Inflated(b"abc")


def test_unknown_coding() -> None:
    assert inflate("compress", b"x", 10).error is not None


def test_sniff() -> None:
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(zlib.compress(b"x")) == "zlib"
    assert sniff(zlib.compress(b"x", 9)) == "zlib"
    assert sniff(zlib.compress(b"x", 1)) == "zlib"
    assert sniff(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert sniff(brotli.compress(b"x")) is None
    assert sniff(b"x") is None
    assert sniff(b"xyz") is None
    assert sniff(b"") is None


def test_gzip_bomb_is_cut_at_the_cap(gigabyte_bomb: bytes) -> None:
    assert len(gigabyte_bomb) < 2 << 20
    result = inflate("gzip", gigabyte_bomb, cap=16 << 20)
    assert result.capped
    assert result.data == bytes(16 << 20)


def test_brotli_bomb_is_cut_at_the_cap() -> None:
    compressor = brotli.Compressor(quality=5, lgwin=24)
    block = bytes(1 << 20)
    bomb = b"".join(compressor.process(block) for _ in range(256)) + compressor.finish()
    assert len(bomb) < 1 << 20
    result = inflate("br", bomb, cap=4 << 20)
    assert result.capped
    assert len(result.data) == 4 << 20


def test_zstd_bomb_is_cut_at_the_cap() -> None:
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    block = bytes(1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(512)) + compressor.flush()
    result = inflate("zstd", bomb, cap=4 << 20)
    assert result.capped
    assert len(result.data) == 4 << 20


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(ENCODERS)), st.binary(max_size=300), st.integers(0, 500))
def test_arbitrary_input_never_raises_and_respects_cap(coding: str, data: bytes, cap: int) -> None:
    result = inflate(coding, data, cap)
    assert len(result.data) <= cap


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(ENCODERS)), st.binary(max_size=2000), st.integers(0, 3000))
def test_prefix_property(coding: str, data: bytes, cap: int) -> None:
    """Output is always a prefix of the true content, capped exactly when it is longer."""
    result = inflate(coding, ENCODERS[coding](data), cap)
    assert result.data == data[:cap]
    assert result.capped == (len(data) > cap)
    assert result.error is None
