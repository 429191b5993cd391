"""DNS messages over UDP and TCP framing: names terminate, loops and lies end early."""

from __future__ import annotations

from _harness import check, fuzz_main, instrumented

with instrumented():
    from leaktrace.protocols.dns import NATIVE, parse_dns, parse_dns_python, split_tcp_dns


def test_one_input(data: bytes) -> None:
    packet = parse_dns(data)
    if NATIVE is not None:
        check(packet == parse_dns_python(data), "the native walk reads it as Python does")
    if packet is not None:
        for question in packet.questions:
            # 255 wire bytes, each shown as at most 4 characters (\DDD)
            check(len(question.qname) <= 255 * 4, "names stay within RFC 1035 length")
        check(len(packet.questions) <= 65535, "question count is 16-bit")
    messages, rest = split_tcp_dns(data)
    check(sum(len(m) + 2 for m in messages) + len(rest) == len(data), "framing loses no byte")
    for message in messages:
        parse_dns(message)


if __name__ == "__main__":
    fuzz_main(test_one_input)
