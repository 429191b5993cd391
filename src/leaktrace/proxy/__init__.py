"""The live proxy: mitmproxy embedded, feeding the same pipeline as ``analyze``.

Importing this package needs the ``proxy`` extra (mitmproxy) only for the
modules that touch mitmproxy objects; ``recorder`` and ``declared`` do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leaktrace.proxy.session import AttachedSession, ProxySession

__all__ = ["AttachedSession", "ProxySession"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from leaktrace.proxy import session

        return getattr(session, name)
    raise AttributeError(name)
