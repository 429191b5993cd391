"""JSON documents flattened to leaves addressed by a JSONPath-like path.

Numbers keep their wire text (``869677023945285`` must not become a float,
``1.50`` must stay ``1.50``) and duplicate keys are all kept, since a second
``"imei"`` is as much a leak as the first. Nesting is walked with an explicit
stack so a deeply nested document cannot exhaust the Python stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from leaktrace.text import escape_surrogates, text_bytes

_IDENTIFIER: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class JsonNumber(str):
    """A JSON number or NaN/Infinity literal, as written."""

    __slots__ = ()


class JsonObject(list[tuple[str, object]]):
    """A JSON object as its (key, value) pairs in document order, duplicates kept."""

    __slots__ = ()


@dataclass(slots=True)  # not frozen: one is made per leaf, and frozen init is slower
class JsonLeaf:
    path: str  # "$.a.b[0]", '$["some key"]'
    value: bytes
    key: str | None  # nearest object key; None above the first object
    is_string: bool  # strings may hold further encodings; numbers and booleans do not


def parse_container(data: bytes) -> object | None:
    """Parse a JSON object or array; None for anything else or on any error."""
    doc = parse_json(data)
    return doc if isinstance(doc, (JsonObject, list)) else None


def parse_json(data: bytes) -> object | None:
    """Parse any JSON value; None on error, including nesting too deep for the parser."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # surrogateescape keeps non-UTF-8 bytes recoverable in string leaves.
    text = data.decode("utf-8", "surrogateescape")
    try:
        doc: object = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return doc


# What json.loads with these hooks builds on every call; it holds no state between calls.
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=JsonObject,
    parse_int=JsonNumber,
    parse_float=JsonNumber,
    parse_constant=JsonNumber,
)


def iter_leaves(doc: object) -> Iterator[JsonLeaf]:
    """Yield every string, number and boolean in document order; nulls carry nothing."""
    stack: list[tuple[object, str, str | None]] = [(doc, "$", None)]
    pop = stack.pop
    push = stack.append
    steps = _KEY_STEPS
    while stack:
        node, path, key = pop()
        if isinstance(node, JsonObject):
            for k, v in reversed(node):
                push((v, path + (steps.get(k) or key_step(k)), k))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                push((node[i], f"{path}[{i}]", key))
        elif isinstance(node, JsonNumber):
            yield JsonLeaf(path, node.encode("ascii", "replace"), key, False)
        elif isinstance(node, str):
            yield JsonLeaf(path, text_bytes(node), key, True)
        elif isinstance(node, bool):
            yield JsonLeaf(path, b"true" if node else b"false", key, False)


def key_step(key: str) -> str:
    """``.name`` for identifier-like keys (``$`` allowed), ``["other key"]`` otherwise."""
    step = _KEY_STEPS.get(key)
    if step is None:
        if _IDENTIFIER.fullmatch(key):
            step = "." + key
        else:
            # A key of invalid UTF-8 or with a "\ud800" escape keeps those as JSON
            # escapes: the path still names the key, and every sink can write it.
            step = "[" + escape_surrogates(json.dumps(key, ensure_ascii=False)) + "]"
        if len(_KEY_STEPS) >= _KEY_STEPS_MAX:
            _KEY_STEPS.clear()
        _KEY_STEPS[key] = step
    return step


# Keys recur in every document of an API; their path steps are remembered, in a bound.
_KEY_STEPS: dict[str, str] = {}
_KEY_STEPS_MAX = 4096
