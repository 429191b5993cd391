"""leaktrace: which personal data an app sends, to whom, and whether it said so."""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leaktrace.proxy.session import ProxySession

__all__ = ["ProxySession", "__version__"]


def __getattr__(name: str) -> Any:
    """``ProxySession`` on first use only: importing leaktrace must not import mitmproxy."""
    if name == "ProxySession":
        from leaktrace.proxy.session import ProxySession

        return ProxySession
    raise AttributeError(f"module 'leaktrace' has no attribute {name!r}")
