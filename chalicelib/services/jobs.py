"""Jobs: create, read, rename, pause, resume, archive."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.entities import Job, JobStatus, Tenant
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.schemas import JobCreate, JobUpdate


def get_job(deps: Deps, tenant: Tenant, job_id: str) -> Job:
    """The tenant's job, or NotFound (also for another tenant's id)."""
    job = deps.jobs.get(tenant.id, job_id)
    if job is None:
        raise NotFound("Job not found")
    return job


def create_job(deps: Deps, tenant: Tenant, request: JobCreate) -> Job:
    now = deps.clock.now()
    job = Job(
        tenant_id=tenant.id,
        id=ids.job_id(now),
        name=request.name,
        description=request.description,
        status="active",
        created_at=now,
        updated_at=now,
    )
    deps.jobs.create(job)
    return job


def list_jobs(deps: Deps, tenant: Tenant, status: JobStatus | None) -> list[tuple[Job, int]]:
    """Jobs with their endpoint counts (archived endpoints included), oldest first."""
    jobs = [j for j in deps.jobs.list(tenant.id) if status is None or j.status == status]
    counts = Counter(job_id for job_id, _ in deps.endpoints.memberships(tenant.id))
    jobs.sort(key=lambda j: (j.created_at, j.id))
    return [(job, counts.get(job.id, 0)) for job in jobs]


def update_job(deps: Deps, tenant: Tenant, job_id: str, request: JobUpdate) -> Job:
    job = get_job(deps, tenant, job_id)
    sent = request.model_fields_set
    updated = replace(
        job,
        name=request.name if "name" in sent and request.name is not None else job.name,
        description=request.description if "description" in sent else job.description,
        updated_at=deps.clock.now(),
    )
    deps.jobs.save(updated)
    return updated


def _set_status(deps: Deps, tenant: Tenant, job_id: str, status: JobStatus) -> Job:
    job = get_job(deps, tenant, job_id)
    if job.status == "archived" and status != "archived":
        raise Conflict("Job is archived; archived jobs cannot be paused or resumed")
    if job.status == status:
        return job
    now = deps.clock.now()
    updated = replace(
        job,
        status=status,
        updated_at=now,
        archived_at=now if status == "archived" else job.archived_at,
    )
    # Job status first, then the due index: an in-flight run re-reads the job and sees it.
    deps.jobs.save(updated)
    endpoints = deps.endpoints.list_by_job(tenant.id, job_id)
    deps.scheduling.set_job_active(tenant.id, [e.id for e in endpoints], updated.schedulable)
    if status == "archived":
        # An archived job's endpoints no longer count toward the tenant's limit.
        deps.tenants.release_endpoints(
            tenant.id, sum(1 for e in endpoints if e.archived_at is None)
        )
    return updated


def pause_job(deps: Deps, tenant: Tenant, job_id: str) -> Job:
    return _set_status(deps, tenant, job_id, "paused")


def resume_job(deps: Deps, tenant: Tenant, job_id: str) -> Job:
    """Active again; endpoints whose slot passed during the pause run once, at once."""
    return _set_status(deps, tenant, job_id, "active")


def archive_job(deps: Deps, tenant: Tenant, job_id: str) -> Job:
    """Soft delete: the job and its endpoints stop running; nothing is erased."""
    return _set_status(deps, tenant, job_id, "archived")
