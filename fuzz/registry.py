"""Every fuzz target, and every module that reads untrusted bytes, in one list.

``TARGETS`` names the ``fuzz_<name>.py`` files that ``bench/fuzz.sh all`` runs.
``PARSERS`` is the low-ceremony way in for a new parser: one line naming a
function that takes bytes (or text, a JSON document, a file path), and the
``parsers`` target fuzzes it from then on. ``COVERED`` maps every module of
the input-reading packages to what fuzzes it; the test suite fails when a
module in those packages is in neither ``COVERED`` nor ``EXEMPT``, so a parser
added later cannot go unfuzzed by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TARGETS: dict[str, str] = {
    "pcap": "pcap/pcapng reader on raw file bytes",
    "capture": "whole offline source on a well-framed pcap of fuzzed frames",
    "packets": "link/IP decoding and fragment reassembly",
    "tcp": "TCP stream reassembly",
    "flows": "flow table and per-flow protocol sessions",
    "http1": "HTTP/1 request parser",
    "dns": "DNS messages and DNS-over-TCP framing",
    "tls": "TLS ClientHello reassembly and parsing",
    "sniff": "protocol sniffing",
    "compress": "gzip/zlib/deflate/brotli/zstd with an output cap",
    "binary": "base64/base64url/hex detection",
    "jsonpath": "JSON parsing and flattening",
    "form_url": "request targets, query strings, form bodies",
    "multipart": "multipart bodies",
    "mediatype": "Content-Type and Content-Encoding values",
    "extract_fields": "the recursive decoder on whole messages",
    "pipeline": "detectors and attribution on fuzzed values",
    "yaml_signatures": "signature YAML loader",
    "yaml_device": "device.yaml loader",
    "yaml_declaration": "app.yaml loader",
    "parsers": "every function listed in PARSERS",
}

#: The packages whose modules read bytes that come from traffic or from users.
PACKAGES: tuple[str, ...] = ("leaktrace.sources", "leaktrace.protocols", "leaktrace.decoders")

Adapter = Literal["bytes", "text", "lines", "json", "file"]


@dataclass(frozen=True, slots=True)
class Parser:
    """A function fuzzed by the ``parsers`` target.

    ``call`` is ``module:function``; ``adapter`` says how the fuzz input is
    handed over (``bytes`` as is, ``text`` decoded, ``lines`` split, ``json``
    parsed first and skipped when not JSON, ``file`` a path to a file holding
    it). A result that is iterable is consumed. ``allowed`` lists exception
    class names the function documents for bad input; anything else is a crash.
    """

    call: str
    adapter: Adapter = "bytes"
    allowed: tuple[str, ...] = ()


PARSERS: list[Parser] = [
    Parser("leaktrace.timeline:parse_timeline", "lines", ("TimelineError",)),
    Parser("leaktrace.sources.har:parse_har", "json"),
    Parser("leaktrace.sources.har:HarSource", "file", ("CaptureError",)),
    Parser("leaktrace.sources.mitmfile:MitmSource", "file", ("CaptureError",)),
    Parser("leaktrace.proxy.convert:parse_hello", "bytes"),
    Parser("leaktrace.protocols.http2:parse_requests", "bytes"),
    Parser("leaktrace.protocols.websocket:read_messages", "bytes"),
    Parser("leaktrace.protocols.mqtt:read_packets", "bytes"),
    Parser("leaktrace.protocols.quic:hello_from_datagram", "bytes"),
    Parser("leaktrace.sources.appstream:read_stream", "bytes"),
    Parser("leaktrace.decoders.protobuf:leaves", "bytes"),
    Parser("leaktrace.protocols.quic_app:stream_frames", "bytes"),
    Parser("leaktrace.protocols.http3:read_request_stream", "bytes"),
]

#: module → the target that fuzzes it.
COVERED: dict[str, str] = {
    "leaktrace.sources.pcap": "pcap",
    "leaktrace.sources.capture": "capture",
    "leaktrace.sources._skim": "capture",
    "leaktrace.sources.skim": "capture",
    "leaktrace.sources.packets": "packets",
    "leaktrace.sources.fragments": "packets",
    "leaktrace.sources.tcp": "tcp",
    "leaktrace.sources.flows": "flows",
    "leaktrace.sources.sessions": "flows",
    "leaktrace.sources.dnsmap": "flows",
    "leaktrace.sources.har": "parsers",
    "leaktrace.sources.mitmfile": "parsers",
    "leaktrace.protocols.http1": "http1",
    "leaktrace.protocols.dns": "dns",
    "leaktrace.protocols._dns": "dns",
    "leaktrace.protocols.tls": "tls",
    "leaktrace.protocols.sniff": "sniff",
    "leaktrace.decoders.compress": "compress",
    "leaktrace.decoders.binary": "binary",
    "leaktrace.decoders.jsonpath": "jsonpath",
    "leaktrace.decoders.form": "form_url",
    "leaktrace.decoders.url": "form_url",
    "leaktrace.decoders.multipart": "multipart",
    "leaktrace.decoders.mediatype": "mediatype",
    "leaktrace.decoders.message": "extract_fields",
    "leaktrace.decoders.walk": "extract_fields",
    "leaktrace.decoders.budget": "extract_fields",
    "leaktrace.protocols.http2": "parsers",
    "leaktrace.protocols.websocket": "parsers",
    "leaktrace.protocols.mqtt": "parsers",
    "leaktrace.protocols.quic": "parsers",
    "leaktrace.protocols.quic_app": "parsers",
    "leaktrace.protocols.http3": "parsers",
    "leaktrace.sources.appstream": "parsers",
    "leaktrace.decoders.protobuf": "parsers",
}

#: module → why it needs no target of its own.
EXEMPT: dict[str, str] = {
    "leaktrace.sources": "package marker",
    "leaktrace.protocols": "package marker",
    "leaktrace.decoders": "package marker, re-exports extract_fields",
}
