"""Every function in ``registry.PARSERS``, chosen by the first input byte."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from _harness import MemFile, fuzz_main, instrumented
from registry import PARSERS, Parser

_FILE = MemFile("parsers")


def _load(parser: Parser) -> Callable[..., Any]:
    module_name, _, attr = parser.call.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


with instrumented():
    _FUNCTIONS = [_load(p) for p in PARSERS]


def run_parser(parser: Parser, function: Callable[..., Any], data: bytes) -> None:
    """Feed ``data`` to one parser the way its adapter says; allowed errors are fine."""
    arg: Any
    if parser.adapter == "bytes":
        arg = data
    elif parser.adapter == "text":
        arg = data.decode("utf-8", "surrogateescape")
    elif parser.adapter == "lines":
        arg = data.decode("utf-8", "replace").splitlines(keepends=True)
    elif parser.adapter == "json":
        try:
            arg = json.loads(data)
        except ValueError:
            return
    else:
        arg = _FILE.write(data)
    try:
        result = function(arg)
        if isinstance(result, Iterable) and not isinstance(result, str | bytes | dict):
            for _item in result:
                pass
    except Exception as exc:
        if type(exc).__name__ not in parser.allowed:
            raise


def test_one_input(data: bytes) -> None:
    if not data:
        return
    index = data[0] % len(PARSERS)
    run_parser(PARSERS[index], _FUNCTIONS[index], data[1:])


if __name__ == "__main__":
    fuzz_main(test_one_input)
