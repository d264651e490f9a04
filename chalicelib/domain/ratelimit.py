"""Per-tenant request limits: the reference's sliding window over fixed one-minute slots.

The counts live in a `SlotCounters` store shared by every API container (store/ratelimits.py:
one DynamoDB item per key and minute), so a limit holds however many containers are warm. A
request costs one conditional increment; the previous minute's count, final once that minute
is over, is read once per container, key and minute.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

WINDOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int


class SlotCounters(Protocol):
    """Request counts per (key, one-minute slot)."""

    def count(self, key: str, slot: int) -> int:
        """The requests counted for `key` in `slot` (0 when none)."""
        ...

    def add_below(self, key: str, slot: int, cap: int) -> int | None:
        """Count one more request if fewer than `cap` are counted; the new count, or None
        (nothing counted) when `cap` were already there. Atomic across processes."""
        ...


def admission_cap(limit: int, previous: int, weight: float) -> int:
    """How many requests the current slot may already hold for one more to be admitted.

    Refused when floor(previous x weight + current) >= limit, i.e. current >= limit -
    previous x weight; so admitted while current < ceil(limit - previous x weight).
    """
    return math.ceil(limit - previous * weight)


def reset_seconds(into_ms: int) -> int:
    """Seconds until the current slot ends (never 0: a client waiting 0 s would spin)."""
    return max(1, math.ceil((WINDOW_MS - into_ms) / 1000))


class SlidingWindowLimiter:
    """Effective count = previous slot x (1 - elapsed fraction) + current slot; refused requests
    are not counted."""

    def __init__(self, counters: SlotCounters) -> None:
        self._counters = counters
        # key -> (slot, count): a finished slot's count, read once per container and minute.
        self._previous: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, now_ms: int) -> Decision:
        """Count one request for `key` at `now_ms` if it fits under `limit`."""
        slot, into = divmod(now_ms, WINDOW_MS)
        reset_s = reset_seconds(into)
        previous = self._previous_count(key, slot - 1)
        weight = 1 - into / WINDOW_MS
        cap = admission_cap(limit, previous, weight)
        counted = self._counters.add_below(key, slot, cap) if cap > 0 else None
        if counted is None:
            return Decision(False, limit, 0, reset_s)
        effective = math.floor(previous * weight + counted)
        return Decision(True, limit, max(0, limit - effective), reset_s)

    def _previous_count(self, key: str, slot: int) -> int:
        with self._lock:
            cached = self._previous.get(key)
        if cached is not None and cached[0] == slot:
            return cached[1]
        count = self._counters.count(key, slot)
        with self._lock:
            self._previous[key] = (slot, count)
        return count
