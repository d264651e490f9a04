"""Executing an endpoint on demand."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import TestRunResult
from chalicelib.services import execution

api = Router(__name__, "Runs and sessions")


@api.route(
    "/endpoints/{endpoint_id}/test",
    "POST",
    "Execute an endpoint now (test run)",
    response=TestRunResult,
    description="Calls the endpoint through the same signed, SSRF-checked caller as scheduled "
    "runs and records a run with source 'test'. Leaves nextRunAt, lastRunAt and failureCount "
    "untouched; works on paused endpoints; archived endpoints are refused (409).",
)
def test_endpoint(endpoint_id: str) -> dict[str, Any]:
    run, result = execution.test_endpoint(deps.get(), api.tenant(), endpoint_id, api.actor())
    return TestRunResult(
        run_id=run.id,
        status=run.status,
        duration_ms=result.duration_ms,
        status_code=run.status_code,
        response_body=run.response_body,
        response_truncated=run.response_truncated,
        error_message=run.error_message,
        error_kind=run.error_kind,
    ).wire()
