"""Keep the store's items out of Python's cycle collector.

The store holds every item as moto objects, about 22 tracked containers per item: 2 million at
100 000 runs. CPython's full collection walks all of them, 0.6 s on a quiet core with the GIL
held, so every store request waited; and it came back every five to six minutes as new runs
replaced expired ones (in the hour-long soak, each one made runs up to 1.9 s late). Items are
not cyclic garbage (a deleted item is freed by reference counting), so the store moves what
survives into the permanent generation, which collections skip: once after the restore, and at
every TTL sweep pass, after a collection of the objects not yet frozen (a minute's worth: 0.1 s
at the soak's 21 runs/s) has freed the garbage among them.

A freeze must not catch a request in flight: moto and werkzeug build each request as cycles
(a class made per request among them), which become garbage when it ends, and a frozen cycle
is never collected: freezing each minute whatever requests were in flight (one or two) kept
them all. So a settle waits for a moment with no request being served, and new ones wait for
it; they waited as long before, since a collection holds the interpreter (`Requests`).

The fence sees requests from the moment werkzeug calls the application; what a freeze still
catches (a connection's objects before that, an exception's frames after) stays until a settle
that starts from everything (`everything=True`): it unfreezes first, so the full collection
walks the whole heap and frees frozen garbage, and is run rarely for that reason.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Settled:
    """What one settle did: garbage collected, objects frozen in all, and how long it took."""

    collected: int
    frozen: int
    seconds: float


def settle(everything: bool = False) -> Settled:
    """Collect the garbage among objects not yet frozen (or all, `everything`), freeze the rest."""
    started = time.perf_counter()
    if everything:
        gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    return Settled(collected, gc.get_freeze_count(), time.perf_counter() - started)


@contextmanager
def bulk_load(settle_after: Callable[[], object] = settle) -> Iterator[None]:
    """No cycle collection while the body loads long-lived objects; `settle_after` them."""
    # A restore makes millions of objects that all survive: each automatic collection during
    # it walks everything made so far for nothing (a 100 000-item restore took 5.5 s, not 2.5).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        settle_after()


class Requests:
    """Counts the requests being served, so that a settle can run when none is."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._serving = 0

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around one request: it cannot start while a settle runs."""
        with self._changed:
            self._serving += 1
        try:
            yield
        finally:
            with self._changed:
                self._serving -= 1
                self._changed.notify_all()

    @contextmanager
    def parked(self) -> Iterator[None]:
        """Inside `serving`, around a wait that may last seconds (an SQS long poll): the
        request does not count as in flight, and it resumes only once no settle runs."""
        # The store's queue pollers long-poll without pause: were they counted, no moment would
        # be idle. What a settle then freezes of a parked request (its environ and moto's
        # objects) is freed by the next settle from everything.
        with self._changed:
            self._serving -= 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1

    def settle_when_idle(self, timeout_s: float, everything: bool = False) -> Settled | None:
        """Settle at a moment no request is in flight; None if there was none within the time."""
        # The store is idle about half the time even at its busiest, so new requests are not
        # held back while this waits; only during the settle itself (the lock is held).
        with self._changed:
            if not self._changed.wait_for(lambda: self._serving == 0, timeout_s):
                return None
            return settle(everything)
