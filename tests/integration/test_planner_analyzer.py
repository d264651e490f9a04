"""The analysis tick and the analyzer around sessions: the due index, the per-job lease, the
token budget and its visibility, the queue handler, and AI switched off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bench.scenarios.scripted import Observation, ScriptedModel
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.analysis import MIN_GAP
from chalicelib.domain.entities import AnalysisSession, ToolCall
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine import handlers
from chalicelib.engine.caller import CallResult
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.dispatch import dispatch_analysis
from chalicelib.planner.queue import JobRef
from chalicelib.store.models import SessionItem
from tests.conftest import T0, Api
from tests.integration.fakes import Recorder, StubCaller
from tests.integration.test_planner_flow import _ep, _run


def tighten(o: Observation) -> list[tuple[str, dict[str, Any]]]:
    return [("propose_interval", {"intervalMs": 20_000, "ttlMinutes": 30, "reason": "busy"})]


@pytest.fixture
def model(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> ScriptedModel:
    scripted = ScriptedModel({"Sync": tighten}, next_analysis_ms=3_600_000)
    monkeypatch.setattr(deps, "planner_model", scripted)
    return scripted


def make_job(api: Api, name: str = "Data Sync", endpoints: int = 1) -> tuple[str, list[str]]:
    job = api.post("/api/jobs", {"name": name}).body
    ids = []
    for n in range(endpoints):
        body = {
            "name": "Sync" if n == 0 else f"Other {n}",
            "url": f"https://api.example.com/sync/{n}",
            "baselineIntervalMs": 60_000,
        }
        ids.append(api.post(f"/api/jobs/{job['id']}/endpoints", body).body["id"])
    return job["id"], ids


def test_the_tick_sends_only_jobs_with_endpoints_due(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    model: ScriptedModel,
    analysis_queue: Recorder,
) -> None:
    due_job, (due_ep,) = make_job(api, "Due")
    quiet_job, _ = make_job(api, "Quiet")
    paused_job, (paused_ep,) = make_job(api, "Paused")
    _run(deps, clock, due_ep)
    _run(deps, clock, paused_ep)
    assert api.post(f"/api/jobs/{paused_job}/pause").status == 200
    # The quiet job's endpoint has been analysed since it was created; nothing new since.
    Analyzer(deps, model).analyse_job(JobRef("acme", quiet_job))
    clock.advance(timedelta(seconds=1))
    tick = dispatch_analysis(deps, analysis_queue, clock.now())
    assert tick.jobs_sent == 1 and [ref for ref, _ in analysis_queue.sent][-1:] == [
        JobRef("acme", due_job)
    ]
    report = Analyzer(deps, model).analyse_job(JobRef("acme", paused_job))
    assert report.skipped == "job_inactive" and not report.sessions


def test_a_session_records_its_next_analysis_and_uses_the_budget(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    model: ScriptedModel,
    analysis_queue: Recorder,
) -> None:
    job_id, (sync_id,) = make_job(api)
    stub.results = [CallResult("success", 200, 50, {"records_pending": 5000})]
    _run(deps, clock, sync_id)
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    (session,) = report.sessions
    now = clock.now()
    assert session.next_analysis_at == now + timedelta(hours=1)
    assert session.endpoint_failure_count == 0 and session.status == "success"
    assert session.input_tokens and session.output_tokens
    assert session.token_usage == session.input_tokens + session.output_tokens
    assert _ep(deps, sync_id).analysis_due_at == session.next_analysis_at
    used, _ = deps.tenants.ai_usage("acme", "2025-01")
    assert used == session.token_usage
    # Nothing is due any more: a duplicate message does no work and calls no model.
    calls = model.calls
    again = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert again.skipped == "nothing_due" and model.calls == calls
    assert dispatch_analysis(deps, analysis_queue, clock.now()).jobs_sent == 0


def test_over_budget_skips_analysis_and_says_so_while_runs_go_on(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    model: ScriptedModel,
    analysis_queue: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id, (sync_id,) = make_job(api)
    deps.tenants.add_ai_tokens("acme", "2025-01", 2_000_000)  # the whole default budget
    _run(deps, clock, sync_id)
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert report.skipped == "over_budget" and not report.sessions and model.calls == 0
    assert _ep(deps, sync_id).analysis_due_at == clock.now() + timedelta(hours=1)
    health = api.get("/api/health", headers={"x-api-key": api.key or ""})
    usage = health.body["aiUsage"]
    assert usage["overBudget"] is True and usage["tokensUsed"] == 2_000_000
    assert usage["lastSkippedAt"] is not None and usage["planner"] == "configured"
    stats = api.get(
        "/api/dashboard/stats?startDate=2025-01-01T00:00:00Z&endDate=2025-01-02T00:00:00Z"
    )
    assert stats.body["aiUsage"]["overBudget"] is True
    assert "aiUsage" not in api.get("/api/health", key=None).body  # public answer stays public
    before = _ep(deps, sync_id).last_run_at
    _run(deps, clock, sync_id)  # scheduling is unaffected
    assert _ep(deps, sync_id).last_run_at != before
    # A new month starts from zero.
    clock.set(clock.now().replace(month=2, day=1, hour=0, minute=0))
    _run(deps, clock, sync_id)
    monkeypatch.setattr(deps.tenants, "mark_ai_skipped", lambda *a: pytest.fail("not skipped"))
    assert Analyzer(deps, model).analyse_job(JobRef("acme", job_id)).sessions


def test_one_analyzer_per_job_at_a_time(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    model: ScriptedModel,
    analysis_queue: Recorder,
) -> None:
    job_id, (sync_id,) = make_job(api)
    _run(deps, clock, sync_id)
    now = to_ms(clock.now())
    assert deps.jobs.lease_analysis("acme", job_id, now, now + 60_000)
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert report.skipped == "leased" and model.calls == 0
    clock.advance(timedelta(seconds=61))  # a crashed analyzer's lease lapses
    assert Analyzer(deps, model).analyse_job(JobRef("acme", job_id)).sessions


def test_a_sibling_run_during_an_analysis_is_read_by_later_sessions_and_earlier_look_again(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> None:
    job_id = api.post("/api/jobs", {"name": "Pipeline"}).body["id"]
    created = []
    for name in ("Sync", "Other 1", "Other 2"):  # analysed in the order they were created
        body = {"name": name, "url": "https://api.example.com/e", "baselineIntervalMs": 60_000}
        created.append(api.post(f"/api/jobs/{job_id}/endpoints", body).body["id"])
        clock.advance(timedelta(seconds=1))
    sync_id, first_id, second_id = created
    for endpoint_id in (sync_id, first_id, second_id):
        stub.results = [CallResult("success", 200, 50, {"batch": "old"})]
        _run(deps, clock, endpoint_id)
    read: dict[str, Any] = {}

    def sync_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
        # Analysed first. Meanwhile Other 2, which no session touches, reports a new batch.
        read[o.endpoint_name] = o.siblings.get("Other 2")
        stub.results = [CallResult("success", 200, 50, {"batch": "new"})]
        _run(deps, clock, second_id)
        return []

    def other_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
        read[o.endpoint_name] = o.siblings.get("Other 2")
        return []

    model = ScriptedModel({"Sync": sync_rule, "Other 1": other_rule}, next_analysis_ms=3_600_000)
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert len(report.sessions) == 3
    assert read == {"Sync": {"batch": "old"}, "Other 1": {"batch": "new"}}
    sync_session, first_session, _ = report.sessions
    # Sync decided on the old batch: it looks again once its minute is up, not in an hour,
    # and the job is sent again for then. Other 1 read the new batch and keeps its hour.
    assert _ep(deps, sync_id).analysis_due_at == sync_session.analyzed_at + MIN_GAP
    assert _ep(deps, first_id).analysis_due_at == first_session.next_analysis_at
    ref, delay = analysis_queue.sent[-1]
    assert ref == JobRef("acme", job_id) and 0 < delay <= MIN_GAP.total_seconds() + 1
    clock.set(sync_session.analyzed_at + MIN_GAP)
    again = Analyzer(deps, model).analyse_job(JobRef("acme", job_id))
    assert again.reasons == {sync_id: "sibling_change"}
    assert read["Sync"] == {"batch": "new"}


def test_with_ai_off_runs_never_queue_analysis_and_nothing_is_analysed(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> None:
    assert deps.planner_model is None
    job_id, (sync_id,) = make_job(api)
    _run(deps, clock, sync_id)
    assert analysis_queue.sent == []
    assert dispatch_analysis(deps, analysis_queue, clock.now()).skipped == "ai_not_configured"
    assert Analyzer(deps, None).analyse_job(JobRef("acme", job_id)).skipped == "ai_not_configured"
    assert api.get("/api/health").body["ai"] == "not_configured"


def test_the_queue_handler_drops_malformed_messages_and_retries_failures(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    model: ScriptedModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id, (sync_id,) = make_job(api)
    _run(deps, clock, sync_id)
    good = {"messageId": "m1", "body": JobRef("acme", job_id).encode()}
    bad = {"messageId": "m2", "body": '{"tenantId": "acme"}'}
    assert handlers.on_analysis_batch({"Records": [bad, good]}) == {"batchItemFailures": []}
    assert deps.sessions.latest("acme", sync_id, clock.now()) is not None

    def broken(*args: object) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(deps.jobs, "get", broken)
    failed = handlers.on_analysis_batch({"Records": [good]})
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_job_ref_messages_are_validated() -> None:
    ref = JobRef("acme", "job_1")
    assert JobRef.decode(ref.encode()) == ref
    for body in ("[]", '{"tenantId": "a"}', '{"tenantId": "", "jobId": "j"}', '{"jobId": 3}'):
        with pytest.raises(ValueError):
            JobRef.decode(body)


def test_a_large_session_is_stored_compressed_and_read_back_whole(deps: Deps) -> None:
    calls = tuple(
        ToolCall("get_sibling_states", {"id": f"ep{i}"}, {"status": "ok", "pad": "p" * 500})
        for i in range(20)
    )
    session = AnalysisSession("ep", "session_1", "acme", "job", T0, "Stable.", calls)
    deps.sessions.put(session)
    raw = SessionItem.get("ep", "session_1")
    assert raw.tool_calls is None and raw.tool_calls_z is not None
    assert len(raw.tool_calls_z) < 2_000  # 10 KB of JSON
    assert deps.sessions.latest("acme", "ep", T0) == session
    # A session stored before compression is read as it was.
    raw.update(
        actions=[
            SessionItem.tool_calls.set([{"tool": "t", "args": {}, "result": 1}]),
            SessionItem.tool_calls_z.remove(),
        ]
    )
    older = deps.sessions.latest("acme", "ep", T0)
    assert older is not None and older.tool_calls == (ToolCall("t", {}, 1),)
