# mypy: disable-error-code="no-untyped-call"
"""The mitmproxy addon: flows in, the shared pipeline, verdicts out.

Thin on purpose: it converts (``convert``), hands each message to the session
``Recorder`` (which owns the pipeline, the findings and the timeline file) and
acts on the verdict (answer locally, block). Loaded on its own by a user's
mitmproxy (``mitmdump -s <this file> --set leaktrace_device=...``), it builds
the recorder from its options; embedded by ``leaktrace proxy`` or
``ProxySession``, it is handed one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from mitmproxy import connection, ctx, exceptions, http, tls
from mitmproxy.addonmanager import Loader
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.proxy import server_hooks

from leaktrace.declaration import DeclarationError, load_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import DeviceProfileError, load_device
from leaktrace.proxy import convert, faults
from leaktrace.proxy.recorder import FindingCallback, Recorder, Verdict
from leaktrace.signatures.loader import SignatureError
from leaktrace.types import Finding, Message, TlsHello

logger = logging.getLogger("leaktrace")

MAX_TRACKED_CONNECTIONS = 1 << 16  # per-connection request counters kept at once
MAX_FAULT_EVENTS = 10_000  # proxy_error events written per reason; past it only counted
LOGGED_FAULTS = 20  # proxy_error log lines per reason before only every 1000th is logged
BLOCK_BODY = b"blocked by leaktrace: identifier sent to an undeclared party\n"
# Response bodies are never analyzed; mitmproxy would hold each whole in memory
# (a 2 GB app update downloaded through the test Wi-Fi: 2 GB). Larger ones, and
# ones of unknown length, go to the device as they arrive instead.
STREAM_RESPONSES_OVER = 1 << 20
# Request bodies are read up to convert.MAX_BODY_BYTES, but mitmproxy would also hold
# each whole (a device uploading a 2 GB video: 2 GB). Larger ones, and ones of unknown
# length, go upstream as they arrive; only the part analysis reads is kept. Not when a
# request must be judged before it leaves (--block-undeclared, --sinkhole).
STREAM_REQUESTS_OVER = 1 << 20
OPTION_NAMES = (
    "leaktrace_device",
    "leaktrace_app",
    "leaktrace_signatures",
    "leaktrace_out",
    "leaktrace_reveal",
)


def finding_line(finding: Finding) -> str:
    """One line per finding, for a terminal that watches a live session."""
    clock = time.strftime("%H:%M:%S", time.localtime(finding.ts))
    sdk = f" {finding.sdk}" if finding.sdk else ""
    return (
        f"{clock} {finding.party}{sdk} {finding.host or finding.dst} {finding.type}="
        f"{finding.value} {finding.where} ({finding.form}, {finding.transport})"
    )


def _log_finding(finding: Finding) -> None:
    logger.info(finding_line(finding))


class LeaktraceAddon:
    def __init__(
        self, recorder: Recorder | None = None, *, on_finding: FindingCallback | None = None
    ) -> None:
        self.recorder = recorder
        self._owns_recorder = recorder is None
        self._on_finding = on_finding or _log_finding
        self._timeline: IO[str] | None = None
        # Bounded maps whose oldest entry goes first: OrderedDict, as taking the front
        # of a dict over and over walks the holes its deletions left.
        self._depth: OrderedDict[str, int] = OrderedDict()
        self._ignore: list[re.Pattern[str]] = []
        self._open: set[str] = set()
        self._max_open = default_max_connections()
        # server connection → the host it was asked for
        self._dialing: OrderedDict[str, str] = OrderedDict()
        # (client, error) reported per server
        self._reported: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.fault_counts: Counter[str] = Counter()
        self._log_watch = faults.ServerLogWatch(self._log_fault)

    # -- options ------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "leaktrace_device", str, "", "device.yaml: the test device's own identifier values"
        )
        loader.add_option("leaktrace_app", str, "", "app.yaml: the app's declaration")
        loader.add_option("leaktrace_signatures", Sequence[str], [], "extra signature directories")
        loader.add_option(
            "leaktrace_out", str, "", "append the session timeline (events, findings) here"
        )
        loader.add_option("leaktrace_reveal", bool, False, "identifier values in full")
        loader.add_option(
            "leaktrace_sinkhole", bool, False, "answer every request with an empty 200 locally"
        )
        loader.add_option(
            "leaktrace_block_undeclared",
            bool,
            False,
            "answer 403 to requests carrying an identifier to a party the declaration lacks",
        )
        loader.add_option(
            "leaktrace_max_connections",
            int,
            0,
            "client connections open at once; more are closed and recorded "
            "(0: a quarter of the open-file limit)",
        )
        loader.add_option(
            "leaktrace_ignore_hosts",
            Sequence[str],
            [],
            "regular expressions of TLS server names to pass through undecrypted",
        )

    def configure(self, updated: set[str]) -> None:
        if self._owns_recorder and any(name in updated for name in OPTION_NAMES):
            self._build_recorder()
        if "leaktrace_ignore_hosts" in updated:
            try:
                self._ignore = [
                    re.compile(p, re.IGNORECASE) for p in ctx.options.leaktrace_ignore_hosts
                ]
            except re.error as exc:
                raise exceptions.OptionsError(f"leaktrace_ignore_hosts: {exc}") from None
        if ctx.options.leaktrace_block_undeclared and (
            self.recorder is None or self.recorder.config.app is None
        ):
            raise exceptions.OptionsError(
                "leaktrace_block_undeclared needs the app's declaration: set leaktrace_app"
            )
        if "leaktrace_max_connections" in updated:
            wanted = ctx.options.leaktrace_max_connections
            if wanted < 0:
                raise exceptions.OptionsError("leaktrace_max_connections: must be 0 or more")
            self._max_open = wanted or default_max_connections()
        if "leaktrace_sinkhole" in updated and ctx.options.leaktrace_sinkhole:
            # never open an upstream connection (nor resolve its name) before a request is seen
            ctx.options.update(connection_strategy="lazy")

    def _build_recorder(self) -> None:
        opts = ctx.options
        try:
            config = PipelineConfig.load(
                signature_dirs=[Path(p) for p in opts.leaktrace_signatures] or None,
                device=load_device(Path(opts.leaktrace_device)) if opts.leaktrace_device else None,
                app=load_declaration(opts.leaktrace_app) if opts.leaktrace_app else None,
                reveal=opts.leaktrace_reveal,
            )
        except (DeviceProfileError, DeclarationError, SignatureError) as exc:
            raise exceptions.OptionsError(f"leaktrace: {exc}") from None
        self._close_timeline()
        if opts.leaktrace_out:
            try:
                self._timeline = Path(opts.leaktrace_out).open("a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise exceptions.OptionsError(
                    f"leaktrace_out: cannot open {opts.leaktrace_out}: {exc.strerror or exc}"
                ) from None
        self.recorder = Recorder(config, timeline=self._timeline, on_finding=self._on_finding)

    def running(self) -> None:
        self._log_watch.install()

    def done(self) -> None:
        self._log_watch.uninstall()
        self._close_timeline()

    def _close_timeline(self) -> None:
        if self._timeline is not None:
            with contextlib.suppress(OSError):
                self._timeline.close()
            self._timeline = None

    # -- traffic ------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        if request.stream or flow.response is not None:
            return
        if ctx.options.leaktrace_block_undeclared or ctx.options.leaktrace_sinkhole:
            return  # the body is judged before anything of the request leaves
        if _body_may_exceed(request, STREAM_REQUESTS_OVER):
            request.stream = StreamedBody(convert.MAX_BODY_BYTES + 1)

    def request(self, flow: http.HTTPFlow) -> None:
        # A server may answer a streamed upload before its end: it is analyzed all the same.
        streamed = _restore_streamed_body(flow)
        if self.recorder is None or (flow.response is not None and not streamed):
            return
        msg = convert.http_message(flow, self._next_depth(flow.client_conn))
        verdict = self.recorder.process(msg)
        meta = _metadata(verdict)
        if streamed:
            meta["streamed"] = True  # it went upstream as it arrived: nothing to block
        elif verdict.undeclared and ctx.options.leaktrace_block_undeclared:
            flow.response = http.Response.make(
                403, BLOCK_BODY, {"Content-Type": "text/plain", "X-Leaktrace": "blocked"}
            )
            meta["blocked"] = True
        elif ctx.options.leaktrace_sinkhole:
            flow.response = http.Response.make(200, b"", {"X-Leaktrace": "sinkhole"})
            meta["sinkhole"] = True
        flow.metadata["leaktrace"] = meta

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or response.stream:
            return
        try:
            size = expected_http_body_size(flow.request, response)
        except ValueError:  # a malformed Content-Length: mitmproxy reports it
            return
        if size is None or size < 0 or size > STREAM_RESPONSES_OVER:
            response.stream = True

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if self.recorder is None or flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        msg = convert.websocket_message(flow, message, self._next_depth(flow.client_conn))
        self.recorder.process(msg)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sni = data.client_hello.sni
        if self.recorder is None or not sni or not any(p.search(sni) for p in self._ignore):
            return
        data.ignore_connection = True
        client = data.context.client
        alpn = tuple(p.decode("ascii", "replace") for p in data.client_hello.alpn_protocols)
        hello = TlsHello(sni=sni, alpn=alpn)
        self._hello(client, data.context.server, hello, "tls_passthrough", None)

    def tls_failed_client(self, data: tls.TlsData) -> None:
        if self.recorder is None:
            return
        client = data.context.client
        hello = convert.client_hello(client)
        self._hello(client, data.context.server, hello, "tls_refused", client.error)

    # -- faults ---------------------------------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        if len(self._open) >= self._max_open:
            client.error = f"over {self._max_open} client connections open"
            self._fault(
                faults.Fault("proxy", "too_many_connections", client.error),
                client=faults.format_address(client.peername),
                limit=self._max_open,
            )
            return
        self._open.add(client.id)

    def client_disconnected(self, client: connection.Client) -> None:
        self._depth.pop(client.id, None)
        self._open.discard(client.id)

    def error(self, flow: http.HTTPFlow) -> None:
        """A flow that ended without a response: whose fault, and what the device had sent."""
        if flow.error is None:
            return
        reported = (flow.client_conn.id, flow.error.msg)
        if reported in self._reported:
            del self._reported[reported]  # its server connection's failure is recorded already
            return
        request = flow.request
        side, reason = faults.classify_flow_error(
            flow.error.msg, request_complete=request.timestamp_end is not None
        )
        extra: dict[str, object] = {}
        if "leaktrace" not in flow.metadata and self.recorder is not None:
            # cut short before the request hook: what arrived (target, headers) is still scanned
            _restore_streamed_body(flow)
            msg = convert.http_message(flow, self._next_depth(flow.client_conn))
            verdict = self.recorder.process(msg)
            flow.metadata["leaktrace"] = {**_metadata(verdict), "cut_short": True}
            extra["findings"] = len(verdict.findings)
        key = convert.flow_key(flow.client_conn, flow.server_conn)
        self._fault(
            faults.Fault(side, reason, flow.error.msg),
            client=faults.format_address(flow.client_conn.peername),
            host=convert.request_host(request),
            server=faults.format_address(flow.server_conn.peername or flow.server_conn.address),
            flow=convert.keyed(key),
            **extra,
        )

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        # before any routing addon rewrites the address: the host the device asked for
        if len(self._dialing) >= MAX_TRACKED_CONNECTIONS:
            self._dialing.popitem(last=False)
        address = data.server.address
        self._dialing[data.server.id] = str(address[0]) if address else ""

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._dialing.pop(data.server.id, None)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._server_fault(data.client, data.server, "upstream_connect_failed")

    def tls_failed_server(self, data: tls.TlsData) -> None:
        self._server_fault(data.context.client, data.context.server, "upstream_tls_failed")

    def _server_fault(
        self, client: connection.Client, server: connection.Server, reason: str
    ) -> None:
        """Recorded once here; a flow that then fails with the same error only repeats it."""
        error = server.error or reason
        if len(self._reported) >= MAX_TRACKED_CONNECTIONS:
            self._reported.popitem(last=False)
        self._reported[(client.id, error)] = None
        host = self._dialing.pop(server.id, "") or server.sni or ""
        self._fault(
            faults.Fault("upstream", reason, error),
            client=faults.format_address(client.peername),
            host=host,
            server=faults.format_address(server.address),
        )

    def _log_fault(self, fault: faults.Fault, client: str | None) -> None:
        self._fault(fault, client=client)

    def _fault(self, fault: faults.Fault, **data: object) -> None:
        """One ``proxy_error`` event (bounded per reason) and one log line (throttled)."""
        if self.recorder is None:
            return
        self.fault_counts[fault.reason] += 1
        count = self.fault_counts[fault.reason]
        detail = faults.sanitize(fault.message, reveal=self.recorder.config.reveal)
        record: dict[str, object] = {"side": fault.side, "reason": fault.reason}
        record["detail"] = detail
        record.update({k: v for k, v in data.items() if v not in (None, "")})
        if count <= MAX_FAULT_EVENTS:
            self.recorder.mark(faults.EVENT, record)
        elif count == MAX_FAULT_EVENTS + 1:
            self.recorder.mark(
                "proxy_errors_not_recorded",
                {"reason": fault.reason, "limit": MAX_FAULT_EVENTS},
            )
        if count <= LOGGED_FAULTS or count % 1000 == 0:
            where = f" {data['host']}" if data.get("host") else ""
            who = f" from {data['client']}" if data.get("client") else ""
            logger.warning(
                "proxy_error %s %s%s%s: %s (%d so far)",
                fault.side, fault.reason, where, who, detail, count,
            )  # fmt: skip

    def _hello(
        self,
        client: connection.Client,
        server: connection.Server,
        hello: TlsHello,
        event: str,
        error: str | None,
    ) -> None:
        """A handshake the proxy could not read into: the host is still a destination."""
        assert self.recorder is not None
        ts = client.timestamp_tls_setup or client.timestamp_start or time.time()
        msg: Message = convert.hello_message(client, server, hello, ts, self._next_depth(client))
        verdict = self.recorder.process(msg, opaque_reason=event)
        attribution = verdict.attribution
        data: dict[str, Any] = {
            "sni": hello.sni or "",
            "host": msg.host or "",
            "party": attribution.party,
            "sdk": attribution.sdk or "",
            "flow": msg.community_id,
            "client": msg.flow.src,
        }
        if error:
            data["error"] = error
        self.recorder.mark(event, data)

    def _next_depth(self, client: connection.Client) -> int:
        depth = self._depth.get(client.id, 0) + 1
        if depth == 1 and len(self._depth) >= MAX_TRACKED_CONNECTIONS:
            self._depth.popitem(last=False)
        self._depth[client.id] = depth
        return depth


class StreamedBody:
    """mitmproxy's ``stream`` callable for a request body: every chunk is passed on as
    it arrives, and the first ``keep`` bytes are kept for analysis.

    ``keep`` is one byte past the analysis cap, so that a longer body is seen as
    cut, as it is when mitmproxy buffers it.
    """

    __slots__ = ("_chunks", "_kept", "keep")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._chunks: list[bytes] = []
        self._kept = 0

    def __call__(self, data: bytes) -> bytes:
        room = self.keep - self._kept
        if room > 0 and data:
            piece = data[:room]
            self._chunks.append(piece)
            self._kept += len(piece)
        return data

    def take(self) -> bytes:
        """The kept bytes, once; the chunks are let go."""
        body = b"".join(self._chunks)
        self._chunks = []
        return body


def _body_may_exceed(request: http.Request, limit: int) -> bool:
    try:
        size = expected_http_body_size(request)
    except ValueError:  # a malformed Content-Length: mitmproxy reports it
        return False
    if (
        size == 0
        and (request.is_http2 or request.is_http3)
        and "content-length" not in request.headers
    ):
        size = None  # HTTP/2 and 3 frame a body themselves: without a length it is unknown
    return size is None or size < 0 or size > limit


def _restore_streamed_body(flow: http.HTTPFlow) -> bool:
    """Put the kept start of a streamed request body where a buffered body would be,
    for the analysis and for ``--save``; False when the body was not streamed."""
    request = flow.request
    if not isinstance(request.stream, StreamedBody):
        return False
    if request.raw_content is None:
        request.raw_content = request.stream.take()
    return True


def default_max_connections() -> int:
    """A quarter of the open-file limit: each client may hold an upstream connection too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 10_000
    return max(16, min(soft // 4, 10_000))


def _metadata(verdict: Verdict) -> dict[str, Any]:
    """Verdict kept on the flow (saved with it), values left out on purpose."""
    return {
        "findings": len(verdict.findings),
        "types": sorted({f.type for f in verdict.findings}),
        "party": verdict.attribution.party,
        "sdk": verdict.attribution.sdk,
        "undeclared": sorted({f.type for f in verdict.undeclared}),
    }


addons = [LeaktraceAddon()]
