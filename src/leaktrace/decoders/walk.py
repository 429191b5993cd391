"""The recursion that peels encodings off a value until plain leaves remain.

Two kinds of value enter it:

* original leaves (a query parameter, a header, a JSON string, a form value):
  always emitted as they are, then decoded further if they look encoded;
* bodies and decoded intermediates (a request body, a multipart part, the
  output of base64 or gzip): emitted unless they turned out to be a container
  (JSON, form, multipart), whose leaves are emitted instead, or a compressed
  stream, whose output is.

Each step appends its name to the chain that ends up in ``Field.where``, and
every step is paid for from the message's :class:`Budget`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from leaktrace.decoders import binary, compress, form, jsonpath, multipart, protobuf
from leaktrace.decoders.budget import Budget, Chain
from leaktrace.decoders.mediatype import MediaType
from leaktrace.decoders.url import percent_decode

_PERCENT_ESCAPE: Final = re.compile(rb"%[0-9A-Fa-f]{2}")
_INDEX: Final = re.compile(r"\[\d*\]")  # "[3]" in a JSON path, "[]" or "[3]" in a form name
_WILD_MAX = 4096
_WILD: dict[str, str] = {}  # paths and names with indexes as "[*]": they recur per message


def _wild(path: str) -> str:
    wild = _WILD.get(path)
    if wild is None:
        if len(_WILD) >= _WILD_MAX:
            _WILD.clear()
        wild = _WILD[path] = _INDEX.sub("[*]", path)
    return wild


_PRINTABLE_ASCII: Final = re.compile(rb"[\x20-\x7e]*")
_JSON_START: Final = (b"{", b"[")


#: Original values up to this size that decode to nothing but themselves are
#: remembered, so the next message carrying one skips every sniffing attempt:
#: the outcome depends on the bytes alone (no key, depth or budget involved),
#: and headers, paths and constant JSON values recur in every message.
PLAIN_MAX_VALUE = 256
PLAIN_MAX_ENTRIES = 8192
_PLAIN: set[bytes] = set()


class Walker:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    # -- entry points -----------------------------------------------------

    def leaf(self, chain: Chain, value: bytes, key: str | None, depth: int = 0) -> None:
        """An original value: emitted as is, then decoded further by sniffing."""
        self._value(chain, value, key, depth, always=True)

    def content(
        self,
        chain: Chain,
        data: bytes,
        key: str | None,
        depth: int,
        media: MediaType | None,
        codings: Sequence[str],
    ) -> None:
        """A body or part: undo its declared codings, read it as its declared type, else sniff."""
        for coding in reversed(codings):
            if coding not in compress.DECLARED_CODINGS:
                self.budget.error(coding, "unsupported content-encoding", chain)
                break
            if not self.budget.can_step(chain, depth):
                break
            inflated = self._inflate(coding, data, chain, declared=True)
            if inflated is None:
                break
            data, chain, depth = inflated, (*chain, coding), depth + 1
        if media is not None and self._declared(chain, data, key, depth, media):
            return
        self._value(chain, data, key, depth, always=False)

    # -- declared content types -------------------------------------------

    def _declared(
        self, chain: Chain, data: bytes, key: str | None, depth: int, media: MediaType
    ) -> bool:
        """Decode by the declared media type; False to fall back to sniffing."""
        kind = media.kind
        if media.essence in protobuf.DECLARED_TYPES and data:
            return self._protobuf(
                chain, data, key, depth, media.essence.startswith("application/grpc")
            )
        if kind == "other" or not data.strip():
            return False
        if not self.budget.can_step(chain, depth):
            self._emit(chain, data, key)
            return True
        if kind == "json":
            doc = jsonpath.parse_json(data)
            if doc is None:
                # Compressed without saying so is common enough to be left to sniffing.
                if compress.sniff(data) is None:
                    self.budget.error("json", "not valid JSON", chain)
                return False
            self._walk_json(chain, doc, key, depth + 1)
            return True
        if kind == "form":
            pairs = form.parse_form(data)
            if pairs is None:
                return False
            self._walk_pairs(chain, "form", pairs, depth + 1)
            return True
        boundary = media.param("boundary") or ""
        parts = multipart.parse_multipart(data, boundary)
        if parts is None:
            self.budget.error("multipart", "boundary not found", chain)
            return False
        for index, part in enumerate(parts):
            name = part.name if part.name is not None else part.filename or f"#{index}"
            step = (*chain, f"multipart:{name}")
            self.content(step, part.body, name, depth + 1, part.media, part.codings)
        return True

    # -- sniffing ---------------------------------------------------------

    def _value(self, chain: Chain, data: bytes, key: str | None, depth: int, always: bool) -> None:
        budget = self.budget
        if budget.full:
            return
        if always and data in _PLAIN:
            self._emit(chain, data, key)
            return
        emitted = always and self._emit(chain, data, key)
        coding = compress.sniff(data)
        if coding is not None:
            if not budget.can_step(chain, depth):
                if not emitted:
                    self._emit(chain, data, key)
                return
            inflated = self._inflate(coding, data, chain, declared=False)
            if inflated is not None:
                self._value((*chain, coding), inflated, key, depth + 1, always=False)
                return
            # Not really compressed after all: read it as text below.

        text = data.strip()
        if text.startswith(_JSON_START):
            doc = jsonpath.parse_container(text)
            if doc is not None:
                if self._enter(chain, data, key, depth, emitted):
                    self._walk_json(chain, doc, key, depth + 1)
                return
            lines = _json_lines(text)
            if lines is not None:
                if self._enter(chain, data, key, depth, emitted):
                    for index, line in lines:
                        self._value((*chain, f"line:{index}"), line, key, depth + 1, always=False)
                return

        pairs = form.parse_form_shaped(text)
        if pairs is not None:
            if self._enter(chain, data, key, depth, emitted):
                self._walk_pairs(chain, "form", pairs, depth + 1)
            return

        if not always and protobuf.looks_like_message(data):
            if self._enter(chain, data, key, depth, emitted):
                self._protobuf(chain, data, key, depth, grpc=False)
            return

        if not emitted and not self._emit(chain, data, key):
            return
        decoded = _transforms(text)
        if not decoded and always and coding is None and len(data) <= PLAIN_MAX_VALUE:
            if len(_PLAIN) >= PLAIN_MAX_ENTRIES:
                _PLAIN.clear()
            _PLAIN.add(data)
        if decoded and budget.can_step(chain, depth):
            for step, output in decoded:
                charged = budget.charge(output, (*chain, step))
                self._value((*chain, step), charged, key, depth + 1, always=False)

    def _enter(self, chain: Chain, data: bytes, key: str | None, depth: int, emitted: bool) -> bool:
        """Whether a container may be opened; if the depth bound forbids it, keep it whole."""
        if self.budget.can_step(chain, depth):
            return True
        if not emitted:
            self._emit(chain, data, key)
        return False

    # -- containers ---------------------------------------------------------

    def _walk_json(self, chain: Chain, doc: object, key: str | None, depth: int) -> None:
        bracketed: list[jsonpath.JsonLeaf] = []  # array elements (or keys that need quoting)
        for leaf in jsonpath.iter_leaves(doc):
            if self.budget.full:
                return
            step = (*chain, f"json:{leaf.path}")
            leaf_key = leaf.key if leaf.key is not None else key
            if leaf.is_string:
                self._value(step, leaf.value, leaf_key, depth, always=True)
                if "[" in leaf.path:
                    bracketed.append(leaf)
            else:
                self._emit(step, leaf.value, leaf_key)
        # With one value in all of them (a constant repeated per element) no list has two.
        if len(bracketed) > 1 and len({leaf.value for leaf in bracketed}) > 1:
            self._emit_lists(  # one per array path: $.apps[*], $.apps[*].pkg
                chain,
                "json",
                (
                    (path, leaf.key if leaf.key is not None else key, leaf.value)
                    for leaf in bracketed
                    if (path := _wild(leaf.path)) != leaf.path  # not just a quoted key
                ),
            )

    def _walk_pairs(
        self, chain: Chain, prefix: str, pairs: list[tuple[str, bytes]], depth: int
    ) -> None:
        for name, value in pairs:
            if self.budget.full:
                return
            self._value((*chain, f"{prefix}:{name}"), value, name, depth, always=True)
        self.repeated(chain, prefix, pairs)

    def repeated(self, chain: Chain, prefix: str, pairs: Sequence[tuple[str, bytes]]) -> None:
        """One joined field for each name that several pairs share: ``pkg=a&pkg=b``,
        ``apps[]=a&apps[]=b``, ``apps[0]=a&apps[1]=b``."""
        if len(pairs) < 2:
            return
        names = [_wild(name) if "[" in name else name for name, _ in pairs]
        if len(set(names)) == len(names):
            return  # every name once: no list (most forms and queries)
        elements = ((n, n.split("[", 1)[0], v) for n, (_, v) in zip(names, pairs, strict=True))
        self._emit_lists(chain, prefix, elements)

    def _protobuf(self, chain: Chain, data: bytes, key: str | None, depth: int, grpc: bool) -> bool:
        """A protobuf (or gRPC-framed) body: each leaf named by its field-number path."""
        messages = protobuf.grpc_messages(data) if grpc else [data]
        if not messages:
            self.budget.error("protobuf", "not gRPC framing", chain)
            return False
        for index, message in enumerate(messages):
            found = protobuf.leaves(message, max_depth=self.budget.limits.max_depth)
            if found is None:
                if message:
                    self.budget.error("protobuf", "not a protobuf message", chain)
                continue
            base = (*chain, f"grpc:{index}") if grpc and len(messages) > 1 else chain
            for leaf in found:
                if self.budget.full:
                    return True
                step = (*base, f"protobuf:field.{leaf.path}")
                if leaf.is_text:
                    self._value(step, leaf.value, key, depth + 1, always=True)
                else:
                    self._emit(step, leaf.value, key)
            texts = ((f"field.{leaf.path}", key, leaf.value) for leaf in found if leaf.is_text)
            self._emit_lists(base, "protobuf", texts)  # a repeated field's texts
        return True

    # -- helpers ----------------------------------------------------------

    def _emit(self, chain: Chain, data: bytes, key: str | None) -> bool:
        return self.budget.emit(chain, data, key)

    def _emit_lists(
        self, chain: Chain, prefix: str, elements: Iterable[tuple[str, str | None, bytes]]
    ) -> None:
        """For each name that several (name, key, value) elements share, their distinct
        values joined by commas, as one field for the list patterns (none for a list of
        one value repeated); the copy counts against the message's decoded bytes."""
        lists: dict[str, tuple[str | None, dict[bytes, None]]] = {}
        for name, key, value in elements:
            found = lists.get(name)
            if found is None:
                lists[name] = (key, {value: None})
            else:
                found[1][value] = None
        budget = self.budget
        for name, (key, distinct) in lists.items():
            if len(distinct) > 1 and not budget.full:
                step = (*chain, f"{prefix}:{name}")
                budget.emit(step, budget.charge(b",".join(distinct), step), key, joined=True)

    def _inflate(self, coding: str, data: bytes, chain: Chain, declared: bool) -> bytes | None:
        """Decompress within the ratio and total-size bounds; None when nothing usable came out.

        Errors are reported only for declared codings: a sniffed magic number
        on a value that is not really compressed is not an anomaly.
        """
        budget = self.budget
        limits = budget.limits
        step = (*chain, coding)
        room = budget.room()
        if room == 0:
            budget.limit("max_total_bytes", step)
            return None
        ratio_cap = max(int(limits.max_ratio * len(data)), limits.ratio_grace_bytes)
        cap = min(room, ratio_cap)
        result = compress.inflate(coding, data, cap)
        if result.capped:
            budget.limit("max_ratio" if ratio_cap < room else "max_total_bytes", step)
        if result.error is not None and declared:
            budget.error(coding, result.error, chain)
        if result.error is not None and not result.data:
            return None
        return budget.charge(result.data, step)


def _transforms(text: bytes) -> list[tuple[str, bytes]]:
    """Decodings of a plain string worth trying: percent-escapes, base64, hex.

    Percent-decoding is for URL-encoded text only; binary data that happens
    to contain ``%41`` is left alone.
    """
    out: list[tuple[str, bytes]] = []
    if _PERCENT_ESCAPE.search(text) and _PRINTABLE_ASCII.fullmatch(text):
        out.append(("urldecode", percent_decode(text)))
    for attempt in (binary.try_base64(text), binary.try_hex(text)):
        if attempt is not None:
            out.append(attempt)
    return out


def _json_lines(text: bytes) -> list[tuple[int, bytes]] | None:
    """Newline-delimited JSON (NDJSON, Sentry envelopes): the lines, if the first is JSON.

    Later lines may be anything (an envelope item can be binary); they are
    decoded on their own.
    """
    if b"\n" not in text:
        return None
    lines = [(i, line) for i, line in enumerate(text.split(b"\n")) if line.strip()]
    if len(lines) < 2 or jsonpath.parse_container(lines[0][1].strip()) is None:
        return None
    return lines
