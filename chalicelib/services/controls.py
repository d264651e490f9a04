"""Adaptive controls: hints, pause and resume, failure reset. They write the same fields the
planner writes, and move the next run earlier when they should."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain import hints
from chalicelib.domain.entities import Endpoint, Tenant
from chalicelib.domain.errors import Conflict, ValidationFailed
from chalicelib.domain.governor import plan_next_run
from chalicelib.domain.schemas import (
    ONESHOT_PAST_TOLERANCE_MS,
    IntervalHint,
    OneShotHint,
    PauseRequest,
)
from chalicelib.engine.scheduling import Change, Keep, Nudge, paused
from chalicelib.services.endpoints import check_interval_floor


def _live(endpoint: Endpoint) -> None:
    if endpoint.archived_at is not None:
        raise Conflict("Endpoint is archived")


def interval_hint(deps: Deps, tenant: Tenant, endpoint_id: str, hint: IntervalHint) -> Endpoint:
    """Run every `intervalMs` until the hint expires; takes effect from the last run."""
    check_interval_floor(tenant, hint.interval_ms, "intervalMs", "Interval hint")

    def apply(ep: Endpoint, now: datetime) -> Change:
        _live(ep)
        if ep.min_interval_ms and hint.interval_ms < ep.min_interval_ms:
            raise ValidationFailed.field(
                "intervalMs",
                f"Interval hint ({hint.interval_ms}ms) is below minimum ({ep.min_interval_ms}ms)",
            )
        if ep.max_interval_ms and hint.interval_ms > ep.max_interval_ms:
            raise ValidationFailed.field(
                "intervalMs",
                f"Interval hint ({hint.interval_ms}ms) exceeds maximum ({ep.max_interval_ms}ms)",
            )
        expires = now + timedelta(minutes=hint.ttl_minutes)
        updated = hints.with_interval(ep, hint.interval_ms, expires, hint.reason)
        step = timedelta(milliseconds=hint.interval_ms)
        when = (ep.last_run_at + step) if ep.last_run_at else now + step
        return updated, Nudge(when)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def oneshot_hint(deps: Deps, tenant: Tenant, endpoint_id: str, hint: OneShotHint) -> Endpoint:
    """Run once at the target time (a time up to 60 s in the past means now)."""

    def apply(ep: Endpoint, now: datetime) -> Change:
        _live(ep)
        if hint.next_run_at is not None:
            target = hint.next_run_at
        else:
            target = now + timedelta(milliseconds=hint.next_run_in_ms or 0)
        if target < now - timedelta(milliseconds=ONESHOT_PAST_TOLERANCE_MS):
            raise ValidationFailed.field(
                "nextRunAt",
                "nextRunAt must be in the future (times up to 60 s in the past mean now)",
            )
        target = max(target, now)
        expires = now + timedelta(minutes=hint.ttl_minutes)
        updated = hints.with_one_shot(ep, target, expires, hint.reason)
        return updated, Nudge(target)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def clear_hints(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    """Back to the baseline from the next planning on."""

    def apply(ep: Endpoint, now: datetime) -> Change:
        _live(ep)
        return hints.cleared(ep), Keep()

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def set_pause(deps: Deps, tenant: Tenant, endpoint_id: str, request: PauseRequest) -> Endpoint:
    """Pause until an instant, or resume with null; resuming runs an overdue endpoint at once."""
    until = request.paused_until

    def apply(ep: Endpoint, now: datetime) -> Change:
        _live(ep)
        return paused(ep, until, now)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def resume(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    return set_pause(deps, tenant, endpoint_id, PauseRequest(paused_until=None))


def reset_failures(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    """Failure count to 0; a backed-off next run moves back to the normal cadence."""

    def apply(ep: Endpoint, now: datetime) -> Change:
        _live(ep)
        reset = replace(ep, failure_count=0)
        return reset, Nudge(plan_next_run(now, reset).next_run_at)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)
