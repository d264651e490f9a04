"""The planner's flow in process: a run marks its job, the analyzer runs a session through the
real tool loop (scripted model), hints move the schedule at once, the session is recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bench.scenarios.scripted import Observation, ScriptedModel
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Endpoint
from chalicelib.engine.caller import CallResult
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import QueuedSlot
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.queue import JobRef
from tests.conftest import Api
from tests.integration.fakes import Recorder, StubCaller


def _ep(deps: Deps, endpoint_id: str) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def _run(deps: Deps, clock: ManualClock, endpoint_id: str) -> None:
    ep = _ep(deps, endpoint_id)
    if ep.next_run_at > clock.now():
        clock.set(ep.next_run_at)
    lock_ms = int(lock_duration(ep).total_seconds() * 1000)
    assert Executor(deps).run_slot(QueuedSlot("acme", ep.id, ep.next_run_at, lock_ms)) is not None


def _recovery_job(api: Api) -> tuple[str, str, str]:
    job = api.post("/api/jobs", {"name": "Service Recovery Workflow"}).body
    health = api.post(
        f"/api/jobs/{job['id']}/endpoints",
        {
            "name": "Health Check",
            "url": "https://api.example.com/health",
            "baselineIntervalMs": 60_000,
            "minIntervalMs": 10_000,
            "maxIntervalMs": 300_000,
            "description": "Poll faster when degraded; recovery should run when errors show.",
        },
    ).body
    recovery = api.post(
        f"/api/jobs/{job['id']}/endpoints",
        {
            "name": "Trigger Recovery",
            "url": "https://api.example.com/admin/restart",
            "method": "POST",
            "baselineIntervalMs": 3_600_000,
            # No minIntervalMs: clamps count from now (DECISIONS), so a 5 min minimum would turn
            # "run at once" into "run in 5 min". The cooldown is the planner's to respect.
            "description": "Run at once when the health check shows errors; 5 min cooldown.",
        },
    ).body
    return job["id"], health["id"], recovery["id"]


def test_a_degraded_health_check_triggers_recovery_at_once(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> None:
    job_id, health_id, recovery_id = _recovery_job(api)

    def health_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(o.latest, dict) and o.latest.get("status") == "degraded":
            return [("propose_interval", {"intervalMs": 10_000, "ttlMinutes": 30})]
        return []

    def recovery_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
        health = o.siblings.get("Health Check")
        if isinstance(health, dict) and health.get("needs_recovery"):
            return [("propose_next_time", {"nextRunAtIso": o.now.isoformat(), "reason": "errors"})]
        return []

    model = ScriptedModel({"Health Check": health_rule, "Trigger Recovery": recovery_rule})
    deps.planner_model = model
    stub.results = [CallResult("success", 200, 50, {"status": "healthy", "error_count": 0})]
    _run(deps, clock, health_id)
    assert analysis_queue.sent == [(JobRef("acme", job_id), 0)]  # first signal: analyse soon
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert [s.endpoint_id for s in report.sessions] == [health_id]
    assert report.sessions[0].status == "success"

    clock.advance(timedelta(minutes=2))
    degraded = {"status": "degraded", "error_count": 15, "needs_recovery": True}
    stub.results = [CallResult("success", 200, 50, degraded)]
    _run(deps, clock, health_id)
    assert len(analysis_queue.sent) == 2  # the signal changed: analysed within a minute
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert sorted(report.reasons.values()) == ["sibling_change", "state_change"]
    now = clock.now()
    health, recovery = _ep(deps, health_id), _ep(deps, recovery_id)
    assert health.ai_hint_interval_ms == 10_000
    assert health.next_run_at <= now + timedelta(seconds=10)
    assert recovery.ai_hint_next_run_at == now and recovery.next_run_at == now
    tools = [c.tool for s in report.sessions for c in s.tool_calls]
    assert "propose_next_time" in tools and "propose_interval" in tools
    sessions, total = deps.sessions.page("acme", recovery_id, now, 10, 0)
    assert total == 1 and sessions[0].token_usage and sessions[0].endpoint_failure_count == 0
