"""Derived health views over an endpoint's runs. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.entities import Run

STREAK_SCAN_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Health:
    success_count: int
    failure_count: int
    avg_duration_ms: float | None
    last_run_status: str | None
    last_run_at: datetime | None
    failure_streak: int


def failure_streak(newest_first: Sequence[Run], limit: int | None = STREAK_SCAN_LIMIT) -> int:
    """Consecutive `failed` runs from the newest; any other status ends the streak."""
    streak = 0
    for run in newest_first if limit is None else newest_first[:limit]:
        if run.status != "failed":
            break
        streak += 1
    return streak


def summarize(newest_first: Sequence[Run]) -> Health:
    """Counts, mean duration, last run and failure streak of runs already cut to a window."""
    durations = [r.duration_ms for r in newest_first if r.duration_ms is not None]
    newest = newest_first[0] if newest_first else None
    return Health(
        success_count=sum(1 for r in newest_first if r.status == "success"),
        failure_count=sum(1 for r in newest_first if r.status == "failed"),
        avg_duration_ms=(sum(durations) / len(durations)) if durations else None,
        last_run_status=newest.status if newest else None,
        last_run_at=newest.started_at if newest else None,
        failure_streak=failure_streak(newest_first),
    )
