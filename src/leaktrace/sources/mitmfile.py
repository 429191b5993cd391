# mypy: disable-error-code="no-untyped-call"
"""mitmproxy flow files (``mitmdump -w``, ``leaktrace proxy --save``) as a stream of Messages.

Flows are converted by the same code as the live addon (``leaktrace.proxy.convert``),
so a saved session analyzed offline gives the findings the live session gave.
Needs the ``proxy`` extra (mitmproxy), imported only when such a file is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from leaktrace.sources.pcap import CaptureError
from leaktrace.types import Coverage, Diagnostic, Message

SUFFIXES = (".mitm", ".flows", ".mitmdump")


def looks_like_flows(head: bytes) -> bool:
    """A tnetstring stream starts with a decimal length and a colon."""
    digits = head.split(b":", 1)[0]
    return 0 < len(digits) <= 12 and digits.isdigit() and b":" in head


class MitmSource:
    """A flow file for ``analyze``: the same interface as ``CaptureSource``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size
            with self.path.open("rb") as stream:
                head = stream.read(16)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        if not looks_like_flows(head):
            raise CaptureError(f"{self.path}: not a mitmproxy flow file")
        try:
            import mitmproxy.io  # noqa: F401
        except ImportError:
            raise CaptureError(
                f"{self.path}: reading mitmproxy flow files needs the proxy extra "
                "(pip install 'leaktrace[proxy]')"
            ) from None
        self.frames = 0
        self.coverage = Coverage()
        self.damage: Diagnostic | None = None

    def __iter__(self) -> Iterator[Message | Diagnostic]:
        with self.path.open("rb") as stream:
            yield from self._read(stream)

    def _read(self, stream: BinaryIO) -> Iterator[Message | Diagnostic]:
        from mitmproxy import exceptions, http, io

        from leaktrace.proxy import convert

        origin = f"mitm:{self.path.name}"
        depth: dict[str, int] = {}
        connections: set[str] = set()
        reader = io.FlowReader(stream)
        flows = reader.stream()
        while True:
            offset = stream.tell()
            try:
                flow = next(iter(flows))
            except StopIteration:
                break
            except (
                exceptions.FlowReadException,
                ValueError,
                KeyError,
                TypeError,
                AttributeError,
                IndexError,
            ) as exc:
                self.damage = Diagnostic(
                    "capture_truncated", f"unreadable flow: {exc}", offset=offset
                )
                yield self.damage
                break
            self.frames += 1
            if not isinstance(flow, http.HTTPFlow):
                continue
            conn = flow.client_conn.id
            connections.add(conn)
            depth[conn] = depth.get(conn, 0) + 1
            msg = convert.http_message(flow, depth[conn], f"{origin}#{self.frames}")
            self._count(msg)
            yield msg
            if flow.websocket is not None:
                for message in flow.websocket.messages:
                    if message.from_client:
                        depth[conn] += 1
                        ws = convert.websocket_message(
                            flow, message, depth[conn], f"{origin}#{self.frames}"
                        )
                        self._count(ws)
                        yield ws
        self.coverage.flows = self.coverage.flows_decoded = len(connections)

    def _count(self, msg: Message) -> None:
        nbytes = len(msg.payload)
        if msg.http is not None:
            nbytes += len(msg.http.target) + len(msg.http.body)
        self.coverage.bytes_outbound += nbytes
        self.coverage.bytes_decoded += nbytes
