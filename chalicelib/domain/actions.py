"""Every action on an endpoint's schedule, once: the REST controls, the planner's tools and
reflexes all call these. Pure: each returns the changed endpoint and how its next run moves,
for the scheduling chokepoint to write. Input checks that differ by caller (a 400 for a person,
an error result for a model) stay with the caller; what an action means does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain import causes, hints
from chalicelib.domain.entities import Actor, Endpoint
from chalicelib.domain.errors import Conflict
from chalicelib.domain.governor import plan_next_run
from chalicelib.domain.reflex_rules import Action as ReflexAction
from chalicelib.domain.reflex_rules import Pause, Resume, RunNow, SetInterval
from chalicelib.domain.timing import Change, FromLastRun, Keep, Nudge, Replan, RunAt

# Long enough to outlast a minimum interval that holds a reflex's "run now" back.
REFLEX_ONE_SHOT_TTL = timedelta(hours=1)


def require_live(endpoint: Endpoint) -> None:
    """Refuse to change an archived endpoint (409)."""
    if endpoint.archived_at is not None:
        raise Conflict("Endpoint is archived; it no longer runs")


def set_interval(
    ep: Endpoint,
    now: datetime,
    interval_ms: int,
    ttl: timedelta,
    reason: str | None,
    by: Actor | None,
) -> Change:
    """Run every `interval_ms` until now + `ttl`, counted from the last run (a one-shot stays)."""
    require_live(ep)
    updated = hints.with_interval(ep, interval_ms, now + ttl, reason, by)
    step = timedelta(milliseconds=interval_ms)
    when = (ep.last_run_at + step) if ep.last_run_at else now + step
    return updated, Nudge(when, "ai-interval")


def run_once(
    ep: Endpoint, now: datetime, at: datetime, ttl: timedelta, reason: str | None, by: Actor | None
) -> Change:
    """Run once at `at` (the past means now), within the limits; the hint expires at now + ttl."""
    require_live(ep)
    when = max(at, now)
    updated = hints.with_one_shot(ep, when, now + ttl, reason, by)
    return updated, Nudge(when, "ai-oneshot")


def clear_hints(ep: Endpoint, now: datetime) -> Change:
    """Drop every hint: the next run is the baseline's, counted from the last run."""
    require_live(ep)
    return hints.cleared(ep), FromLastRun()


def pause(ep: Endpoint, now: datetime, until: datetime | None, by: Actor | None) -> Change:
    """Pause until `until`, or resume with None. A pause re-plans (to its end); resuming runs an
    endpoint whose slot passed during the pause at once."""
    require_live(ep)
    updated = replace(ep, paused_until=until)
    if until is not None and until > now:
        return updated, Replan()
    if ep.paused_at(now):
        return updated, RunAt(now, causes.resumed(ep, by))
    return updated, Keep()


def reset_failures(ep: Endpoint, now: datetime) -> Change:
    """Failure count to 0; a backed-off next run moves back to the normal cadence."""
    require_live(ep)
    reset = replace(ep, failure_count=0)
    plan = plan_next_run(now, reset)
    return reset, Nudge(plan.next_run_at, plan.source)


def reflex_action(
    ep: Endpoint, now: datetime, action: ReflexAction, by: Actor, reason: str
) -> Change:
    """A reflex's action on its endpoint, through the same actions as a person's or the
    planner's. The endpoint is marked for analysis: the planner reads at its next tick that
    a reflex acted, without waking the siblings."""
    change: Change
    if isinstance(action, RunNow):
        change = run_once(ep, now, now, REFLEX_ONE_SHOT_TTL, reason, by)
    elif isinstance(action, SetInterval):
        ttl = timedelta(minutes=action.for_minutes)
        change = set_interval(ep, now, action.interval_ms, ttl, reason, by)
    elif isinstance(action, Pause):
        until = action.until or now + timedelta(minutes=action.for_minutes or 0)
        change = pause(ep, now, until, by)
    elif isinstance(action, Resume):
        change = pause(ep, now, None, by)
    else:
        change = clear_hints(ep, now)
    updated, timing = change
    due = now if updated.analysis_due_at is None else min(updated.analysis_due_at, now)
    return replace(updated, analysis_due_at=due), timing
