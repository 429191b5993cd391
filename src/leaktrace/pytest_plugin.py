"""pytest plugin: a running proxy for app-test suites, and an assertion about sharing.

Registered through the ``pytest11`` entry point, so it loads in every pytest
run of an environment where leaktrace is installed: it imports mitmproxy only
when a test asks for the ``leaktrace_proxy`` fixture.

Settings come from the command line or the ini file (command line wins):
``leaktrace_device``, ``leaktrace_app``, ``leaktrace_sinkhole``,
``leaktrace_timeline``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from leaktrace.declaration import AppDeclaration, load_declaration
from leaktrace.proxy.declared import undeclared
from leaktrace.types import Finding

if TYPE_CHECKING:
    from leaktrace.proxy.session import ProxySession

_SETTINGS = {
    "leaktrace_device": "device.yaml with the test device's identifier values",
    "leaktrace_app": "app.yaml with the app's declaration",
    "leaktrace_timeline": "append the session timeline (events, findings) to this file",
}


class _SessionLike(Protocol):
    def findings(self, since: int = 0) -> list[Finding]: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leaktrace", "leaktrace proxy")
    for name, help_text in _SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, dest=name, default=None, help=help_text)
        parser.addini(name, help_text, default="")
    group.addoption(
        "--leaktrace-sinkhole",
        dest="leaktrace_sinkhole",
        action="store_true",
        default=None,
        help="answer every request locally instead of forwarding it",
    )
    parser.addini("leaktrace_sinkhole", "answer every request locally", type="bool", default=False)


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name) or config.getini(name)
    if not value:
        return None
    path = Path(str(value))
    return str(path if path.is_absolute() else config.rootpath / path)


@pytest.fixture(scope="session")
def leaktrace_proxy(pytestconfig: pytest.Config) -> Iterator[ProxySession]:
    """A running proxy for the whole test session: point the device at ``.url``."""
    from leaktrace.proxy.session import ProxySession

    sinkhole = pytestconfig.getoption("leaktrace_sinkhole")
    if sinkhole is None:
        sinkhole = bool(pytestconfig.getini("leaktrace_sinkhole"))
    with ProxySession(
        device=_setting(pytestconfig, "leaktrace_device"),
        app=_setting(pytestconfig, "leaktrace_app"),
        timeline=_setting(pytestconfig, "leaktrace_timeline"),
        sinkhole=sinkhole,
    ) as session:
        yield session


def assert_no_undeclared_sharing(
    session: ProxySession | _SessionLike, app: AppDeclaration | str | Path | None = None
) -> None:
    """Fail when an identifier went to a party (or first-party use) the declaration lacks.

    The declaration is the session's own unless ``app`` is given (an attached
    session has none of its own). The message lists each undeclared flow of
    data once, with its masked value, so the failure report itself leaks nothing.
    """
    __tracebackhide__ = True
    if isinstance(app, (str, Path)):
        app = load_declaration(app)
    if app is None:
        config = getattr(session, "config", None)
        app = getattr(config, "app", None)
    if app is None:
        raise ValueError("no app declaration: start the session with app=... or pass app")
    missing = undeclared(app, session.findings())
    if not missing:
        return
    seen: dict[tuple[str, str, str | None, str], Finding] = {}
    for f in missing:
        seen.setdefault((f.type, f.party, f.sdk, f.host or f.dst), f)
    lines = [
        f"  {t} → {party}{' ' + sdk if sdk else ''} {dest} ({f.where}, {f.value})"
        for (t, party, sdk, dest), f in sorted(seen.items(), key=lambda kv: str(kv[0]))
    ]
    pytest.fail(
        f"{len(missing)} findings not covered by the declaration of {app.app.id}:\n"
        + "\n".join(lines),
        pytrace=False,
    )
