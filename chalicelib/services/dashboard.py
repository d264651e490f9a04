"""Dashboard: load the tenant's jobs, endpoints, runs and sessions for a window, then count."""

from __future__ import annotations

from datetime import datetime

from chalicelib.deps import Deps
from chalicelib.domain import dashboard
from chalicelib.domain.dashboard import (
    Catalog,
    DashboardActivity,
    DashboardActivityQuery,
    DashboardStats,
    DashboardStatsQuery,
)
from chalicelib.domain.entities import Run, Tenant
from chalicelib.domain.errors import NotFound
from chalicelib.services.ai_usage import ai_usage


def _catalog(deps: Deps, tenant: Tenant, job_id: str | None) -> Catalog:
    catalog = Catalog.of(deps.jobs.list(tenant.id), deps.endpoints.list_by_tenant(tenant.id))
    if job_id is not None and job_id not in catalog.jobs:
        raise NotFound("Job not found")
    return catalog


def _runs(
    deps: Deps, tenant: Tenant, intervals: list[tuple[datetime, datetime]], now: datetime
) -> list[Run]:
    """Runs started in any of the intervals, each range read once from the by-tenant index."""
    runs: list[Run] = []
    for start, end in dashboard.merge_intervals(intervals):
        runs.extend(deps.runs.for_tenant(tenant.id, start, end, now))
    return runs


def dashboard_stats(deps: Deps, tenant: Tenant, query: DashboardStatsQuery) -> DashboardStats:
    """Stat cards, filtered metrics and time series for the query's window."""
    now = deps.clock.now()
    catalog = _catalog(deps, tenant, query.job_id)
    window = (query.start_date, query.end_date)
    # The trend compares the periods ending now, which need not overlap the charted window.
    trend = dashboard.trend_window(query.start_date, query.end_date, now)
    runs = _runs(deps, tenant, [window, trend], now)
    sessions = deps.sessions.for_tenant(tenant.id, query.start_date, query.end_date, now)
    stats = dashboard.stats(catalog, runs, sessions, query, now)
    return stats.model_copy(update={"ai_usage": ai_usage(deps, tenant)})


def dashboard_activity(
    deps: Deps, tenant: Tenant, query: DashboardActivityQuery
) -> DashboardActivity:
    """Runs and analysis sessions of the window, newest first, one page of them."""
    now = deps.clock.now()
    catalog = _catalog(deps, tenant, query.job_id)
    start, end = query.start_date, query.end_date
    runs = (
        deps.runs.for_tenant(tenant.id, start, end, now) if query.event_type != "sessions" else []
    )
    sessions = (
        deps.sessions.for_tenant(tenant.id, start, end, now) if query.event_type != "runs" else []
    )
    return dashboard.activity(catalog, runs, sessions, query)
