"""Dashboard routes end to end: stats, its alias, the activity timeline, filters and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import (
    AnalysisSession,
    Run,
    RunSource,
    RunStatus,
    SessionWarning,
    ToolCall,
)
from chalicelib.domain.ids import run_id, session_id
from tests.conftest import T0, Api, new_tenant

H = timedelta(hours=1)
D = timedelta(days=1)
WEEK = {"startDate": "2024-12-25T00:00:00Z", "endDate": "2025-01-01T00:00:00Z"}
STATS_KEYS = {
    "jobs",
    "endpoints",
    "successRate",
    "recentActivity",
    "jobHealth",
    "filteredMetrics",
    "sourceDistribution",
    "runTimeSeries",
    "endpointTimeSeries",
    "endpointTimeSeriesMaxStacked",
    "aiSessionTimeSeries",
    "aiSessionTimeSeriesMaxStacked",
    "aiUsage",
}


def url(path: str, **params: Any) -> str:
    merged = {**WEEK, **{k: v for k, v in params.items() if v is not None}}
    return f"/api/{path}?{urlencode(merged)}"


def stats(api: Api, **params: Any) -> dict[str, Any]:
    reply = api.get(url("dashboard/stats", **params))
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


def activity(api: Api, **params: Any) -> dict[str, Any]:
    reply = api.get(url("dashboard/activity", **params))
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


def make_job(api: Api, name: str = "Nightly") -> str:
    reply = api.post("/api/jobs", {"name": name})
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


def make_endpoint(api: Api, job_id: str, name: str = "Health") -> str:
    body = {"name": name, "url": "https://api.example.com/health", "baselineIntervalMs": 60000}
    reply = api.post(f"/api/jobs/{job_id}/endpoints", body)
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


def seed_run(
    deps: Deps,
    endpoint_id: str,
    job_id: str,
    at: datetime,
    status: str = "success",
    source: str | None = "baseline-interval",
    duration_ms: int | None = 100,
) -> Run:
    run = Run(
        endpoint_id=endpoint_id,
        id=run_id(at),
        tenant_id="acme",
        job_id=job_id,
        # `timeout` is a legacy status outside the entity's type; rows may still carry it.
        status=cast(RunStatus, status),
        started_at=at,
        source=cast(RunSource | None, source),
        duration_ms=duration_ms,
    )
    deps.runs.put(run)
    return run


def seed_session(
    deps: Deps, endpoint_id: str, job_id: str, at: datetime, tokens: int | None = 50
) -> AnalysisSession:
    session = AnalysisSession(
        endpoint_id=endpoint_id,
        id=session_id(at),
        tenant_id="acme",
        job_id=job_id,
        analyzed_at=at,
        reasoning="Steady; keep the baseline",
        tool_calls=(ToolCall("get_latest_response", {"endpointId": endpoint_id}, {"ok": True}),),
        token_usage=tokens,
        warnings=(SessionWarning("missing_final_tool", "no submit_analysis"),),
    )
    deps.sessions.put(session)
    return session


# --- 182 / 183: empty tenant -----------------------------------------------------------------


def test_stats_without_data_return_the_full_structure(api: Api) -> None:
    body = stats(api)
    assert set(body) == STATS_KEYS
    assert body["jobs"] == {"total": 0}
    assert body["aiUsage"] == {
        "planner": "not_configured",
        "period": "2025-01",
        "tokensUsed": 0,
        "tokensLimit": 2_000_000,
        "overBudget": False,
        "lastSkippedAt": None,
    }
    assert body["endpoints"] == {"total": 0, "active": 0, "paused": 0}
    assert body["successRate"] == {"overall": 0, "trend": "stable"}
    assert body["recentActivity"] == {"runs24h": 0, "success24h": 0, "failure24h": 0}
    assert body["jobHealth"] == [] and body["sourceDistribution"] == []
    assert body["filteredMetrics"] == {
        "totalRuns": 0,
        "successCount": 0,
        "failureCount": 0,
        "avgDurationMs": None,
    }
    # Seven days in six-hour buckets, both ends included, every bucket zero.
    series = body["runTimeSeries"]
    assert len(series) == 29
    assert series[0] == {"date": "2024-12-25 00:00:00", "success": 0, "failure": 0}
    assert series[-1]["date"] == "2025-01-01 00:00:00"
    assert all(p["success"] == 0 and p["failure"] == 0 for p in series)
    assert body["endpointTimeSeries"] == [] and body["endpointTimeSeriesMaxStacked"] == 0
    assert body["aiSessionTimeSeries"] == [] and body["aiSessionTimeSeriesMaxStacked"] == 0


def test_stats_for_a_job_without_runs(api: Api) -> None:
    job_id = make_job(api)
    body = stats(api, jobId=job_id)
    assert body["jobs"] == {"total": 1}
    assert body["jobHealth"] == [
        {"jobId": job_id, "jobName": "Nightly", "successCount": 0, "failureCount": 0}
    ]
    assert body["filteredMetrics"]["totalRuns"] == 0


def test_dashboard_alias_serves_the_same_stats(api: Api, deps: Deps) -> None:
    job_id = make_job(api)
    endpoint_id = make_endpoint(api, job_id)
    seed_run(deps, endpoint_id, job_id, T0 - H)
    alias = api.get(url("dashboard"))
    assert alias.status == 200, alias.body
    assert alias.body == stats(api)
    assert alias.body["filteredMetrics"]["totalRuns"] == 1


def test_activity_without_data(api: Api) -> None:
    empty = {
        "events": [],
        "total": 0,
        "summary": {"runsCount": 0, "sessionsCount": 0, "successRate": 0},
    }
    assert activity(api) == empty
    assert activity(api, eventType="runs") == empty
    assert activity(api, eventType="sessions") == empty
    assert activity(api, limit=100, offset=10) == empty


# --- 218: activity ---------------------------------------------------------------------------


@pytest.fixture
def timeline(api: Api, deps: Deps) -> dict[str, Any]:
    """One job, one endpoint: three runs and two sessions interleaved over the last hours."""
    job_id = make_job(api)
    endpoint_id = make_endpoint(api, job_id, "Orders")
    runs = [
        seed_run(deps, endpoint_id, job_id, T0 - 1 * H, "failed", duration_ms=900),
        seed_run(deps, endpoint_id, job_id, T0 - 3 * H),
        seed_run(deps, endpoint_id, job_id, T0 - 5 * H),
    ]
    sessions = [
        seed_session(deps, endpoint_id, job_id, T0 - 2 * H),
        seed_session(deps, endpoint_id, job_id, T0 - 4 * H, tokens=None),
    ]
    return {"job": job_id, "endpoint": endpoint_id, "runs": runs, "sessions": sessions}


def test_activity_merges_runs_and_sessions_newest_first(api: Api, timeline: dict[str, Any]) -> None:
    body = activity(api)
    runs, sessions = timeline["runs"], timeline["sessions"]
    expected = [runs[0].id, sessions[0].id, runs[1].id, sessions[1].id, runs[2].id]
    assert [e["id"] for e in body["events"]] == expected
    assert body["total"] == 5
    assert body["summary"] == {"runsCount": 3, "sessionsCount": 2, "successRate": 66.7}
    run_event, session_event = body["events"][0], body["events"][1]
    assert run_event == {
        "type": "run",
        "id": runs[0].id,
        "endpointId": timeline["endpoint"],
        "endpointName": "Orders",
        "timestamp": "2024-12-31T23:00:00.000Z",
        "status": "failed",
        "durationMs": 900,
        "source": "baseline-interval",
    }
    assert session_event["type"] == "session"
    assert session_event["timestamp"] == "2024-12-31T22:00:00.000Z"
    assert session_event["reasoning"] == "Steady; keep the baseline"
    assert session_event["tokenUsage"] == 50
    assert session_event["toolCalls"] == [
        {
            "tool": "get_latest_response",
            "args": {"endpointId": timeline["endpoint"]},
            "result": {"ok": True},
        }
    ]
    assert session_event["warnings"] == [
        {"code": "missing_final_tool", "message": "no submit_analysis"}
    ]
    assert "status" not in session_event and "reasoning" not in run_event


def test_activity_event_type_fetches_one_kind(api: Api, timeline: dict[str, Any]) -> None:
    runs_only = activity(api, eventType="runs")
    assert {e["type"] for e in runs_only["events"]} == {"run"} and runs_only["total"] == 3
    sessions_only = activity(api, eventType="sessions")
    assert {e["type"] for e in sessions_only["events"]} == {"session"}
    assert sessions_only["total"] == 2
    assert sessions_only["summary"] == {"runsCount": 0, "sessionsCount": 2, "successRate": 0}


def test_activity_pages_after_merging(api: Api, timeline: dict[str, Any]) -> None:
    body = activity(api, limit=2, offset=1)
    expected = [timeline["sessions"][0].id, timeline["runs"][1].id]
    assert [e["id"] for e in body["events"]] == expected
    assert body["total"] == 5
    assert body["summary"] == {"runsCount": 1, "sessionsCount": 1, "successRate": 100}
    assert activity(api, offset=5)["events"] == []


def test_activity_job_filter(api: Api, deps: Deps, timeline: dict[str, Any]) -> None:
    other_job = make_job(api, "Other")
    other_endpoint = make_endpoint(api, other_job, "Billing")
    mine = seed_run(deps, other_endpoint, other_job, T0 - 30 * timedelta(minutes=1))
    body = activity(api, jobId=other_job)
    assert [e["id"] for e in body["events"]] == [mine.id]
    assert body["events"][0]["endpointName"] == "Billing"
    assert activity(api, jobId=timeline["job"])["total"] == 5
    assert activity(api)["total"] == 6


def test_activity_keeps_to_the_window(api: Api, deps: Deps, timeline: dict[str, Any]) -> None:
    seed_run(deps, timeline["endpoint"], timeline["job"], T0 - 8 * D)
    seed_run(deps, timeline["endpoint"], timeline["job"], T0 + timedelta(milliseconds=1))
    assert activity(api)["total"] == 5


# --- 82: archived jobs and endpoints ---------------------------------------------------------


def test_archived_jobs_and_endpoints_are_left_out_everywhere(api: Api, deps: Deps) -> None:
    live_job = make_job(api, "Live")
    live = make_endpoint(api, live_job, "Live endpoint")
    retired = make_endpoint(api, live_job, "Retired endpoint")
    gone_job = make_job(api, "Gone")
    in_gone_job = make_endpoint(api, gone_job, "In archived job")
    for endpoint_id, job_id in ((live, live_job), (retired, live_job), (in_gone_job, gone_job)):
        seed_run(deps, endpoint_id, job_id, T0 - H, source="ai-interval")
        seed_run(deps, endpoint_id, job_id, T0 - 2 * H, "failed")
        seed_session(deps, endpoint_id, job_id, T0 - H)
    # A run whose endpoint was deleted (its cascade missed it) counts nowhere either.
    seed_run(deps, "deleted-endpoint", live_job, T0 - H)
    archived = api.post(f"/api/jobs/{live_job}/endpoints/{retired}/archive")
    assert archived.status == 200, archived.body
    assert api.delete(f"/api/jobs/{gone_job}").status == 200

    body = stats(api)
    assert body["jobs"] == {"total": 1}
    assert body["endpoints"] == {"total": 1, "active": 1, "paused": 0}
    assert body["recentActivity"] == {"runs24h": 2, "success24h": 1, "failure24h": 1}
    assert body["successRate"]["overall"] == 50
    assert body["jobHealth"] == [
        {"jobId": live_job, "jobName": "Live", "successCount": 1, "failureCount": 1}
    ]
    assert body["filteredMetrics"]["totalRuns"] == 2
    assert body["sourceDistribution"] == [
        {"source": "ai-interval", "count": 1},
        {"source": "baseline-interval", "count": 1},
    ]
    assert sum(p["success"] + p["failure"] for p in body["runTimeSeries"]) == 2
    assert {p["endpointId"] for p in body["endpointTimeSeries"]} == {live}
    assert {p["endpointId"] for p in body["aiSessionTimeSeries"]} == {live}

    timeline = activity(api)
    assert {e["endpointId"] for e in timeline["events"]} == {live}
    assert timeline["total"] == 3
    # Filtering on the archived job is allowed but finds nothing.
    assert stats(api, jobId=gone_job)["filteredMetrics"]["totalRuns"] == 0
    assert activity(api, jobId=gone_job)["total"] == 0


# --- filters ---------------------------------------------------------------------------------


@pytest.fixture
def two_jobs(api: Api, deps: Deps) -> dict[str, str]:
    """Job A: 2 successes (interval) + 1 failure (cron). Job B: 1 success (ai-interval)."""
    job_a, job_b = make_job(api, "A"), make_job(api, "B")
    ep_a, ep_b = make_endpoint(api, job_a, "a"), make_endpoint(api, job_b, "b")
    seed_run(deps, ep_a, job_a, T0 - 2 * D, duration_ms=100)
    seed_run(deps, ep_a, job_a, T0 - 2 * D + H, duration_ms=300)
    seed_run(deps, ep_a, job_a, T0 - 3 * D, "failed", source="baseline-cron", duration_ms=None)
    seed_run(deps, ep_b, job_b, T0 - 2 * D, source="ai-interval", duration_ms=50)
    seed_session(deps, ep_b, job_b, T0 - 2 * D, tokens=70)
    return {"job_a": job_a, "job_b": job_b, "ep_a": ep_a, "ep_b": ep_b}


def test_job_filter_narrows_the_charts_not_the_cards(api: Api, two_jobs: dict[str, str]) -> None:
    body = stats(api, jobId=two_jobs["job_a"])
    assert body["filteredMetrics"] == {
        "totalRuns": 3,
        "successCount": 2,
        "failureCount": 1,
        "avgDurationMs": 200,
    }
    assert body["sourceDistribution"] == [
        {"source": "baseline-interval", "count": 2},
        {"source": "baseline-cron", "count": 1},
    ]
    assert {p["endpointId"] for p in body["endpointTimeSeries"]} == {two_jobs["ep_a"]}
    assert body["aiSessionTimeSeries"] == []
    # The stat cards stay tenant-wide.
    assert body["jobs"]["total"] == 2
    health = {h["jobId"]: (h["successCount"], h["failureCount"]) for h in body["jobHealth"]}
    assert health == {two_jobs["job_a"]: (2, 1), two_jobs["job_b"]: (1, 0)}


def test_source_filter_spares_the_source_distribution(api: Api, two_jobs: dict[str, str]) -> None:
    body = stats(api, source="baseline-interval")
    assert body["filteredMetrics"]["totalRuns"] == 2
    assert body["filteredMetrics"]["failureCount"] == 0
    assert sum(p["failure"] for p in body["runTimeSeries"]) == 0
    assert {p["endpointId"] for p in body["endpointTimeSeries"]} == {two_jobs["ep_a"]}
    assert body["sourceDistribution"] == [
        {"source": "baseline-interval", "count": 2},
        {"source": "ai-interval", "count": 1},
        {"source": "baseline-cron", "count": 1},
    ]


def test_series_bucket_and_stack_the_runs(api: Api, two_jobs: dict[str, str]) -> None:
    body = stats(api)
    by_date = {p["date"]: p for p in body["runTimeSeries"]}
    assert by_date["2024-12-30 00:00:00"] == {
        "date": "2024-12-30 00:00:00",
        "success": 3,
        "failure": 0,
    }
    assert by_date["2024-12-29 00:00:00"]["failure"] == 1
    assert len(body["endpointTimeSeries"]) == 29 * 2
    # Dec 30 00:00 stacks 2 runs of `a` and 1 of `b`.
    assert body["endpointTimeSeriesMaxStacked"] == pytest.approx(3.3)
    first = body["endpointTimeSeries"][0]
    assert (first["endpointId"], first["date"]) == (two_jobs["ep_a"], "2024-12-25 00:00:00")
    point = next(
        p
        for p in body["endpointTimeSeries"]
        if p["date"] == "2024-12-30 00:00:00" and p["endpointId"] == two_jobs["ep_a"]
    )
    assert point == {
        "date": "2024-12-30 00:00:00",
        "endpointId": two_jobs["ep_a"],
        "endpointName": "a",
        "success": 2,
        "failure": 0,
        "totalDurationMs": 400,
    }
    sessions = [p for p in body["aiSessionTimeSeries"] if p["sessionCount"]]
    assert sessions == [
        {
            "date": "2024-12-30 00:00:00",
            "endpointId": two_jobs["ep_b"],
            "endpointName": "b",
            "sessionCount": 1,
            "totalTokens": 70,
        }
    ]
    assert body["aiSessionTimeSeriesMaxStacked"] == pytest.approx(1.1)
    top = stats(api, endpointLimit=1)["endpointTimeSeries"]
    assert {p["endpointId"] for p in top} == {two_jobs["ep_a"]}


# --- cards: endpoints, 24 h activity, success rate -------------------------------------------


def test_endpoint_counts_follow_the_pause(api: Api, clock: ManualClock) -> None:
    job_id = make_job(api)
    make_endpoint(api, job_id, "one")
    paused = make_endpoint(api, job_id, "two")
    reply = api.post(f"/api/endpoints/{paused}/pause", {"pausedUntil": "2025-01-01T02:00:00Z"})
    assert reply.status == 204, reply.body
    assert stats(api)["endpoints"] == {"total": 2, "active": 1, "paused": 1}
    clock.set(T0 + 2 * H)
    assert stats(api)["endpoints"] == {"total": 2, "active": 2, "paused": 0}


def test_recent_activity_counts_legacy_timeout_as_failure(api: Api, deps: Deps) -> None:
    job_id = make_job(api)
    endpoint_id = make_endpoint(api, job_id)
    seed_run(deps, endpoint_id, job_id, T0 - H)
    seed_run(deps, endpoint_id, job_id, T0 - 2 * H, "timeout")
    seed_run(deps, endpoint_id, job_id, T0 - 3 * H, "running", duration_ms=None)
    seed_run(deps, endpoint_id, job_id, T0 - 25 * H, "failed")
    body = stats(api)
    assert body["recentActivity"] == {"runs24h": 3, "success24h": 1, "failure24h": 1}
    assert body["filteredMetrics"]["failureCount"] == 2


def test_success_rate_compares_with_the_preceding_period(api: Api, deps: Deps) -> None:
    job_id = make_job(api)
    endpoint_id = make_endpoint(api, job_id)
    minute = timedelta(minutes=1)
    for i in range(10):
        now_status, before_status = (
            ("success" if i < 9 else "failed"),
            ("success" if i < 8 else "failed"),
        )
        seed_run(deps, endpoint_id, job_id, T0 - D - H - i * minute, now_status)
        seed_run(deps, endpoint_id, job_id, T0 - 8 * D - i * minute, before_status)
    assert stats(api)["successRate"] == {"overall": 90.0, "trend": "up"}
    # A one-day window compares the last day (no runs) with the day before it (90%).
    one_day = {"startDate": "2024-12-31T00:00:00Z", "endDate": "2025-01-01T00:00:00Z"}
    assert stats(api, **one_day)["successRate"] == {"overall": 0, "trend": "down"}


# --- query handling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-12-25", "2025-01-01"),
        ("2024-12-25T00:00:00", "2025-01-01T00:00:00"),
        ("2024-12-25T02:00:00+02:00", "2025-01-01T02:00:00+02:00"),
        ("2024-12-25T00:00:00.000Z", "2025-01-01T00:00:00.000Z"),
    ],
)
def test_dates_are_parsed_leniently(api: Api, start: str, end: str) -> None:
    body = stats(api, startDate=start, endDate=end)
    assert body["runTimeSeries"][0]["date"] == "2024-12-25 00:00:00"
    assert body["runTimeSeries"][-1]["date"] == "2025-01-01 00:00:00"


def test_long_windows_use_daily_labels(api: Api) -> None:
    body = stats(api, startDate="2024-10-03", endDate="2025-01-01")
    assert body["runTimeSeries"][:2] == [
        {"date": "2024-10-03", "success": 0, "failure": 0},
        {"date": "2024-10-06", "success": 0, "failure": 0},
    ]


@pytest.mark.parametrize("path", ["dashboard/stats", "dashboard", "dashboard/activity"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startDate": None}, "startDate"),
        ({"endDate": None}, "endDate"),
        ({"startDate": "last tuesday"}, "startDate"),
        ({"jobId": ""}, "jobId"),
    ],
)
def test_bad_windows_are_400_naming_the_field(
    api: Api, path: str, params: dict[str, str | None], field: str
) -> None:
    query = {**WEEK, **params}
    reply = api.get(f"/api/{path}?{urlencode({k: v for k, v in query.items() if v is not None})}")
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in reply.error["details"]] == [field]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("dashboard/stats", {"endpointLimit": "0"}, "endpointLimit"),
        ("dashboard/stats", {"endpointLimit": "101"}, "endpointLimit"),
        ("dashboard/stats", {"endpointLimit": "ten"}, "endpointLimit"),
        ("dashboard/stats", {"source": "cron"}, "source"),
        ("dashboard/activity", {"eventType": "jobs"}, "eventType"),
        ("dashboard/activity", {"limit": "0"}, "limit"),
        ("dashboard/activity", {"limit": "101"}, "limit"),
        ("dashboard/activity", {"offset": "-1"}, "offset"),
    ],
)
def test_bad_options_are_400_naming_the_field(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    reply = api.get(url(path, **params))
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in reply.error["details"]] == [field]


@pytest.mark.parametrize("path", ["dashboard/stats", "dashboard", "dashboard/activity"])
def test_reversed_and_overlong_windows_are_read_leniently(api: Api, path: str) -> None:
    # The document cannot relate two query parameters, so the server does not refuse them.
    assert api.get(url(path, startDate=WEEK["endDate"], endDate=WEEK["startDate"])).status == 200
    assert api.get(url(path, startDate="2000-01-01", endDate="2025-01-01")).status == 200


def test_a_full_366_day_window_is_accepted(api: Api) -> None:
    assert len(stats(api, startDate="2024-01-01", endDate="2025-01-01")["runTimeSeries"]) == 27


@pytest.mark.parametrize("path", ["dashboard/stats", "dashboard", "dashboard/activity"])
def test_other_tenants_and_unknown_jobs_are_404(
    api: Api, deps: Deps, chalice_client: Client, path: str
) -> None:
    globex = Api(chalice_client, new_tenant(deps, "globex"))
    foreign = make_job(globex, "Theirs")
    for job_id in (foreign, "job_0_missing"):
        reply = api.get(url(path, jobId=job_id))
        assert reply.status == 404, reply.body
        assert reply.error["code"] == "NOT_FOUND"
    assert globex.get(url(path, jobId=foreign)).status == 200


@pytest.mark.parametrize("path", ["dashboard/stats", "dashboard", "dashboard/activity"])
def test_the_api_key_is_required(api: Api, path: str) -> None:
    reply = api.get(url(path), key=None)
    assert reply.status == 401
    assert reply.error["code"] == "UNAUTHORIZED"


def test_tenants_see_only_their_own_runs(api: Api, deps: Deps, chalice_client: Client) -> None:
    job_id = make_job(api)
    seed_run(deps, make_endpoint(api, job_id), job_id, T0 - H)
    globex = Api(chalice_client, new_tenant(deps, "globex"))
    assert stats(globex)["filteredMetrics"]["totalRuns"] == 0
    assert activity(globex)["total"] == 0
    assert stats(api)["filteredMetrics"]["totalRuns"] == 1


def test_reads_are_index_ranges_bounded_by_the_window(
    api: Api, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, datetime, datetime]] = []
    runs_for_tenant, sessions_for_tenant = deps.runs.for_tenant, deps.sessions.for_tenant

    def spy_runs(tenant_id: str, start: datetime, end: datetime, now: datetime) -> list[Run]:
        seen.append(("runs", start, end))
        return runs_for_tenant(tenant_id, start, end, now)

    def spy_sessions(
        tenant_id: str, start: datetime, end: datetime, now: datetime
    ) -> list[AnalysisSession]:
        seen.append(("sessions", start, end))
        return sessions_for_tenant(tenant_id, start, end, now)

    monkeypatch.setattr(deps.runs, "for_tenant", spy_runs)
    monkeypatch.setattr(deps.sessions, "for_tenant", spy_sessions)
    year_ago = {"startDate": "2024-01-01T00:00:00Z", "endDate": "2024-01-03T00:00:00Z"}
    stats(api, **year_ago)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    # The window, and separately the two 2-day trend periods ending now: nothing in between.
    assert sorted(seen) == [
        ("runs", start, end),
        ("runs", T0 - 4 * D, T0),
        ("sessions", start, end),
    ]
    seen.clear()
    stats(api)
    assert sorted(seen) == [("runs", T0 - 14 * D, T0), ("sessions", T0 - 7 * D, T0)]
    seen.clear()
    activity(api, eventType="runs")
    assert seen == [("runs", T0 - 7 * D, T0)]
