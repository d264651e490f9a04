"""The planner's flow in process on the manual clock, played on the seed's Service Recovery
Workflow with its exact settings: a run marks its job, the analyzer runs sessions through the
real tool loop (scripted model), hints move the schedule at once, sessions are recorded.

Both orders the seed must survive: healthy first then degraded, and degraded from the very
first answer. The recovery runs once, within seconds of its session's "run now", and not
again for 5 minutes (its minIntervalMs counts from its last run).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bench.scenarios.scripted import Observation, ScriptedModel
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.engine.caller import CallResult
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import QueuedSlot
from chalicelib.planner.analyze import Analyzer, JobReport
from chalicelib.planner.queue import JobRef
from tests.conftest import Api
from tests.integration.fakes import Recorder, StubCaller

# The seed's endpoints, verbatim (docs/coordination.md).
HEALTH_CHECK = {
    "name": "Health Check",
    "url": "https://api.example.com/health",
    "method": "GET",
    "baselineIntervalMs": 60000,
    "minIntervalMs": 10000,
    "maxIntervalMs": 300000,
    "timeoutMs": 10000,
    "description": "Monitors service health. When status is degraded or error_count > 0, poll "
    "faster. When errors detected, trigger-recovery should run immediately.",
}
TRIGGER_RECOVERY = {
    "name": "Trigger Recovery",
    "url": "https://api.example.com/admin/restart",
    "method": "POST",
    "baselineIntervalMs": 3600000,
    "minIntervalMs": 300000,
    "timeoutMs": 30000,
    "description": "Recovery action that restarts the service. Only run when health-check "
    "shows errors. After triggering, wait at least 5 minutes before another attempt. When "
    "service recovers, return to hourly baseline.",
}
HEALTHY = {"status": "healthy", "error_count": 0, "latency_ms": 45}
DEGRADED = {
    "status": "degraded",
    "error_count": 15,
    "error_rate_pct": 12.5,
    "latency_ms": 2500,
    "needs_recovery": True,
}
RESTARTED = {"action": "restart", "status": "initiated"}


def health_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(o.latest, dict) and o.latest.get("status") != "healthy":
        return [("propose_interval", {"intervalMs": 10_000, "ttlMinutes": 30})]
    return []


def recovery_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
    health = o.siblings.get("Health Check")
    if isinstance(health, dict) and health.get("needs_recovery"):
        return [("propose_next_time", {"nextRunAtIso": o.now.isoformat(), "reason": "errors"})]
    return []


def _ep(deps: Deps, endpoint_id: str) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def _run(deps: Deps, clock: ManualClock, endpoint_id: str) -> Run:
    """Run the endpoint's next slot (the clock moved to it if it lies ahead)."""
    ep = _ep(deps, endpoint_id)
    if ep.next_run_at > clock.now():
        clock.set(ep.next_run_at)
    lock_ms = int(lock_duration(ep).total_seconds() * 1000)
    run = Executor(deps).run_slot(QueuedSlot("acme", ep.id, ep.next_run_at, lock_ms))
    assert run is not None
    return run


class Workflow:
    """The seed's job on the in-process stack, with the scripted planner switched on."""

    def __init__(
        self, deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, queue: Recorder
    ) -> None:
        self.deps, self.clock, self.stub, self.queue = deps, clock, stub, queue
        deps.planner_model = ScriptedModel(
            {"Health Check": health_rule, "Trigger Recovery": recovery_rule}
        )
        self.job = api.post("/api/jobs", {"name": "Service Recovery Workflow"}).body["id"]
        self.health = api.post(f"/api/jobs/{self.job}/endpoints", HEALTH_CHECK).body["id"]
        self.recovery = api.post(f"/api/jobs/{self.job}/endpoints", TRIGGER_RECOVERY).body["id"]

    def ep(self, endpoint_id: str) -> Endpoint:
        return _ep(self.deps, endpoint_id)

    def run(self, endpoint_id: str, body: dict[str, Any]) -> Run:
        """Run the endpoint's next slot, answering `body`."""
        self.stub.results = [CallResult("success", 200, 50, body)]
        return _run(self.deps, self.clock, endpoint_id)

    def analyse(self) -> JobReport:
        assert self.deps.planner_model is not None
        return Analyzer(self.deps, self.deps.planner_model).analyse_job(JobRef("acme", self.job))

    def recovery_runs(self) -> list[Run]:
        return self.deps.runs.page("acme", self.recovery, self.clock.now(), None, 100, 0)[0]


