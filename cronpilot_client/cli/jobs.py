"""`cronpilot jobs ...`: list, create, show, change, archive, pause and resume jobs."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.schemas import JobCreate, JobsQuery, JobUpdate
from cronpilot_client import render
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import Context, Parser, add_command, add_group, given
from cronpilot_client.errors import UsageError
from cronpilot_client.validation import checked_body, checked_query

VERBS = frozenset({"list", "create", "get", "update", "archive", "pause", "resume"})


def register(subparsers: Any, common: Parser) -> None:
    """Add the `jobs` group."""
    verbs = add_group(subparsers, "jobs", "Jobs: named groups of endpoints")
    p = add_command(verbs, "list", "List jobs (the default verb)", list_jobs, common)
    p.add_argument("--status", choices=["active", "paused", "archived"], help="only this state")
    p = add_command(verbs, "create", "Create a job", create_job, common)
    p.add_argument("name", help="job name, 1-255 characters")
    p.add_argument("--description", help="free text, at most 1000 characters")
    p = add_command(verbs, "get", "Show a job", get_job, common)
    p.add_argument("job_id", metavar="JOB_ID")
    p = add_command(verbs, "update", "Rename a job or change its description", update_job, common)
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--name", help="new name")
    described = p.add_mutually_exclusive_group()
    described.add_argument("--description", help="new description")
    described.add_argument(
        "--clear-description", action="store_true", help="remove the description"
    )
    for verb, text, handler in (
        ("archive", "Archive a job (soft delete: it and its endpoints stop running)", archive_job),
        ("pause", "Pause a job: none of its endpoints run until it is resumed", pause_job),
        ("resume", "Resume a job: endpoints whose slot passed run once, at once", resume_job),
    ):
        p = add_command(verbs, verb, text, handler, common)
        p.add_argument("job_id", metavar="JOB_ID")


def list_jobs(ctx: Context) -> int:
    """GET /jobs."""
    query = checked_query(JobsQuery, {"status": ctx.args.status})
    answer = ctx.api.get("/jobs", query)
    ctx.show_list(answer["jobs"], render.JOB_COLUMNS, answer)
    return 0


def create_job(ctx: Context) -> int:
    """POST /jobs."""
    body = checked_body(JobCreate, given(name=ctx.args.name, description=ctx.args.description))
    ctx.show_item(ctx.api.post("/jobs", body))
    return 0


def get_job(ctx: Context) -> int:
    """GET /jobs/{id}."""
    ctx.show_item(ctx.api.get(api_path("/jobs/{id}", id=ctx.args.job_id)))
    return 0


def update_job(ctx: Context) -> int:
    """PATCH /jobs/{id} with only the fields given."""
    fields = given(name=ctx.args.name, description=ctx.args.description)
    if ctx.args.clear_description:
        fields["description"] = None
    if not fields:
        raise UsageError("nothing to change: give --name, --description or --clear-description")
    body = checked_body(JobUpdate, fields)
    ctx.show_item(ctx.api.patch(api_path("/jobs/{id}", id=ctx.args.job_id), body))
    return 0


def archive_job(ctx: Context) -> int:
    """DELETE /jobs/{id} (soft delete)."""
    ctx.show_item(ctx.api.delete(api_path("/jobs/{id}", id=ctx.args.job_id)))
    return 0


def pause_job(ctx: Context) -> int:
    """POST /jobs/{id}/pause."""
    ctx.show_item(ctx.api.post(api_path("/jobs/{id}/pause", id=ctx.args.job_id)))
    return 0


def resume_job(ctx: Context) -> int:
    """POST /jobs/{id}/resume."""
    ctx.show_item(ctx.api.post(api_path("/jobs/{id}/resume", id=ctx.args.job_id)))
    return 0
