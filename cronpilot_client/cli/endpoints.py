"""`cronpilot endpoints ...`: the HTTP calls a job makes, their schedule, limits and health."""

from __future__ import annotations

import argparse
from typing import Any

from chalicelib.domain.schemas import EndpointCreate, EndpointUpdate, HealthQuery
from cronpilot_client import render
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import (
    DURATION_METAVAR,
    DURATION_NOTE,
    Context,
    Parser,
    add_command,
    add_group,
    duration_ms,
    given,
    header_pair,
    json_value,
    require_one,
)
from cronpilot_client.errors import UsageError
from cronpilot_client.validation import checked_body, checked_query

VERBS = frozenset({"list", "add", "get", "update", "archive", "delete", "health", "reset-failures"})
ITEM = "/jobs/{job_id}/endpoints/{id}"
# --clear NAME -> the wire field PATCH sets to null.
CLEARABLE = {
    "description": "description",
    "headers": "headersJson",
    "secret-headers": "secretHeaders",
    "body": "bodyJson",
    "min-interval": "minIntervalMs",
    "max-interval": "maxIntervalMs",
    "request-timeout": "timeoutMs",
    "max-execution-time": "maxExecutionTimeMs",
    "max-response-kb": "maxResponseSizeKb",
}


def register(subparsers: Any, common: Parser) -> None:
    """Add the `endpoints` group."""
    verbs = add_group(subparsers, "endpoints", "Endpoints: the HTTP calls a job schedules")
    p = add_command(verbs, "list", "List a job's endpoints (the default verb)", list_eps, common)
    p.add_argument("job_id", metavar="JOB_ID")
    p = add_command(verbs, "add", "Add an endpoint to a job", add_endpoint, common)
    p.add_argument("job_id", metavar="JOB_ID")
    _endpoint_options(p, creating=True)
    p = add_command(verbs, "get", "Show an endpoint", get_endpoint, common)
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p = add_command(
        verbs, "update", "Change an endpoint (only the options given)", update_endpoint, common
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    _endpoint_options(p, creating=False)
    p.add_argument(
        "--clear",
        action="append",
        choices=sorted(CLEARABLE),
        default=[],
        metavar="FIELD",
        help=f"remove an optional setting (repeatable): {', '.join(sorted(CLEARABLE))}",
    )
    p = add_command(
        verbs, "archive", "Archive an endpoint (stops running, history kept)", archive, common
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p = add_command(
        verbs, "delete", "Delete an endpoint with its runs and sessions", delete, common
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    p = add_command(verbs, "health", "Success and failure counts, failure streak", health, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--since-hours", type=int, help="window in hours (default 24)")
    p = add_command(
        verbs, "reset-failures", "Reset the failure count (ends backoff)", reset_failures, common
    )
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")


def _endpoint_options(p: argparse.ArgumentParser, creating: bool) -> None:
    p.add_argument("--name", required=creating, help="endpoint name, 1-255 characters")
    p.add_argument("--url", required=creating, help="http(s) URL to call")
    p.add_argument("--method", help="GET (default), POST, PUT, PATCH or DELETE")
    p.add_argument(
        "--description",
        help="plain-language rules for the AI planner (what in the response should change "
        "the schedule)",
    )
    schedule = p.add_mutually_exclusive_group()
    schedule.add_argument(
        "--every",
        type=duration_ms,
        metavar=DURATION_METAVAR,
        help=f"baseline interval {DURATION_NOTE}",
    )
    schedule.add_argument("--cron", help="baseline cron expression, e.g. '0 2 * * *'")
    p.add_argument("--timezone", help="IANA zone for --cron (default UTC)")
    for flag, text in (
        ("--min-interval", "shortest interval the planner may use"),
        ("--max-interval", "longest interval between runs"),
        ("--request-timeout", "HTTP timeout of each call"),
        ("--max-execution-time", "longest a run may take"),
    ):
        p.add_argument(
            flag, type=duration_ms, metavar=DURATION_METAVAR, help=f"{text} {DURATION_NOTE}"
        )
    p.add_argument("--max-response-kb", type=int, help="largest response body kept, in KB")
    p.add_argument(
        "--header",
        action="append",
        type=header_pair,
        metavar="'NAME: VALUE'",
        help="request header (repeatable); secret values are stored encrypted and shown masked",
    )
    p.add_argument(
        "--secret-header",
        action="append",
        metavar="NAME",
        help="also treat this header as secret (repeatable; Authorization, Cookie and names "
        "with key/token/secret/auth always are)",
    )
    p.add_argument("--body", type=json_value, metavar="JSON", help="request body, as JSON")


def _fields(ctx: Context) -> dict[str, Any]:
    a = ctx.args
    fields = given(
        name=a.name,
        url=a.url,
        method=a.method,
        description=a.description,
        baselineIntervalMs=a.every,
        baselineCron=a.cron,
        timezone=a.timezone,
        minIntervalMs=a.min_interval,
        maxIntervalMs=a.max_interval,
        timeoutMs=a.request_timeout,
        maxExecutionTimeMs=a.max_execution_time,
        maxResponseSizeKb=a.max_response_kb,
    )
    if a.header:
        fields["headersJson"] = dict(a.header)
    if a.secret_header:
        fields["secretHeaders"] = list(a.secret_header)
    if a.body is not None:
        fields["bodyJson"] = a.body
    return fields


def list_eps(ctx: Context) -> int:
    """GET /jobs/{jobId}/endpoints."""
    answer = ctx.api.get(api_path("/jobs/{id}/endpoints", id=ctx.args.job_id))
    ctx.show_list(answer["endpoints"], render.ENDPOINT_COLUMNS, answer)
    return 0


def add_endpoint(ctx: Context) -> int:
    """POST /jobs/{jobId}/endpoints."""
    require_one(ctx, {"every": "--every", "cron": "--cron"})
    body = checked_body(EndpointCreate, _fields(ctx))
    ctx.show_item(ctx.api.post(api_path("/jobs/{id}/endpoints", id=ctx.args.job_id), body))
    return 0


def get_endpoint(ctx: Context) -> int:
    """GET /jobs/{jobId}/endpoints/{id}."""
    path = api_path(ITEM, job_id=ctx.args.job_id, id=ctx.args.endpoint_id)
    ctx.show_item(ctx.api.get(path))
    return 0


def update_endpoint(ctx: Context) -> int:
    """PATCH /jobs/{jobId}/endpoints/{id} with only the options given."""
    fields = _fields(ctx)
    for name in ctx.args.clear:
        wire = CLEARABLE[name]
        if wire in fields:
            raise UsageError(f"--clear {name} contradicts the value given for it")
        fields[wire] = None
    if not fields:
        raise UsageError("nothing to change: give at least one option (see --help)")
    body = checked_body(EndpointUpdate, fields)
    path = api_path(ITEM, job_id=ctx.args.job_id, id=ctx.args.endpoint_id)
    ctx.show_item(ctx.api.patch(path, body))
    return 0


def archive(ctx: Context) -> int:
    """POST /jobs/{jobId}/endpoints/{id}/archive."""
    path = api_path(ITEM + "/archive", job_id=ctx.args.job_id, id=ctx.args.endpoint_id)
    ctx.show_item(ctx.api.post(path))
    return 0


def delete(ctx: Context) -> int:
    """DELETE /jobs/{jobId}/endpoints/{id}, only with --yes."""
    if not ctx.args.yes:
        raise UsageError("deleting removes the endpoint, its runs and sessions; add --yes")
    path = api_path(ITEM, job_id=ctx.args.job_id, id=ctx.args.endpoint_id)
    ctx.api.delete(path)
    ctx.done(f"Deleted endpoint {ctx.args.endpoint_id}.", deleted=ctx.args.endpoint_id)
    return 0


def health(ctx: Context) -> int:
    """GET /endpoints/{id}/health."""
    query = checked_query(HealthQuery, {"sinceHours": ctx.args.since_hours})
    path = api_path("/endpoints/{id}/health", id=ctx.args.endpoint_id)
    ctx.show_item(ctx.api.get(path, query))
    return 0


def reset_failures(ctx: Context) -> int:
    """POST /endpoints/{id}/reset-failures."""
    ctx.api.post(api_path("/endpoints/{id}/reset-failures", id=ctx.args.endpoint_id))
    ctx.done(f"Failure count of {ctx.args.endpoint_id} reset.", endpointId=ctx.args.endpoint_id)
    return 0
