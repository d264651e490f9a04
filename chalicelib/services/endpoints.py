"""Endpoints of a job: create, read, change, archive, delete."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.entities import Endpoint, Tenant
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.schemas import EndpointCreate, EndpointUpdate
from chalicelib.domain.timing import Change, Keep, Replan
from chalicelib.engine.urlguard import UrlNotAllowed, static_check
from chalicelib.planner.announce import announce
from chalicelib.services.jobs import get_job
from chalicelib.services.secret_headers import protect

SCHEDULE_FIELDS = frozenset(
    {"baseline_cron", "baseline_interval_ms", "timezone", "min_interval_ms", "max_interval_ms"}
)


def check_interval_floor(tenant: Tenant, value: int | None, field: str, what: str) -> None:
    """Refuse an interval below the tenant's minimum (default 1 s)."""
    floor = tenant.limits.min_interval_ms
    if value is not None and value < floor:
        raise ValidationFailed.field(
            field,
            f"{what} too short: this tenant requires at least {floor}ms "
            f"({floor / 1000:g}s) between runs",
        )


def check_target(deps: Deps, url: str | None) -> None:
    """Refuse at save time what the executor would refuse (no DNS here: that is per call)."""
    if url is None:
        return
    try:
        static_check(url, allow_private=deps.settings.allow_private_targets)
    except UrlNotAllowed as exc:
        raise ValidationFailed.field("url", str(exc)) from None


def get_endpoint(deps: Deps, tenant: Tenant, endpoint_id: str) -> Endpoint:
    """The tenant's endpoint, or NotFound (also for another tenant's id)."""
    endpoint = deps.endpoints.get(tenant.id, endpoint_id)
    if endpoint is None:
        raise NotFound("Endpoint not found")
    return endpoint


def get_job_endpoint(deps: Deps, tenant: Tenant, job_id: str, endpoint_id: str) -> Endpoint:
    """The endpoint, provided it belongs to `job_id`."""
    endpoint = get_endpoint(deps, tenant, endpoint_id)
    if endpoint.job_id != job_id:
        raise NotFound("Endpoint not found")
    return endpoint


def create_endpoint(deps: Deps, tenant: Tenant, job_id: str, request: EndpointCreate) -> Endpoint:
    """Validate against the tenant's limits, then save with the governor's first slot."""
    job = get_job(deps, tenant, job_id)
    if job.status == "archived":
        raise Conflict("Job is archived; endpoints cannot be added to it")
    check_interval_floor(tenant, request.baseline_interval_ms, "baselineIntervalMs", "Interval")
    check_target(deps, request.url)
    limit = tenant.limits.max_endpoints
    now = deps.clock.now()
    draft = Endpoint(
        tenant_id=tenant.id,
        id=ids.endpoint_id(),
        job_id=job.id,
        name=request.name,
        description=request.description,
        url=request.url,
        method=request.method,
        headers_json=request.headers_json,
        secret_headers=tuple(request.secret_headers) if request.secret_headers else None,
        body_json=request.body_json,
        baseline_cron=request.baseline_cron,
        baseline_interval_ms=request.baseline_interval_ms,
        timezone=request.timezone,
        min_interval_ms=request.min_interval_ms,
        max_interval_ms=request.max_interval_ms,
        timeout_ms=request.timeout_ms,
        max_execution_time_ms=request.max_execution_time_ms,
        max_response_size_kb=request.max_response_size_kb,
        next_run_at=now,
        created_at=now,
        updated_at=now,
        # With the planner on, a new endpoint is analysed within a minute, run or not.
        analysis_due_at=now if deps.planner_model is not None else None,
    )
    draft = protect(deps, draft, stored=None)  # before the slot: a 400 changes nothing
    if not deps.tenants.reserve_endpoint(tenant.id, limit):
        raise ValidationFailed.field(
            "endpoints", f"Endpoint limit reached: this tenant allows maximum {limit} endpoints."
        )
    try:
        created = deps.scheduling.create(draft, job_active=job.schedulable)
    except BaseException:
        deps.tenants.release_endpoints(tenant.id)
        raise
    if created.analysis_due_at is not None and job.schedulable:
        announce(deps, tenant.id, job.id)
    return created


