"""``ProxySession``: the live proxy as a context manager, for harnesses and tests.

In-process: the proxy runs in a thread of the caller's process on a free
loopback port with its own CA (a temporary mitmproxy confdir unless one is
given, so a test run never touches ``~/.mitmproxy``). ``AttachedSession``
offers the same calls against a proxy already running elsewhere, through its
control endpoint.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from leaktrace.declaration import AppDeclaration, load_declaration
from leaktrace.pipeline import PipelineConfig
from leaktrace.profile import DeviceProfile, load_device
from leaktrace.proxy.addon import LeaktraceAddon
from leaktrace.proxy.control import ControlServer
from leaktrace.proxy.declared import undeclared
from leaktrace.proxy.recorder import FindingCallback, Recorder
from leaktrace.proxy.runner import ProxyRunner
from leaktrace.summary import Summary
from leaktrace.timeline import event_from_record, finding_from_record
from leaktrace.types import Finding, TimelineEvent

CA_CERT_NAME = "mitmproxy-ca-cert.pem"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProxySession:
    """Start the proxy, drive the app through it, mark what happened, read the findings.

    ``mode`` is a mitmproxy mode spec (``regular``, ``transparent``,
    ``wireguard``, ``upstream:URL``, ``socks5``). ``mitm_options`` and
    ``addons`` reach mitmproxy unchanged, for what leaktrace has no flag for
    (e.g. ``ssl_insecure`` towards a test server with a self-signed certificate).
    """

    def __init__(
        self,
        *,
        device: str | Path | DeviceProfile | None = None,
        app: str | Path | AppDeclaration | None = None,
        signatures: Sequence[str | Path] = (),
        config: PipelineConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "regular",
        reveal: bool = False,
        sinkhole: bool = False,
        block_undeclared: bool = False,
        ignore_hosts: Sequence[str] = (),
        timeline: str | Path | None = None,
        save: str | Path | None = None,
        confdir: str | Path | None = None,
        control: bool | tuple[str, int] = False,
        control_token: str | None = None,
        on_finding: FindingCallback | None = None,
        addons: Sequence[object] = (),
        mitm_options: Mapping[str, Any] | None = None,
    ) -> None:
        if config is None:
            config = PipelineConfig.load(
                signature_dirs=[Path(p) for p in signatures] or None,
                device=load_device(Path(device)) if isinstance(device, (str, Path)) else device,
                app=load_declaration(app) if isinstance(app, (str, Path)) else app,
                reveal=reveal,
            )
        self.config = config
        self._timeline_path = Path(timeline) if timeline is not None else None
        self._timeline: IO[str] | None = None
        self._own_confdir = confdir is None
        self._confdir = Path(confdir) if confdir is not None else None
        self._host, self._port, self._mode = host, port, mode
        self._options: dict[str, Any] = {
            "leaktrace_sinkhole": sinkhole,
            "leaktrace_block_undeclared": block_undeclared,
            "leaktrace_ignore_hosts": list(ignore_hosts),
        }
        if save is not None:
            self._options["save_stream_file"] = str(save)
        self._options.update(mitm_options or {})
        self._control_spec = control
        self._control_token = control_token
        self._on_finding = on_finding
        self._extra_addons = list(addons)
        self.recorder: Recorder | None = None
        self.control: ControlServer | None = None
        self._runner: ProxyRunner | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> ProxySession:
        if self._confdir is None:
            self._confdir = Path(tempfile.mkdtemp(prefix="leaktrace-ca-"))
        if self._timeline_path is not None:
            self._timeline = self._timeline_path.open("a", encoding="utf-8")
        self.recorder = Recorder(self.config, timeline=self._timeline, on_finding=self._on_finding)
        addon = LeaktraceAddon(self.recorder, on_finding=self._on_finding)
        opts = {
            "confdir": str(self._confdir),
            "listen_host": self._host,
            "listen_port": self._port,
            "mode": [self._mode],
            **self._options,
        }
        self._runner = ProxyRunner(opts, [addon, *self._extra_addons])
        try:
            self._runner.start()
            if self._control_spec:
                chost, cport = (
                    self._control_spec
                    if isinstance(self._control_spec, tuple)
                    else ("127.0.0.1", 0)
                )
                self.control = ControlServer(
                    self.recorder,
                    chost,
                    cport,
                    token=self._control_token,
                    info={"proxy": self.url, "ca_cert": str(self.ca_cert)},
                )
                self.control.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
        if self._runner is not None:
            self._runner.stop()
        if self._timeline is not None:
            self._timeline.close()
            self._timeline = None
        if self._own_confdir and self._confdir is not None:
            shutil.rmtree(self._confdir, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the proxy stops by itself (or ``timeout``); True when it has."""
        return self._runner is None or self._runner.wait(timeout)

    def __enter__(self) -> ProxySession:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what a harness uses --------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._runner is None or not self._runner.listen_addrs:
            raise RuntimeError("the proxy is not running")
        return self._runner.listen_addrs[0]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{_host_port(host, port)}"

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (PEM) a device or client must trust for interception."""
        if self._confdir is None:
            raise RuntimeError("the proxy is not running")
        return self._confdir / CA_CERT_NAME

    def mark(self, event: str, **data: object) -> TimelineEvent:
        return self._recorder().mark(event, data)

    def findings(self, since: int = 0) -> list[Finding]:
        return self._recorder().findings(since)

    def events(self) -> list[TimelineEvent]:
        return self._recorder().events()

    def summary(self) -> dict[str, Any]:
        return self._recorder().summary_record()

    @property
    def summary_totals(self) -> Summary:
        return self._recorder().pipeline.summary

    def undeclared(self) -> list[Finding]:
        """Findings the app's declaration does not cover (empty without a declaration)."""
        app = self.config.app
        return undeclared(app, self.findings()) if app is not None else []

    def _recorder(self) -> Recorder:
        if self.recorder is None:
            raise RuntimeError("the proxy session has not been started")
        return self.recorder

    @staticmethod
    def attach(url: str, token: str) -> AttachedSession:
        return AttachedSession(url, token)


class ControlError(RuntimeError):
    """The control endpoint refused or failed a call; the message carries its answer."""


class AttachedSession:
    """A running proxy's session, driven through its control endpoint."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.control_url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        info = self._call("GET", "/info")
        self.url: str = info["proxy"]
        self.ca_cert = Path(info["ca_cert"])

    def mark(self, event: str, **data: object) -> TimelineEvent:
        body = {"event": event, "data": {k: str(v) for k, v in data.items()}}
        return event_from_record(self._call("POST", "/events", body))

    def findings(self, since: int = 0) -> list[Finding]:
        found: list[Finding] = []
        while True:
            page = self._call("GET", f"/findings?since={since + len(found)}")
            found += [finding_from_record(r) for r in page["findings"]]
            if not page["findings"]:
                return found

    def events(self) -> list[TimelineEvent]:
        return [event_from_record(r) for r in self._call("GET", "/events")["events"]]

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/summary")
        return result

    def __enter__(self) -> AttachedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        pass  # the proxy belongs to whoever started it

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = b""
            with contextlib.suppress(OSError):
                detail = exc.read()
            raise ControlError(
                f"{method} {path}: {exc.code} {detail.decode('utf-8', 'replace')}"
            ) from None
        except urllib.error.URLError as exc:
            raise ControlError(f"{method} {path}: {exc.reason}") from None
