"""Dashboard routes: tenant-wide statistics and the activity timeline (read-only)."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.dashboard import (
    DashboardActivity,
    DashboardActivityQuery,
    DashboardStats,
    DashboardStatsQuery,
)
from chalicelib.services import dashboard

api = Router(__name__, "Dashboard")

STATS_NOTE = (
    "Stat cards cover the whole tenant; the charts and filteredMetrics honour jobId and source "
    "(sourceDistribution ignores source). Buckets: 1-12 h up to 14 days, 1-14 days beyond. "
    "Archived jobs and endpoints are left out. An unknown jobId is a 404."
)


def _stats() -> dict[str, Any]:
    query = api.query(DashboardStatsQuery)
    return dashboard.dashboard_stats(deps.get(), api.tenant(), query).wire()


@api.route(
    "/dashboard/stats",
    "GET",
    "Dashboard statistics",
    query=DashboardStatsQuery,
    response=DashboardStats,
    description=STATS_NOTE,
    not_found=True,
)
def stats() -> dict[str, Any]:
    return _stats()


@api.route(
    "/dashboard",
    "GET",
    "Dashboard statistics (alias)",
    query=DashboardStatsQuery,
    response=DashboardStats,
    description=STATS_NOTE,
    not_found=True,
)
def stats_alias() -> dict[str, Any]:
    return _stats()


@api.route(
    "/dashboard/activity",
    "GET",
    "Activity timeline",
    query=DashboardActivityQuery,
    response=DashboardActivity,
    description="Runs and analysis sessions in the window, newest first, paged after merging. "
    "The summary covers the returned page only. An unknown jobId is a 404.",
    not_found=True,
)
def activity() -> dict[str, Any]:
    query = api.query(DashboardActivityQuery)
    return dashboard.dashboard_activity(deps.get(), api.tenant(), query).wire()
