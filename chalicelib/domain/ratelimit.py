"""Per-tenant request limits: the reference's sliding window over fixed one-minute slots."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

WINDOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int


@dataclass(slots=True)
class _Counter:
    slot: int
    current: int
    previous: int


class SlidingWindowLimiter:
    """Effective count = previous slot x (1 - elapsed fraction) + current slot; refused requests
    are not counted. State lives in the process: on Lambda each container limits on its own."""

    def __init__(self) -> None:
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, now_ms: int) -> Decision:
        """Count one request for `key` at `now_ms` if it fits under `limit`."""
        slot, into = divmod(now_ms, WINDOW_MS)
        reset_s = max(1, math.ceil((WINDOW_MS - into) / 1000))
        with self._lock:
            counter = self._counters.get(key)
            if counter is None or counter.slot < slot - 1:
                counter = _Counter(slot=slot, current=0, previous=0)
            elif counter.slot == slot - 1:
                counter = _Counter(slot=slot, current=0, previous=counter.current)
            weight = 1 - into / WINDOW_MS
            effective = math.floor(counter.previous * weight + counter.current)
            if effective >= limit:
                self._counters[key] = counter
                return Decision(False, limit, 0, reset_s)
            counter.current += 1
            self._counters[key] = counter
            return Decision(True, limit, max(0, limit - (effective + 1)), reset_s)

    def purge(self, now_ms: int) -> None:
        """Forget counters older than two slots."""
        slot = now_ms // WINDOW_MS
        with self._lock:
            for key in [k for k, c in self._counters.items() if c.slot < slot - 1]:
                del self._counters[key]
