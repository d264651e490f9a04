"""Adaptive controls: hints, pause and resume, failure reset, for a person through the API.
The actions themselves are domain/actions.py, shared with the planner and reflexes; this
module adds what a person's request is checked against first."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain import actions
from chalicelib.domain.entities import Actor, Endpoint, Tenant
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.schemas import (
    ONESHOT_PAST_TOLERANCE_MS,
    IntervalHint,
    OneShotHint,
    PauseRequest,
)
from chalicelib.domain.timing import Change
from chalicelib.services.endpoints import check_interval_floor


def interval_hint(
    deps: Deps, tenant: Tenant, endpoint_id: str, hint: IntervalHint, by: Actor | None = None
) -> Endpoint:
    """Run every `intervalMs` until the hint expires; takes effect from the last run. A person
    asking for an interval outside the endpoint's limits is told so (400)."""
    check_interval_floor(tenant, hint.interval_ms, "intervalMs", "Interval hint")

    def apply(ep: Endpoint, now: datetime) -> Change:
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
        ttl = timedelta(minutes=hint.ttl_minutes)
        return actions.set_interval(ep, now, hint.interval_ms, ttl, hint.reason, by)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def oneshot_hint(
    deps: Deps, tenant: Tenant, endpoint_id: str, hint: OneShotHint, by: Actor | None = None
) -> Endpoint:
    """Run once at the target time (a time up to 60 s in the past means now)."""

    def apply(ep: Endpoint, now: datetime) -> Change:
        if hint.next_run_at is not None:
            target = hint.next_run_at
        else:
            target = now + timedelta(milliseconds=hint.next_run_in_ms or 0)
        if target < now - timedelta(milliseconds=ONESHOT_PAST_TOLERANCE_MS):
            raise ValidationFailed.field(
                "nextRunAt",
                "nextRunAt must be in the future (times up to 60 s in the past mean now)",
            )
        ttl = timedelta(minutes=hint.ttl_minutes)
        return actions.run_once(ep, now, target, ttl, hint.reason, by)

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def clear_hints(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    """Back to the baseline, counted from the last run."""
    return deps.scheduling.change(tenant.id, endpoint_id, actions.clear_hints)


def set_pause(
    deps: Deps, tenant: Tenant, endpoint_id: str, request: PauseRequest, by: Actor | None = None
) -> Endpoint:
    """Pause until an instant, or resume with null; resuming runs an overdue endpoint at once."""
    until = request.paused_until
    return deps.scheduling.change(
        tenant.id, endpoint_id, lambda ep, now: actions.pause(ep, now, until, by)
    )


def resume(deps: Deps, tenant: Tenant, endpoint_id: str, by: Actor | None = None) -> Endpoint:
    """Resume now (a no-op when not paused)."""
    return set_pause(deps, tenant, endpoint_id, PauseRequest(paused_until=None), by)


def reset_failures(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    """Failure count to 0; a backed-off next run moves back to the normal cadence."""
    return deps.scheduling.change(tenant.id, endpoint_id, actions.reset_failures)
