"""Runs, run details, endpoint health and analysis sessions (read-only routes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import AnalysisSession, Run, SessionWarning, ToolCall
from chalicelib.domain.ids import run_id, session_id
from tests.conftest import T0, Api


def _run(endpoint: dict[str, Any], minute: int, status: str = "success", **kw: Any) -> Run:
    started = T0 + timedelta(minutes=minute)
    return Run(
        endpoint_id=endpoint["id"],
        id=run_id(started),
        tenant_id="acme",
        job_id=endpoint["jobId"],
        status=status,  # type: ignore[arg-type]
        started_at=started,
        finished_at=started + timedelta(milliseconds=120),
        duration_ms=kw.pop("duration_ms", 120),
        source="baseline-interval",
        **kw,
    )


@pytest.fixture
def runs(deps: Deps, endpoint: dict[str, Any], clock: ManualClock) -> list[Run]:
    statuses = ["success", "failed", "success", "failed", "failed"]
    made = [
        _run(endpoint, i, s, status_code=200 if s == "success" else 500, response_body={"i": i})
        for i, s in enumerate(statuses)
    ]
    for run in made:
        deps.runs.put(run)
    clock.advance(timedelta(minutes=10))
    return made


def test_runs_newest_first_with_paging_and_filter(
    api: Api, endpoint: dict[str, Any], runs: list[Run]
) -> None:
    base = f"/api/endpoints/{endpoint['id']}/runs"
    page = api.get(base).body
    assert page["total"] == 5 and page["limit"] == 20 and page["offset"] == 0
    assert [r["id"] for r in page["runs"]] == [r.id for r in reversed(runs)]
    first = page["runs"][0]
    assert first["runId"] == first["id"]
    assert first["statusCode"] == 500 and first["responseBody"] == {"i": 4}
    assert first["finishedAt"] == first["completedAt"] == "2025-01-01T00:04:00.120Z"
    second = api.get(base + "?limit=2&offset=2").body
    assert [r["id"] for r in second["runs"]] == [runs[2].id, runs[1].id]
    failed = api.get(base + "?status=failed").body
    assert failed["total"] == 3 and {r["status"] for r in failed["runs"]} == {"failed"}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "status=weird", "limit=x"])
def test_runs_query_rejections(api: Api, endpoint: dict[str, Any], query: str) -> None:
    reply = api.get(f"/api/endpoints/{endpoint['id']}/runs?{query}")
    assert reply.status == 400
    assert reply.error["code"] == "VALIDATION_ERROR"


def test_expired_runs_are_hidden(
    api: Api, deps: Deps, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    deps.runs.put(_run(endpoint, 0, expires_at=T0 + timedelta(minutes=5)))
    deps.runs.put(_run(endpoint, 1, expires_at=T0 + timedelta(days=30)))
    clock.advance(timedelta(minutes=6))
    body = api.get(f"/api/endpoints/{endpoint['id']}/runs").body
    assert body["total"] == 1
    expired_id = _run(endpoint, 0).id
    assert api.get(f"/api/runs/{expired_id}").status == 404


def test_run_detail(api: Api, endpoint: dict[str, Any], runs: list[Run]) -> None:
    reply = api.get(f"/api/runs/{runs[0].id}")
    assert reply.status == 200
    body = reply.body
    assert body["attempt"] == 1 and body["source"] == "baseline-interval"
    assert body["statusCode"] == 200 and body["responseBody"] == {"i": 0}
    assert body["endpoint"] == {
        "id": endpoint["id"],
        "name": endpoint["name"],
        "url": endpoint["url"],
        "method": "GET",
    }
    assert api.get("/api/runs/run_0000000000000_missing").status == 404


def test_a_run_is_found_by_its_id_among_runs_started_in_the_same_millisecond(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    # No index by run id: the lookup reads the tenant's runs at the start the id carries.
    started = T0 + timedelta(minutes=1)
    same_ms = [
        replace(_run(endpoint, 1), endpoint_id=f"ep_{n}", id=run_id(started), response_body=n)
        for n in range(3)
    ]
    elsewhere = replace(same_ms[0], tenant_id="other", id=run_id(started))
    for run in [*same_ms, elsewhere]:
        deps.runs.put(run)
    now = clock.now()
    for run in same_ms:
        found = deps.runs.get("acme", run.id, now)
        assert found is not None
        assert (found.endpoint_id, found.response_body) == (run.endpoint_id, run.response_body)
    assert deps.runs.get("acme", elsewhere.id, now) is None
    assert deps.runs.get("other", elsewhere.id, now) is not None
    assert deps.runs.get("other", same_ms[0].id, now) is None
    # Same start, another run: not found.
    assert deps.runs.get("acme", run_id(started), now) is None


@pytest.mark.parametrize(
    "wrong", ["garbage", "run_", "run_123_abc", "run_0000000000000_MISSING12", "sess_1"]
)
def test_run_ids_of_no_run_shape_are_not_found(api: Api, runs: list[Run], wrong: str) -> None:
    reply = api.get(f"/api/runs/{wrong}")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "NOT_FOUND"


def test_health_summary(api: Api, endpoint: dict[str, Any], runs: list[Run]) -> None:
    body = api.get(f"/api/endpoints/{endpoint['id']}/health").body
    assert body == {
        "successCount": 2,
        "failureCount": 3,
        "avgDurationMs": 120.0,
        "lastRun": {"status": "failed", "at": "2025-01-01T00:04:00.000Z"},
        "failureStreak": 2,
    }


def test_health_window_excludes_older_runs(
    api: Api, endpoint: dict[str, Any], runs: list[Run], clock: ManualClock
) -> None:
    clock.advance(timedelta(hours=1))
    body = api.get(f"/api/endpoints/{endpoint['id']}/health?sinceHours=1").body
    assert body["successCount"] == 0 and body["lastRun"] is None
    assert body["avgDurationMs"] is None
    assert api.get(f"/api/endpoints/{endpoint['id']}/health?sinceHours=0").status == 400


def _session(endpoint: dict[str, Any], minute: int) -> AnalysisSession:
    at = T0 + timedelta(minutes=minute)
    return AnalysisSession(
        endpoint_id=endpoint["id"],
        id=session_id(at),
        tenant_id="acme",
        job_id=endpoint["jobId"],
        analyzed_at=at,
        reasoning=f"looked at minute {minute}",
        tool_calls=(ToolCall("propose_interval", {"intervalMs": 10000}, {"ok": True}),),
        token_usage=1200,
        duration_ms=900,
        warnings=(SessionWarning("missing_reasoning", "none given"),) if minute == 2 else (),
    )


@pytest.mark.parametrize("route", ["sessions", "analysis-sessions"])
def test_sessions_list_both_spellings(
    api: Api, deps: Deps, endpoint: dict[str, Any], route: str
) -> None:
    for minute in range(3):
        deps.sessions.put(_session(endpoint, minute))
    body = api.get(f"/api/endpoints/{endpoint['id']}/{route}?limit=2").body
    assert body["total"] == 3 and body["hasMore"] is True
    newest = body["sessions"][0]
    assert newest["reasoning"] == "looked at minute 2"
    assert newest["toolCalls"] == [
        {"tool": "propose_interval", "args": {"intervalMs": 10000}, "result": {"ok": True}}
    ]
    assert newest["toolsCalled"] == ["propose_interval"]
    assert newest["warnings"] == [{"code": "missing_reasoning", "message": "none given"}]
    assert body["sessions"][1]["warnings"] == []


@pytest.mark.parametrize("route", ["sessions", "analysis-sessions"])
def test_session_detail_both_spellings(
    api: Api, deps: Deps, endpoint: dict[str, Any], route: str
) -> None:
    session = _session(endpoint, 1)
    deps.sessions.put(session)
    body = api.get(f"/api/{route}/{session.id}").body
    assert body["endpointName"] == endpoint["name"]
    assert body["analyzedAt"] == body["createdAt"] == "2025-01-01T00:01:00.000Z"
    assert body["tokenUsage"] == 1200 and body["durationMs"] == 900
    assert api.get(f"/api/{route}/session_missing").status == 404


def test_run_and_session_reads_are_scoped_by_tenant(
    deps: Deps, endpoint: dict[str, Any], runs: list[Run], clock: ManualClock
) -> None:
    now = clock.now()
    assert deps.runs.page("acme", endpoint["id"], now, None, 20, 0)[1] == 5
    assert deps.runs.page("intruder", endpoint["id"], now, None, 20, 0) == ([], 0)
    assert deps.runs.since("intruder", endpoint["id"], T0, now) == []
    assert deps.runs.get("intruder", runs[0].id, now) is None
    deps.sessions.put(_session(endpoint, 1))
    assert deps.sessions.page("intruder", endpoint["id"], now, 10, 0) == ([], 0)
    assert deps.sessions.page("acme", endpoint["id"], now, 10, 0)[1] == 1
