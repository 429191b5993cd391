"""How many worker processes to start by default, without importing multiprocessing.

Kept apart from ``leaktrace.parallel`` because every ``analyze`` asks, and
most runs never fork.
"""

from __future__ import annotations

import os

#: Below this size a capture is done before extra workers have started.
MIN_PARALLEL_BYTES = 8 << 20


def default_jobs() -> int:
    """The cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
