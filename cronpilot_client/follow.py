"""`runs --follow`: poll an endpoint's newest runs and report each new run and each status
change (a `running` run finishing), oldest first, until a limit, a deadline or Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Run = Mapping[str, Any]


@dataclass(frozen=True)
class FollowLimits:
    """When to stop: after `max_events` events or `timeout_s` seconds (None: never)."""

    interval_s: float = 2.0
    max_events: int | None = None
    timeout_s: float | None = None


@dataclass
class RunFollower:
    """Turns successive pages of runs (newest first) into events."""

    fetch: Callable[[], Sequence[Run]]
    on_event: Callable[[Run], None]
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    _seen: dict[str, Any] = field(default_factory=dict, init=False)

    def snapshot(self) -> list[Run]:
        """The current page, oldest first; what follows is reported against it."""
        page = list(self.fetch())
        self._seen = {str(run.get("id")): run.get("status") for run in page}
        return list(reversed(page))

    def follow(self, limits: FollowLimits) -> int:
        """Poll until a limit is reached; return the number of events reported."""
        deadline = None if limits.timeout_s is None else self.monotonic() + limits.timeout_s
        events = 0
        while limits.max_events is None or events < limits.max_events:
            if deadline is not None:
                remaining = deadline - self.monotonic()
                if remaining <= 0:
                    break
                self.sleep(min(limits.interval_s, remaining))
            else:
                self.sleep(limits.interval_s)
            for run in reversed(list(self.fetch())):
                key = str(run.get("id"))
                if key in self._seen and self._seen[key] == run.get("status"):
                    continue
                self._seen[key] = run.get("status")
                self.on_event(run)
                events += 1
                if limits.max_events is not None and events >= limits.max_events:
                    break
        return events
