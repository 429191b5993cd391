"""Request URLs of a session, for declarations whose consent shows as a request.

Findings do not carry URLs (a consent request usually carries no identifier
at all), so when ``consent: {url: ...}`` is declared the capture is read once
more for its HTTP requests. Only the first matches matter, so the marks kept
are bounded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from leaktrace.policy.context import RequestMark
from leaktrace.sources.capture import CaptureSource
from leaktrace.types import Diagnostic, Message

MAX_MARKS = 10_000


def request_url(msg: Message) -> str | None:
    """``http://host/target`` as the app requested it; the target alone when it is absolute."""
    if msg.http is None:
        return None
    target = msg.http.target
    if "://" in target:
        return target
    scheme = "https" if msg.transport == "https" else "http"
    return f"{scheme}://{msg.host or msg.flow.resp_h}{target}"


def request_marks(
    items: Iterable[Message | Diagnostic], pattern: str | None = None, limit: int = MAX_MARKS
) -> list[RequestMark]:
    """Requests in order; with ``pattern``, only those whose URL matches it."""
    regex = re.compile(pattern) if pattern is not None else None
    marks: list[RequestMark] = []
    for item in items:
        if not isinstance(item, Message):
            continue
        url = request_url(item)
        if url is None or (regex is not None and not regex.search(url)):
            continue
        marks.append(RequestMark(item.ts, url))
        if len(marks) >= limit:
            break
    return marks


def capture_request_marks(
    path: str | os.PathLike[str], pattern: str, limit: int = 1
) -> list[RequestMark]:
    """The first requests in a capture whose URL matches ``pattern``."""
    return request_marks(CaptureSource(path), pattern, limit)
