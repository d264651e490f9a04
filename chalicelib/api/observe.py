"""Execution visibility: runs, endpoint health, analysis sessions (read-only)."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import (
    HealthSummary,
    LastRun,
    RunDetail,
    RunEndpointRef,
    RunList,
    RunResponse,
    SessionDetail,
    SessionList,
    SessionResponse,
    reflexes_set,
)
from chalicelib.domain.schemas import HealthQuery, RunsQuery, SessionsQuery
from chalicelib.services import observe

api = Router(__name__, "Runs and sessions")


@api.route(
    "/endpoints/{endpoint_id}/runs",
    "GET",
    "List runs, newest first",
    query=RunsQuery,
    response=RunList,
)
def list_runs(endpoint_id: str) -> dict[str, Any]:
    query = api.query(RunsQuery)
    runs, total = observe.list_runs(deps.get(), api.tenant(), endpoint_id, query)
    page = [RunResponse.of(r) for r in runs]
    return RunList(runs=page, total=total, limit=query.limit, offset=query.offset).wire()


@api.route("/runs/{run_id}", "GET", "Run details", response=RunDetail)
def get_run(run_id: str) -> dict[str, Any]:
    run, endpoint = observe.get_run(deps.get(), api.tenant(), run_id)
    ref = RunEndpointRef(
        id=endpoint.id, name=endpoint.name, url=endpoint.url, method=endpoint.method
    )
    return RunDetail(**RunResponse.of(run).model_dump(), endpoint=ref).wire()


@api.route(
    "/endpoints/{endpoint_id}/health",
    "GET",
    "Health summary",
    query=HealthQuery,
    response=HealthSummary,
)
def health(endpoint_id: str) -> dict[str, Any]:
    query = api.query(HealthQuery)
    h = observe.endpoint_health(deps.get(), api.tenant(), endpoint_id, query.since_hours)
    last = (
        LastRun(status=h.last_run_status, at=h.last_run_at)
        if h.last_run_status is not None and h.last_run_at is not None
        else None
    )
    return HealthSummary(
        success_count=h.success_count,
        failure_count=h.failure_count,
        avg_duration_ms=h.avg_duration_ms,
        last_run=last,
        failure_streak=h.failure_streak,
    ).wire()


def _sessions(endpoint_id: str) -> dict[str, Any]:
    query = api.query(SessionsQuery)
    sessions, total = observe.list_sessions(deps.get(), api.tenant(), endpoint_id, query)
    page = [SessionResponse.of(s) for s in sessions]
    listing = SessionList(sessions=page, total=total, has_more=query.offset + len(page) < total)
    return listing.wire()


@api.route(
    "/endpoints/{endpoint_id}/sessions",
    "GET",
    "List analysis sessions",
    query=SessionsQuery,
    response=SessionList,
)
def list_sessions(endpoint_id: str) -> dict[str, Any]:
    return _sessions(endpoint_id)


@api.route(
    "/endpoints/{endpoint_id}/analysis-sessions",
    "GET",
    "List analysis sessions (alias)",
    query=SessionsQuery,
    response=SessionList,
)
def list_analysis_sessions(endpoint_id: str) -> dict[str, Any]:
    return _sessions(endpoint_id)


def _session(session_id: str) -> dict[str, Any]:
    d = deps.get()
    session, endpoint = observe.get_session(d, api.tenant(), session_id)
    runs = observe.runs_caused(d, session, reflexes_set(session))
    return SessionDetail.with_name(session, endpoint.name, [r.id for r in runs]).wire()


@api.route("/sessions/{session_id}", "GET", "Analysis session details", response=SessionDetail)
def get_session(session_id: str) -> dict[str, Any]:
    return _session(session_id)


@api.route(
    "/analysis-sessions/{session_id}",
    "GET",
    "Analysis session details (alias)",
    response=SessionDetail,
)
def get_analysis_session(session_id: str) -> dict[str, Any]:
    return _session(session_id)
