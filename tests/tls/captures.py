"""Shared access to the committed TLS/QUIC/push captures and their key logs."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from leaktrace.pipeline import Pipeline, PipelineConfig
from leaktrace.sources.capture import CaptureSource
from leaktrace.sources.fragments import FragmentReassembler
from leaktrace.sources.packets import decode_frame
from leaktrace.sources.pcap import CaptureReader
from leaktrace.tls.keylog import KeyLog, load_keylog
from leaktrace.types import Diagnostic, Finding, Message

DATA = Path(__file__).resolve().parent.parent / "data" / "tls"
IMEI = "356938035643809"
IMSI = "460001234567890"


@cache
def config() -> PipelineConfig:
    return PipelineConfig.load(reveal=True)


@cache
def pipeline() -> Pipeline:
    """One compiled pipeline for the whole test run (compiling the scanners is the slow part)."""
    return Pipeline(config())


def keys(name: str) -> KeyLog:
    return load_keylog([DATA / f"{name}.keys"])


def run(items: Iterable[Message | Diagnostic]) -> tuple[list[Message], list[Finding]]:
    """Messages a source made and the findings the shared pipeline makes of them."""
    messages: list[Message] = []
    findings: list[Finding] = []
    pipe = pipeline()
    for item in items:
        if isinstance(item, Message):
            messages.append(item)
            findings += [f for f in pipe.process(item) if isinstance(f, Finding)]
    return messages, findings


def analyze(
    name: str, keylog: KeyLog | None = None
) -> tuple[CaptureSource, list[Message], list[Finding]]:
    source = CaptureSource(DATA / name, keylog=keylog)
    messages, findings = run(source)
    return source, messages, findings


def planted(findings: list[Finding]) -> set[tuple[str, str, str | None, str]]:
    """(type, where, host, value) of the findings that carry the planted markers."""
    return {(f.type, f.where, f.host, f.value) for f in findings if f.value in (IMEI, IMSI)}


def datagrams(name: str) -> list[tuple[tuple[str, int] | None, bytes]]:
    """(the client's address and port, or None from the server; payload) of every UDP
    datagram. The server is where the first datagram went."""
    out: list[tuple[tuple[str, int] | None, bytes]] = []
    server = None
    frags = FragmentReassembler()
    for frame in CaptureReader(DATA / name):
        pkt = decode_frame(frame.linktype, frame.data, frame.ts, frags)
        if pkt is None or pkt.proto != 17:
            continue
        server = server or (pkt.dst, pkt.dport)
        client = (pkt.src, pkt.sport) if (pkt.dst, pkt.dport) == server else None
        out.append((client, bytes(pkt.payload)))
    return out
