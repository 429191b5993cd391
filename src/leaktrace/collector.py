"""Fewer runs of Python's cycle collector while a capture is analyzed.

Reference counting frees nearly everything an analysis allocates (packets,
fields, messages), and the flow table unlinks a closed flow from its session
so that nothing it holds waits for the cycle collector either. What the
collector does find is the long-lived state it must walk again and again:
open flows, the DNS map, the summary. With its default first threshold of
700 net new container objects, a capture of 100,000 lookups of distinct names
ran 1,295, 118 and 10 collections of the three generations (1.7 s of 9.8 s);
with 50,000, 15, 2 and none. On the 200 MB bench capture the default ran only
104 young collections, so it gains little there. Cyclic garbage, which an
analysis hardly makes, is collected after at most that many more objects.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def fewer_collections(threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Raise the collector's first threshold to ``threshold`` for the block, then put
    back what was there. A higher setting, or a collector turned off, is left alone;
    nested or concurrent blocks leave at worst the caller's own setting in place."""
    old = gc.get_threshold()
    if not gc.isenabled() or old[0] == 0 or old[0] >= threshold:
        yield
        return
    gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        if gc.get_threshold()[0] == threshold:
            gc.set_threshold(*old)
