"""A small per-process cache with expiry, for lookups every request repeats."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Generic, TypeVar

V = TypeVar("V")
MAX_ENTRIES = 10_000


class TtlCache(Generic[V]):
    """Values remembered for `ttl` from when they were put; a zero ttl disables caching."""

    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[datetime, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, value: V, now: datetime) -> None:
        if self._ttl <= timedelta(0):
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # crude bound: a full cache just starts over
            self._entries[key] = (now + self._ttl, value)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
