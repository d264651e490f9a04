"""The governor: baseline + hints + limits + failure backoff -> the next run. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.cron import next_cron
from chalicelib.domain.entities import Endpoint, ScheduleSource

DEFAULT_INTERVAL_MS = 60_000
BACKOFF_CAP_EXPONENT = 5


@dataclass(frozen=True, slots=True)
class Plan:
    """When an endpoint runs next, and which rule decided it."""

    next_run_at: datetime
    source: ScheduleSource


def backoff_ms(base_ms: int, failures: int) -> int:
    """`base` doubled per consecutive failure, capped at x32 (5 failures)."""
    if failures <= 0:
        return base_ms
    return base_ms << min(failures, BACKOFF_CAP_EXPONENT)


def _ms(value: int) -> timedelta:
    return timedelta(milliseconds=value)


def plan_next_run(now: datetime, endpoint: Endpoint) -> Plan:
    """Apply pause > clamp(min, max) > AI hints > baseline (+ backoff).

    Candidates count from `now`; the min/max limits count from the last run (`within_limits`).
    """
    if endpoint.paused_at(now):
        assert endpoint.paused_until is not None
        return Plan(endpoint.paused_until, "paused")

    interval_base = endpoint.baseline_interval_ms or DEFAULT_INTERVAL_MS
    baseline: Plan
    if endpoint.baseline_cron:
        baseline = Plan(next_cron(endpoint.baseline_cron, now, endpoint.timezone), "baseline-cron")
    else:
        baseline = Plan(
            now + _ms(backoff_ms(interval_base, endpoint.failure_count)), "baseline-interval"
        )

    fresh = endpoint.hints_fresh(now)
    ai_interval = (
        Plan(now + _ms(endpoint.ai_hint_interval_ms), "ai-interval")
        if fresh and endpoint.ai_hint_interval_ms
        else None
    )
    ai_oneshot = (
        Plan(endpoint.ai_hint_next_run_at, "ai-oneshot")
        if fresh and endpoint.ai_hint_next_run_at is not None
        else None
    )

    chosen: Plan
    if ai_interval and ai_oneshot:
        chosen = ai_oneshot if ai_oneshot.next_run_at < ai_interval.next_run_at else ai_interval
    elif ai_interval:
        chosen = ai_interval
    elif ai_oneshot:
        chosen = ai_oneshot if ai_oneshot.next_run_at < baseline.next_run_at else baseline
    else:
        chosen = baseline

    if chosen.next_run_at < now:
        if chosen.source == "baseline-interval":
            chosen = Plan(
                now + _ms(backoff_ms(interval_base, endpoint.failure_count)), chosen.source
            )
        elif chosen.source == "ai-interval":
            hint = endpoint.ai_hint_interval_ms or DEFAULT_INTERVAL_MS
            chosen = Plan(now + _ms(hint), chosen.source)
        else:
            chosen = Plan(now, chosen.source)

    return within_limits(now, endpoint, chosen)


def within_limits(now: datetime, endpoint: Endpoint, chosen: Plan) -> Plan:
    """Hold `chosen` between `lastRunAt + min` and `lastRunAt + max`, never before now.

    Limits are time between runs: an endpoint that never ran is not held back by its minimum,
    and its maximum counts from now. Manual test runs never set `lastRunAt`, so they do not count.
    """
    last = endpoint.last_run_at
    if endpoint.min_interval_ms and last is not None:
        earliest = last + _ms(endpoint.min_interval_ms)
        if chosen.next_run_at < earliest:
            chosen = Plan(max(now, earliest), "clamped-min")
    if endpoint.max_interval_ms:
        latest = max(now, (last or now) + _ms(endpoint.max_interval_ms))
        if chosen.next_run_at > latest:
            chosen = Plan(latest, "clamped-max")
    return chosen


def nudge_plan(
    now: datetime, endpoint: Endpoint, when: datetime, source: ScheduleSource
) -> Plan | None:
    """`set nextRunAt if earlier`: `when` held within the limits, or None when nothing should
    move (paused, or not earlier than the slot already planned)."""
    if endpoint.paused_at(now):
        return None
    target = within_limits(now, endpoint, Plan(max(when, now), source))
    return target if target.next_run_at < endpoint.next_run_at else None