@pytest.fixture
def flow(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> Workflow:
    return Workflow(deps, api, clock, stub, analysis_queue)


def _analysed_when_created(flow: Workflow) -> None:
    # Each new endpoint is announced and analysed at once, run or not.
    assert [ref for ref, _ in flow.queue.sent] == [JobRef("acme", flow.job)] * 2
    report = flow.analyse()
    assert report.reasons == {flow.health: "first_analysis", flow.recovery: "first_analysis"}
    assert all(not s.tool_calls[2:-1] for s in report.sessions)  # read, then submit: no action


def _recovery_ran_at_once_then_waits_five_minutes(flow: Workflow, report: JobReport) -> None:
    now = flow.clock.now()
    recovery = flow.ep(flow.recovery)
    assert recovery.next_run_at == now  # "run now" runs now: it never ran before
    session = next(s for s in report.sessions if s.endpoint_id == flow.recovery)
    run = flow.run(flow.recovery, RESTARTED)
    assert run.started_at == now and run.source == "ai-oneshot"
    assert run.cause is not None and run.cause.kind == "oneshot-hint"
    assert run.cause.by is not None and (run.cause.by.type, run.cause.by.id) == (
        "session",
        session.id,
    )
    assert flow.ep(flow.recovery).next_run_at == now + timedelta(hours=1)  # hourly again

    # Still failing two minutes later, worse: the recovery's session asks for another run at
    # once, and the minimum holds it to 5 minutes after the last run.
    flow.clock.advance(timedelta(minutes=2))
    flow.run(flow.health, {**DEGRADED, "status": "critical"})
    again = flow.analyse()
    assert again.reasons.get(flow.recovery) == "state_change"  # its own first answer, unread
    held = flow.ep(flow.recovery)
    assert held.next_run_at == run.started_at + timedelta(minutes=5)
    assert held.next_run_cause is not None and held.next_run_cause.kind == "clamp"
    assert len(flow.recovery_runs()) == 1


def test_healthy_first_then_degraded_runs_the_recovery_at_once(flow: Workflow) -> None:
    _analysed_when_created(flow)
    flow.clock.advance(timedelta(seconds=60))
    flow.run(flow.health, HEALTHY)
    healthy = flow.analyse()
    assert set(healthy.reasons.values()) == {"state_change", "sibling_change"}
    assert flow.recovery_runs() == [] and flow.ep(flow.recovery).ai_hint_next_run_at is None

    flow.clock.advance(timedelta(minutes=2))
    flow.run(flow.health, DEGRADED)
    assert flow.queue.sent[-1] == (JobRef("acme", flow.job), 0)  # the change is urgent
    report = flow.analyse()
    assert sorted(report.reasons.values()) == ["sibling_change", "state_change"]
    assert flow.ep(flow.health).ai_hint_interval_ms == 10_000
    _recovery_ran_at_once_then_waits_five_minutes(flow, report)


def test_degraded_from_the_first_answer_runs_the_recovery_at_once(flow: Workflow) -> None:
    _analysed_when_created(flow)
    # The health check's very first answer asks for recovery: news to its sibling.
    flow.clock.advance(timedelta(seconds=60))
    flow.run(flow.health, DEGRADED)
    assert flow.queue.sent[-1] == (JobRef("acme", flow.job), 0)
    report = flow.analyse()
    assert report.reasons.get(flow.recovery) == "sibling_change"
    _recovery_ran_at_once_then_waits_five_minutes(flow, report)


# --- with reflexes: the planner turns the description into a rule the engine applies --------


def recovery_reflex_rule(o: Observation) -> list[tuple[str, dict[str, Any]]]:
    """ "Run immediately when health check shows errors; wait at least 5 minutes": a reflex."""
    if "(yours)" in o.prompt:
        return []  # set already
    rule = {
        "when": {
            "endpoint": o.sibling_ids["Health Check"],
            "path": "body.needs_recovery",
            "op": "==",
            "value": True,
        },
        "do": {"action": "run_now"},
        "cooldownMs": 300_000,
        "reason": "The health check asks for recovery",
    }
    return [("manage_reflexes", {"set": [rule]})]


def test_a_reflex_set_from_the_description_runs_the_recovery_without_a_session(
    flow: Workflow,
) -> None:
    assert isinstance(flow.deps.planner_model, ScriptedModel)
    flow.deps.planner_model.rules["Trigger Recovery"] = recovery_reflex_rule
    first = flow.analyse()  # at creation: nothing has answered yet
    session = next(s for s in first.sessions if s.endpoint_id == flow.recovery)
    (reflex,) = flow.deps.reflexes.list_by_job("acme", flow.job)
    assert (reflex.created_by.type, reflex.created_by.id) == ("session", session.id)
    assert reflex.spec.expires_at == flow.clock.now() + timedelta(hours=24)

    # The very first answer asks for recovery: the reflex runs it at once, no session needed.
    flow.clock.advance(timedelta(seconds=60))
    signal = flow.run(flow.health, DEGRADED)
    assert flow.ep(flow.recovery).next_run_at == signal.finished_at
    restart = flow.run(flow.recovery, RESTARTED)
    assert restart.cause is not None and restart.cause.kind == "reflex"
    assert restart.cause.by is not None and restart.cause.by.id == reflex.id
    assert (restart.started_at - signal.finished_at) < timedelta(seconds=1)

    # The planner hears of the firing; the health check's changes are the reflex's to watch.
    report = flow.analyse()
    assert report.reasons[flow.recovery] in ("state_change", "marked")
    # Still degraded, two minutes on: the cooldown and the minimum hold it back.
    flow.clock.advance(timedelta(minutes=2))
    flow.run(flow.health, {**DEGRADED, "error_count": 40})
    assert flow.ep(flow.recovery).next_run_at == restart.started_at + timedelta(hours=1)
    assert len(flow.recovery_runs()) == 1


def test_a_session_lists_the_hints_reflexes_and_runs_it_caused(flow: Workflow, api: Api) -> None:
    assert isinstance(flow.deps.planner_model, ScriptedModel)
    flow.deps.planner_model.rules["Trigger Recovery"] = recovery_reflex_rule
    flow.analyse()
    flow.clock.advance(timedelta(seconds=60))
    signal = flow.run(flow.health, DEGRADED)
    restart = flow.run(flow.recovery, RESTARTED)  # caused by the reflex the session set
    flow.clock.advance(timedelta(seconds=1))
    report = flow.analyse()
    tighten = next(s for s in report.sessions if s.endpoint_id == flow.health)
    (reflex,) = flow.deps.reflexes.list_by_job("acme", flow.job)
    setter = reflex.created_by.id

    detail = api.get(f"/api/sessions/{setter}").body
    assert detail["trigger"] == "first_analysis"
    assert detail["caused"] == {"hints": [], "reflexes": [reflex.id], "runs": [restart.id]}
    health_detail = api.get(f"/api/sessions/{tighten.id}").body
    assert [h["tool"] for h in health_detail["caused"]["hints"]] == ["propose_interval"]
    nxt = flow.run(flow.health, DEGRADED)  # the tightened run the session caused
    again = api.get(f"/api/sessions/{tighten.id}").body["caused"]
    assert again["runs"] == [nxt.id] and signal.id not in again["runs"]


# --- a job starting up: first answers are read in one round ---------------------------------


def test_a_job_starting_up_reads_its_first_answers_in_one_round(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> None:
    # Three monitors first answering one, two and three minutes after creation, and an hourly
    # action that reads them: each first answer alone would wake every other endpoint.
    deps.planner_model = ScriptedModel({})
    job = api.post("/api/jobs", {"name": "Start-up"}).body["id"]

    def create(name: str, every_ms: int) -> str:
        body = {"name": name, "url": "https://api.example.com/x", "baselineIntervalMs": every_ms}
        return str(api.post(f"/api/jobs/{job}/endpoints", body).body["id"])

    a, b, c = create("A", 60_000), create("B", 120_000), create("C", 180_000)
    action = create("Action", 3_600_000)

    def analyse() -> dict[str, str]:
        assert deps.planner_model is not None
        return Analyzer(deps, deps.planner_model).analyse_job(JobRef("acme", job)).reasons

    def answer(endpoint_id: str) -> None:
        stub.results = [CallResult("success", 200, 20, {"status": "ok"})]
        _run(deps, clock, endpoint_id)

    assert set(analyse().values()) == {"first_analysis"}
    answer(a)
    # B and C answer within five minutes: A's first answer waits for theirs.
    assert analyse() == {a: "state_change"}
    held = _ep(deps, action).analysis_due_at
    assert held == _ep(deps, c).next_run_at + timedelta(minutes=1)
    answer(b)
    # C is the last one pending: it has nothing to wait for and reads A and B now.
    assert analyse() == {b: "state_change", c: "sibling_change"}
    answer(c)
    assert analyse() == {
        c: "state_change",
        a: "sibling_change",
        b: "sibling_change",
        action: "sibling_change",
    }


def test_a_first_answer_that_never_comes_holds_its_siblings_a_minute_at_most(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller, analysis_queue: Recorder
) -> None:
    deps.planner_model = ScriptedModel({})
    job = api.post("/api/jobs", {"name": "Stuck"}).body["id"]
    ids = [
        str(
            api.post(
                f"/api/jobs/{job}/endpoints",
                {"name": n, "url": "https://x.example/", "baselineIntervalMs": ms},
            ).body["id"]
        )
        for n, ms in (("A", 60_000), ("B", 120_000), ("Action", 3_600_000))
    ]
    analyzer = Analyzer(deps, deps.planner_model)
    analyzer.analyse_job(JobRef("acme", job))
    stub.results = [CallResult("success", 200, 20, {"status": "ok"})]
    _run(deps, clock, ids[0])
    # B, the last first answer pending, reads A's at once; the action waits for B's.
    reasons = analyzer.analyse_job(JobRef("acme", job)).reasons
    assert reasons == {ids[0]: "state_change", ids[1]: "sibling_change"}
    # B's executor is down: a minute past B's slot, the action reads A's answer without it.
    clock.set(_ep(deps, ids[1]).next_run_at + timedelta(seconds=59))
    assert analyzer.analyse_job(JobRef("acme", job)).reasons == {}
    clock.advance(timedelta(seconds=1))
    assert analyzer.analyse_job(JobRef("acme", job)).reasons == {ids[2]: "sibling_change"}


# --- an answer read in the moment between its run's record and its settle -------------------


def test_an_answer_read_before_its_run_settled_does_not_wake_the_job_again(
    flow: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run's record is written before its settle stamps the state change. A session in
    # between reads the answer with the state before it: the stamp that lands after must not
    # count as news, for the endpoint nor for its sibling, even once a later run has settled.
    flow.clock.advance(timedelta(seconds=60))
    between: list[JobReport] = []
    put = flow.deps.runs.put

    def put_then_analyse(run: Run) -> None:
        put(run)
        if not between:
            between.append(flow.analyse())

    monkeypatch.setattr(flow.deps.runs, "put", put_then_analyse)
    flow.run(flow.health, DEGRADED)
    assert between[0].reasons == {flow.health: "first_analysis", flow.recovery: "first_analysis"}
    read = {s.endpoint_id: s for s in between[0].sessions}
    assert read[flow.health].tool_calls[0].result["found"] is True
    assert flow.ep(flow.health).ai_hint_interval_ms == 10_000  # it acted on what it read
    assert flow.ep(flow.recovery).ai_hint_next_run_at is not None
    flow.clock.advance(timedelta(seconds=10))
    flow.run(flow.health, DEGRADED)  # the same answer again
    flow.clock.advance(timedelta(seconds=10))
    assert flow.analyse().reasons == {}

    # A new answer is news again, to both.
    flow.clock.advance(timedelta(minutes=2))
    flow.run(flow.health, HEALTHY)
    assert flow.analyse().reasons == {flow.health: "state_change", flow.recovery: "sibling_change"}
