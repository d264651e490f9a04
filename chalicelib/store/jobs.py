"""Jobs, keyed by tenant so every read is scoped by construction."""

from __future__ import annotations

from typing import cast

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.entities import Job, JobStatus
from chalicelib.domain.errors import Conflict
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import instant_or_none, ms_or_none
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import JobItem


class JobRepo:
    def get(self, tenant_id: str, job_id: str) -> Job | None:
        try:
            return _job(JobItem.get(tenant_id, job_id))
        except JobItem.DoesNotExist:
            return None

    def list(self, tenant_id: str) -> list[Job]:
        return [_job(i) for i in JobItem.query(tenant_id)]

    def create(self, job: Job) -> None:
        try:
            _item(job).save(condition=JobItem.job_id.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise Conflict("Job id already exists") from None
            raise

    def lease_analysis(self, tenant_id: str, job_id: str, now_ms: int, until_ms: int) -> bool:
        """Take the job's analysis lease unless another analyzer holds a live one."""
        free = JobItem.analysis_lease_until.does_not_exist() | (
            JobItem.analysis_lease_until <= now_ms
        )
        try:
            JobItem(tenant_id, job_id).update(
                actions=[JobItem.analysis_lease_until.set(until_ms)],
                condition=JobItem.job_id.exists() & free,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release_analysis(self, tenant_id: str, job_id: str) -> None:
        """Give the lease back early (it also lapses on its own)."""
        try:
            JobItem(tenant_id, job_id).update(
                actions=[JobItem.analysis_lease_until.remove()],
                condition=JobItem.job_id.exists(),
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def save(self, job: Job) -> None:
        """Overwrite an existing job (the caller read it in this request)."""
        _item(job).save(condition=JobItem.job_id.exists())


def _item(job: Job) -> JobItem:
    return JobItem(
        job.tenant_id,
        job.id,
        name=job.name,
        description=job.description,
        status=job.status,
        created_at=to_ms(job.created_at),
        updated_at=to_ms(job.updated_at),
        archived_at=ms_or_none(job.archived_at),
    )


def _job(item: JobItem) -> Job:
    return Job(
        tenant_id=item.tenant_id,
        id=item.job_id,
        name=item.name,
        description=item.description,
        status=cast(JobStatus, item.status),
        created_at=from_ms(int(item.created_at)),
        updated_at=from_ms(int(item.updated_at)),
        archived_at=instant_or_none(item.archived_at),
    )
