"""Read-only views: runs, health, analysis sessions."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.deps import Deps
from chalicelib.domain.claim import claimed_run, with_in_flight
from chalicelib.domain.entities import AnalysisSession, Endpoint, Run, Tenant
from chalicelib.domain.errors import NotFound
from chalicelib.domain.health import Health, summarize
from chalicelib.domain.schemas import RunsQuery, SessionsQuery
from chalicelib.services.endpoints import get_endpoint


def in_flight(deps: Deps, endpoint: Endpoint) -> Run | None:
    """The endpoint's run in flight, `running` (its claim stands for it until it is written);
    an abandoned one the dispatcher cannot reach (its endpoint archived) until it expires."""
    run = claimed_run(endpoint, timedelta(days=deps.settings.retention_days))
    if run is None or (run.expires_at is not None and run.expires_at <= deps.clock.now()):
        return None
    return run


def list_runs(
    deps: Deps, tenant: Tenant, endpoint_id: str, query: RunsQuery
) -> tuple[list[Run], int]:
    endpoint = get_endpoint(deps, tenant, endpoint_id)
    now = deps.clock.now()
    return deps.runs.page(
        tenant.id,
        endpoint_id,
        now,
        query.status,
        query.limit,
        query.offset,
        in_flight(deps, endpoint),
    )


def get_run(deps: Deps, tenant: Tenant, run_id: str) -> tuple[Run, Endpoint]:
    run = deps.runs.get(tenant.id, run_id, deps.clock.now())
    endpoint = deps.endpoints.get(tenant.id, run.endpoint_id) if run else None
    if run is None or endpoint is None:
        raise NotFound("Run not found")
    return run, endpoint


def endpoint_health(deps: Deps, tenant: Tenant, endpoint_id: str, since_hours: int) -> Health:
    endpoint = get_endpoint(deps, tenant, endpoint_id)
    now = deps.clock.now()
    since = now - timedelta(hours=since_hours)
    runs = deps.runs.since(tenant.id, endpoint_id, since, now)
    running = in_flight(deps, endpoint)
    if running is not None and running.started_at >= since:
        runs = with_in_flight(runs, running)
    return summarize(runs)


def list_sessions(
    deps: Deps, tenant: Tenant, endpoint_id: str, query: SessionsQuery
) -> tuple[list[AnalysisSession], int]:
    get_endpoint(deps, tenant, endpoint_id)
    return deps.sessions.page(tenant.id, endpoint_id, deps.clock.now(), query.limit, query.offset)


def get_session(deps: Deps, tenant: Tenant, session_id: str) -> tuple[AnalysisSession, Endpoint]:
    session = deps.sessions.get(tenant.id, session_id, deps.clock.now())
    endpoint = deps.endpoints.get(tenant.id, session.endpoint_id) if session else None
    if session is None or endpoint is None:
        raise NotFound("Session not found")
    return session, endpoint


def runs_caused(deps: Deps, session: AnalysisSession, reflex_ids: list[str]) -> list[Run]:
    """The runs of the session's endpoint that its hints, or the reflexes it set, caused."""
    started = session.analyzed_at - timedelta(milliseconds=session.duration_ms or 0)
    actors = frozenset([session.id, *reflex_ids])
    now = deps.clock.now()
    return deps.runs.caused_by(session.tenant_id, session.endpoint_id, started, actors, now)
