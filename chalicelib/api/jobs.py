"""Job routes."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import JobList, JobListItem, JobResponse
from chalicelib.domain.schemas import JobCreate, JobsQuery, JobUpdate
from chalicelib.services import jobs

api = Router(__name__, "Jobs")


@api.route("/jobs", "POST", "Create a job", status=201, body=JobCreate, response=JobResponse)
def create_job() -> dict[str, Any]:
    job = jobs.create_job(deps.get(), api.tenant(), api.body(JobCreate))
    return JobResponse.of(job).wire()


@api.route("/jobs", "GET", "List jobs", query=JobsQuery, response=JobList)
def list_jobs() -> dict[str, Any]:
    query = api.query(JobsQuery)
    rows = jobs.list_jobs(deps.get(), api.tenant(), query.status)
    items = [
        JobListItem(**JobResponse.of(job).model_dump(), endpoint_count=count) for job, count in rows
    ]
    return JobList(jobs=items).wire()


@api.route("/jobs/{job_id}", "GET", "Get a job", response=JobResponse)
def get_job(job_id: str) -> dict[str, Any]:
    return JobResponse.of(jobs.get_job(deps.get(), api.tenant(), job_id)).wire()


@api.route(
    "/jobs/{job_id}", "PATCH", "Rename or describe a job", body=JobUpdate, response=JobResponse
)
def update_job(job_id: str) -> dict[str, Any]:
    job = jobs.update_job(deps.get(), api.tenant(), job_id, api.body(JobUpdate))
    return JobResponse.of(job).wire()


ARCHIVE_NOTE = "Soft delete: the job and its endpoints stop running; history is kept."


@api.route(
    "/jobs/{job_id}", "DELETE", "Archive a job", response=JobResponse, description=ARCHIVE_NOTE
)
def delete_job(job_id: str) -> dict[str, Any]:
    return JobResponse.of(jobs.archive_job(deps.get(), api.tenant(), job_id)).wire()


@api.route(
    "/jobs/{job_id}/archive",
    "POST",
    "Archive a job (alias of DELETE)",
    response=JobResponse,
    description=ARCHIVE_NOTE,
)
def archive_job(job_id: str) -> dict[str, Any]:
    return JobResponse.of(jobs.archive_job(deps.get(), api.tenant(), job_id)).wire()


@api.route("/jobs/{job_id}/pause", "POST", "Pause a job", response=JobResponse)
def pause_job(job_id: str) -> dict[str, Any]:
    return JobResponse.of(jobs.pause_job(deps.get(), api.tenant(), job_id)).wire()


@api.route(
    "/jobs/{job_id}/resume",
    "POST",
    "Resume a job",
    response=JobResponse,
    description="Endpoints whose slot passed while paused run once, at once.",
)
def resume_job(job_id: str) -> dict[str, Any]:
    return JobResponse.of(jobs.resume_job(deps.get(), api.tenant(), job_id)).wire()