def list_endpoints(deps: Deps, tenant: Tenant, job_id: str) -> list[Endpoint]:
    get_job(deps, tenant, job_id)
    return deps.endpoints.list_by_job(tenant.id, job_id)


def _merge(endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
    # Sending one baseline kind switches to it: the other is cleared.
    if changes.get("baseline_cron") is not None:
        changes.setdefault("baseline_interval_ms", None)
    if changes.get("baseline_interval_ms") is not None:
        changes.setdefault("baseline_cron", None)
    merged = replace(endpoint, **changes)
    if merged.baseline_cron is None and merged.baseline_interval_ms is None:
        raise ValidationFailed.field(
            "baselineCron", "Provide either baselineCron or baselineIntervalMs, but not both."
        )
    low, high = merged.min_interval_ms, merged.max_interval_ms
    if low is not None and high is not None and low > high:
        raise ValidationFailed.field("minIntervalMs", "must be less than or equal to maxIntervalMs")
    return merged


def update_endpoint(
    deps: Deps, tenant: Tenant, job_id: str, endpoint_id: str, request: EndpointUpdate
) -> Endpoint:
    """Apply only the fields sent; a schedule change re-plans the next run at once."""
    get_job_endpoint(deps, tenant, job_id, endpoint_id)
    changes = request.changes()
    if "secret_headers" in changes and changes["secret_headers"] is not None:
        changes["secret_headers"] = tuple(changes["secret_headers"])
    check_interval_floor(tenant, request.baseline_interval_ms, "baselineIntervalMs", "Interval")
    check_target(deps, request.url)

    def apply(current: Endpoint, now: datetime) -> Change:
        if current.archived_at is not None:
            raise Conflict("Endpoint is archived")
        # Seals what became secret (new values, newly marked names, values stored in clear
        # before sealing existed); a masked value sent back keeps the stored one.
        merged = protect(
            deps,
            _merge(current, dict(changes)),
            stored=current.headers_json,
            headers_sent="headers_json" in changes,
            stored_url=current.url,
        )
        replan = any(getattr(merged, f) != getattr(current, f) for f in SCHEDULE_FIELDS)
        return merged, Replan() if replan else Keep()

    return deps.scheduling.change(tenant.id, endpoint_id, apply)


def archive_endpoint(deps: Deps, tenant: Tenant, job_id: str, endpoint_id: str) -> Endpoint:
    """Soft delete: never runs again, keeps its history; archiving twice is a no-op."""
    get_job_endpoint(deps, tenant, job_id, endpoint_id)
    job = get_job(deps, tenant, job_id)
    archived_now = False

    def apply(current: Endpoint, now: datetime) -> Change:
        nonlocal archived_now  # the attempt that is finally written decides
        archived_now = current.archived_at is None
        if not archived_now:
            return current, Keep()
        return replace(current, archived_at=now, due_shard=None), Keep()

    endpoint = deps.scheduling.change(tenant.id, endpoint_id, apply)
    if archived_now and job.status != "archived":
        deps.tenants.release_endpoints(tenant.id)
    return endpoint


def delete_endpoint(deps: Deps, tenant: Tenant, job_id: str, endpoint_id: str) -> None:
    """Hard delete with its runs, sessions and reflexes."""
    endpoint = get_job_endpoint(deps, tenant, job_id, endpoint_id)
    job = get_job(deps, tenant, job_id)
    deps.endpoints.delete(endpoint)
    deps.reflexes.delete_for_endpoint(tenant.id, job_id, endpoint.id)
    if endpoint.archived_at is None and job.status != "archived":
        deps.tenants.release_endpoints(tenant.id)
