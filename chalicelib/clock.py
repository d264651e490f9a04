"""The one clock. Nothing else reads the wall clock, so tests and the simulator drive time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current instant (timezone-aware UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """Real wall-clock time, truncated to milliseconds (the precision everything is stored at)."""

    def now(self) -> datetime:
        current = datetime.now(UTC)
        return current.replace(microsecond=current.microsecond // 1000 * 1000)


def epoch_seconds() -> float:
    """Real wall-clock time as POSIX seconds, unrounded: for the local store's patches of
    moto, which keeps time that way (chalicelib/local/sqs_speedups.py)."""
    return time.time()


class ManualClock:
    """A clock that only moves when told to; thread-safe so pollers and tests can share it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by `delta` and return the new instant."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now = self._now + delta
            return self._now

    def set(self, instant: datetime) -> None:
        """Jump to `instant` (never backwards)."""
        if instant.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware instant")
        with self._lock:
            target = instant.astimezone(UTC)
            if target < self._now:
                raise ValueError("time only moves forward")
            self._now = target
