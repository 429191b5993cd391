"""Request targets, query strings and form bodies."""

from __future__ import annotations

from _harness import check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.form import parse_form, parse_form_shaped
    from leaktrace.decoders.url import parse_query, percent_decode, split_target


def test_one_input(data: bytes) -> None:
    target = data.decode("latin-1")
    path, query = split_target(target)
    check(path is None or len(path) <= len(data), "path comes from the target")
    check(len(query) <= len(data), "query comes from the target")
    for _name, value in parse_query(query):
        check(len(value) <= len(query), "values come from the query")
    check(len(percent_decode(data)) <= len(data), "percent-decoding shrinks")
    parse_form(data)
    parse_form_shaped(data)


if __name__ == "__main__":
    fuzz_main(test_one_input)
