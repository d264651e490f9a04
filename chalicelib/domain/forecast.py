"""The next few planned runs of an endpoint, as the governor would choose them. Pure.

Each slot after the first assumes the run before it happened on time and succeeded: a
forecast, not a promise (a failure backs off, the planner may move things)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.causes import cause_of
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.governor import plan_next_run


@dataclass(frozen=True, slots=True)
class Slot:
    """A forecast run: when, and the rule that would choose it (a cause kind)."""

    at: datetime
    why: str


def upcoming(endpoint: Endpoint, now: datetime, count: int = 5) -> list[Slot]:
    """Up to `count` slots from the one already planned; none for an archived endpoint."""
    if endpoint.archived_at is not None or count <= 0:
        return []
    cause = endpoint.next_run_cause
    first = Slot(endpoint.next_run_at, cause.kind if cause else "baseline")
    if endpoint.paused_at(now):
        first = Slot(endpoint.next_run_at, "pause-ended")
    slots = [first]
    current = endpoint
    at = max(first.at, now)
    while len(slots) < count:
        # The slot ran: it is the last run, a one-shot hint is spent, failures reset.
        current = replace(current, last_run_at=at, failure_count=0, paused_until=None)
        if current.ai_hint_next_run_at is not None and current.ai_hint_next_run_at <= at:
            current = replace(current, ai_hint_next_run_at=None)
        plan = plan_next_run(at, current)
        if plan.next_run_at <= at:
            break
        slots.append(Slot(plan.next_run_at, cause_of(current, plan.source).kind))
        at = plan.next_run_at
    return slots
