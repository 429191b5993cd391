"""base64, base64url and hex detection inside values."""

from __future__ import annotations

import binascii

from _harness import check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.binary import is_meaningful, try_base64, try_hex


def test_one_input(data: bytes) -> None:
    is_meaningful(data)
    b64 = try_base64(data)
    if b64 is not None:
        step, decoded = b64
        check(step in ("base64", "base64url"), "known step name")
        check(len(decoded) <= len(data), "decoding shrinks")
    hexed = try_hex(data)
    if hexed is not None:
        check(binascii.hexlify(hexed[1]) == data.strip().lower(), "hex round-trips")
    # A value wrapped in base64 always decodes back when it is meaningful text.
    wrapped = binascii.b2a_base64(data, newline=False)
    again = try_base64(wrapped)
    if again is not None:
        check(again[1] == data, "base64 round-trips")


if __name__ == "__main__":
    fuzz_main(test_one_input)
