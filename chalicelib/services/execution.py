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
from chalicelib.sealing.envelope import SealingError
from chalicelib.services.endpoints import get_endpoint
from chalicelib.services.secret_headers import open_headers
from chalicelib.services.signing_keys import key_for_execution


def call_request(deps: Deps, endpoint: Endpoint) -> CallRequest:
    """The endpoint's execution configuration as the caller takes it, secret header values
    opened (SealingError when one cannot be)."""
    return CallRequest(
        url=endpoint.url,
        method=endpoint.method,
        headers=open_headers(deps, endpoint),
        body_json=endpoint.body_json,
        timeout_ms=endpoint.timeout_ms,
        max_response_kb=endpoint.max_response_size_kb,
    )


def call_endpoint(deps: Deps, endpoint: Endpoint) -> CallResult:
    """One call of the endpoint, signed; a secret header that cannot be opened fails the
    call unsent (sending it without its credentials would only hide the problem)."""
    try:
        request = call_request(deps, endpoint)
    except SealingError as exc:
        message = f"Request not sent: a secret header could not be decrypted ({exc})"
        return CallResult("failed", 0, error_message=message, error_kind="secret")
    return deps.caller.call(request, key_for_execution(deps, endpoint.tenant_id))


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
    result = call_endpoint(deps, endpoint)
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
