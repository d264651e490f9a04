"""Keep the store's items out of Python's cycle collector.

The store holds every item as moto objects, about 22 tracked containers per item: 2 million at
100 000 runs. CPython's full collection walks all of them, 0.6 s on a quiet core with the GIL
held, so every store request waited; and it came back every five to six minutes as new runs
replaced expired ones (in the hour-long soak, each one made runs up to 1.9 s late). Items are
not cyclic garbage (a deleted item is freed by reference counting), so the store moves what
survives into the permanent generation, which collections skip: once after the restore, and at
every TTL sweep pass, after a collection of the objects not yet frozen (a minute's worth, a few
milliseconds) has freed the garbage among them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Settled:
    """What one settle did: garbage collected, objects frozen in all, and how long it took."""

    collected: int
    frozen: int
    seconds: float


def settle() -> Settled:
    """Collect the garbage among objects not yet frozen, then freeze the survivors."""
    started = time.perf_counter()
    collected = gc.collect()
    gc.freeze()
    return Settled(collected, gc.get_freeze_count(), time.perf_counter() - started)


@contextmanager
def bulk_load() -> Iterator[None]:
    """No cycle collection while the body loads long-lived objects; settle them afterwards."""
    # A restore makes millions of objects that all survive: each automatic collection during
    # it walks everything made so far for nothing (a 100 000-item restore took 5.5 s, not 2.5).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        settle()
