"""Executing an endpoint now: the test route (the scheduled executor comes with the engine)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.deps import Deps
from chalicelib.domain import causes, ids
from chalicelib.domain.entities import Actor, Run, Tenant
from chalicelib.domain.errors import Conflict
from chalicelib.engine.caller import CallResult
from chalicelib.engine.outbound import call_endpoint, with_result
from chalicelib.services.endpoints import get_endpoint


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
