"""JSON flattening: any document (deep, huge numbers, bad UTF-8) parses or is refused."""

from __future__ import annotations

from _harness import check, fuzz_main, instrumented

with instrumented():
    from leaktrace.decoders.jsonpath import iter_leaves, parse_container, parse_json


def test_one_input(data: bytes) -> None:
    doc = parse_json(data)
    parse_container(data)
    if doc is None:
        return
    for leaf in iter_leaves(doc):
        check(leaf.path.startswith("$"), "paths start at the root")
        leaf.path.encode("utf-8")  # every sink writes paths as UTF-8 (or Parquet)


if __name__ == "__main__":
    fuzz_main(test_one_input)
