"""``leaktrace proxy``: the live proxy from the command line. Parsing and printing only.

Findings print one line each as they happen (standard output, flushed); the
start banner, the control token and the closing summary go to standard error
so that standard output stays one finding a line. Ctrl-C (or SIGTERM) stops
the proxy, flushes the timeline and flow files and prints the summary table.
"""

# Annotations are not postponed, and names imported only for type checking are
# quoted: typer reads them at every start (why: the note at the top of cli.py).

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

# What the proxy needs loads when it runs, not when the ``leaktrace`` command starts.
if TYPE_CHECKING:
    from rich.console import Console

    from leaktrace.types import Finding

EXIT_CONFIG = 2
DEFAULT_CONFDIR = Path("~/.mitmproxy")


def parse_host_port(value: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``; port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise typer.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    return host, int(port)


def _print_finding(finding: "Finding") -> None:
    from leaktrace.proxy.addon import finding_line

    sys.stdout.write(finding_line(finding) + "\n")
    sys.stdout.flush()


def addon_path() -> Path:
    """The addon file for ``mitmdump -s``, found without importing mitmproxy."""
    return Path(__file__).resolve().parent / "proxy" / "addon.py"


def proxy(
    mode: Annotated[
        str,
        typer.Option(help="mitmproxy mode: regular, transparent, wireguard, upstream:URL, socks5"),
    ] = "regular",
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to listen on (the test device must reach it)")
    ] = "0.0.0.0:8080",
    device: Annotated[
        Path | None, typer.Option(help="device.yaml: the test device's own identifier values")
    ] = None,
    app_decl: Annotated[
        Path | None, typer.Option("--app", help="app.yaml: the app's declaration")
    ] = None,
    signatures: Annotated[
        list[Path] | None, typer.Option(help="extra signature directory (repeatable)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="append the session timeline here: findings and events, JSONL"),
    ] = None,
    reveal: Annotated[bool, typer.Option(help="identifier values in full, not masked")] = False,
    sinkhole: Annotated[
        bool, typer.Option(help="answer every request locally with an empty 200")
    ] = False,
    block_undeclared: Annotated[
        bool,
        typer.Option(help="answer 403 when an identifier goes to a party --app does not list"),
    ] = False,
    ignore_hosts: Annotated[
        list[str] | None,
        typer.Option(help="regex of TLS server names to pass through undecrypted (repeatable)"),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of the control endpoint for harnesses (e.g. 127.0.0.1:8181)"),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="keep the session as a mitmproxy flow file")
    ] = None,
    confdir: Annotated[
        Path, typer.Option(help="mitmproxy configuration directory (its CA lives here)")
    ] = DEFAULT_CONFDIR,
    show_addon_path: Annotated[
        bool,
        typer.Option("--addon-path", help="print the addon file for mitmdump -s, and exit"),
    ] = False,
) -> None:
    """Run the intercepting proxy: every request the device sends goes through the pipeline."""
    if show_addon_path:
        typer.echo(str(addon_path()))
        return
    from rich.console import Console

    from leaktrace.declaration import DeclarationError
    from leaktrace.profile import DeviceProfileError
    from leaktrace.signatures.loader import SignatureError

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    host, port = parse_host_port(listen, "--listen")
    control_at = parse_host_port(control, "--control") if control else False
    if block_undeclared and app_decl is None:
        raise typer.BadParameter("needs the app's declaration", param_hint="--app")
    try:
        from leaktrace.proxy.runner import ProxyStartError
        from leaktrace.proxy.session import ProxySession
    except ImportError as exc:
        err.print(f"[bold red]error:[/] the proxy needs the proxy extra ({exc.name} missing)")
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        session = ProxySession(
            device=device,
            app=app_decl,
            signatures=signatures or (),
            host=host,
            port=port,
            mode=mode,
            reveal=reveal,
            sinkhole=sinkhole,
            block_undeclared=block_undeclared,
            ignore_hosts=ignore_hosts or (),
            timeline=out,
            save=save,
            confdir=confdir.expanduser(),
            control=control_at,
            on_finding=_print_finding,
        )
    except (DeviceProfileError, DeclarationError, SignatureError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        session.start()
    except ProxyStartError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        err.print(f"proxy listening on {session.url} (mode {mode})")
        err.print(f"CA certificate: {session.ca_cert}")
        if session.control is not None:
            err.print(f"control endpoint: {session.control.url}")
            err.print(f"control token: {session.control.token}")
        err.print("Ctrl-C stops and prints the summary")
        while not session.wait(0.5):
            pass
        err.print("[bold red]the proxy stopped on its own; see the log above[/]")
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()
    _print_summary(session, err)


def _print_summary(session: object, err: "Console") -> None:
    from rich.console import Console

    from leaktrace.proxy.session import ProxySession
    from leaktrace.sinks.table import render_summary

    assert isinstance(session, ProxySession)
    if session.recorder is not None:
        console = err if err.is_terminal else Console(stderr=True, width=160)
        render_summary(session.recorder.result("proxy session"), console)


def register(app: typer.Typer) -> None:
    app.command("proxy")(proxy)
