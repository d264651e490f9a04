"""Executing an endpoint now: the test route (the scheduled executor comes with the engine)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain import causes, ids
from chalicelib.domain.capture import storable
from chalicelib.domain.entities import Actor, Endpoint, Run, Tenant
from chalicelib.domain.errors import Conflict
from chalicelib.engine.caller import CallRequest, CallResult
from chalicelib.services.endpoints import get_endpoint
from chalicelib.services.signing_keys import key_for_execution


def call_request(endpoint: Endpoint) -> CallRequest:
    """The endpoint's execution configuration as the caller takes it."""
    return CallRequest(
        url=endpoint.url,
        method=endpoint.method,
        headers=endpoint.headers_json,
        body_json=endpoint.body_json,
        timeout_ms=endpoint.timeout_ms,
        max_response_kb=endpoint.max_response_size_kb,
    )


def with_result(run: Run, result: CallResult, finished_at: datetime) -> Run:
    """The run as its call ended: outcome, timing and the body as it is stored."""
    body, truncated = storable(result.response_body, result.truncated)
    return replace(
        run,
        status=result.status,
        finished_at=finished_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        error_message=result.error_message,
        error_kind=result.error_kind,
        response_body=body,
        response_truncated=truncated,
    )


def test_endpoint(
    deps: Deps, tenant: Tenant, endpoint_id: str, by: Actor | None = None
) -> tuple[Run, CallResult]:
    """Call the endpoint now through the same caller as scheduled runs and record a `test`
    run; its schedule, last run and failure count are left alone (paused endpoints work)."""
    endpoint = get_endpoint(deps, tenant, endpoint_id)
    if endpoint.archived_at is not None:
        raise Conflict("Cannot test an archived endpoint")
    started = deps.clock.now()
    result = deps.caller.call(call_request(endpoint), key_for_execution(deps, tenant.id))
    finished = deps.clock.now()
    attempt = Run(
        endpoint_id=endpoint.id,
        id=ids.run_id(started),
        tenant_id=tenant.id,
        job_id=endpoint.job_id,
        status="running",
        started_at=started,
        attempt=1,
        source="test",
        cause=causes.manual_test(by),
        expires_at=finished + timedelta(days=deps.settings.retention_days),
    )
    run = with_result(attempt, result, finished)
    deps.runs.put(run)
    return run, result
