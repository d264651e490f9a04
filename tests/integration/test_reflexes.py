"""Reflexes end to end in process: the REST routes (and their rejections, which change
nothing), and the engine applying them right after a run, on the manual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.engine.caller import CallResult
from tests.conftest import Api, new_tenant, snapshot
from tests.integration.fakes import StubCaller
from tests.integration.test_planner_flow import _ep, _run

RECOVER = {
    "when": {"endpoint": "HEALTH", "path": "body.needs_recovery", "op": "==", "value": True},
    "do": {"action": "run_now"},
    "reason": "The health check asks for recovery",
    "cooldownMs": 300_000,
}


def _job(api: Api) -> tuple[str, str, str]:
    job = api.post("/api/jobs", {"name": "Service Recovery Workflow"}).body["id"]
    health = api.post(
        f"/api/jobs/{job}/endpoints",
        {
            "name": "Health Check",
            "url": "https://api.example.com/health",
            "baselineIntervalMs": 60_000,
        },
    ).body["id"]
    recovery = api.post(
        f"/api/jobs/{job}/endpoints",
        {
            "name": "Trigger Recovery",
            "url": "https://api.example.com/admin/restart",
            "method": "POST",
            "baselineIntervalMs": 3_600_000,
            "minIntervalMs": 300_000,
        },
    ).body["id"]
    return job, health, recovery


def _rule(health: str, **changes: Any) -> dict[str, Any]:
    rule = {**RECOVER, **changes}
    when = rule["when"]
    if isinstance(when, dict) and when.get("endpoint") == "HEALTH":
        rule["when"] = {**when, "endpoint": health}
    return rule


def _answer(stub: StubCaller, body: Any, status: str = "success") -> None:
    stub.results = [CallResult(status, 200 if status == "success" else 503, 40, body)]  # type: ignore[arg-type]


# --- REST ------------------------------------------------------------------------------------


def test_create_list_get_replace_delete(api: Api) -> None:
    _, health, recovery = _job(api)
    made = api.post(f"/api/endpoints/{recovery}/reflexes", _rule(health))
    assert made.status == 201, made.body
    reflex = made.body
    assert reflex["id"].startswith("rfx_") and reflex["endpointId"] == recovery
    assert reflex["when"] == {
        "endpoint": health,
        "path": "body.needs_recovery",
        "op": "==",
        "value": True,
    }
    assert reflex["do"] == {"action": "run_now"} and reflex["cooldownMs"] == 300_000
    assert reflex["createdBy"]["type"] == "apiKey" and reflex["active"] is True
    assert reflex["fireCount"] == 0 and "expiresAt" not in reflex  # a person's: no expiry

    listed = api.get(f"/api/endpoints/{recovery}/reflexes").body["reflexes"]
    assert [r["id"] for r in listed] == [reflex["id"]]
    assert api.get(f"/api/endpoints/{health}/reflexes").body["reflexes"] == []
    item = f"/api/endpoints/{recovery}/reflexes/{reflex['id']}"
    assert api.get(item).body == reflex

    replaced = api.call("PUT", item, _rule(health, cooldownMs=60_000, reason="faster"))
    assert replaced.status == 200 and replaced.body["cooldownMs"] == 60_000
    assert replaced.body["reason"] == "faster" and replaced.body["id"] == reflex["id"]

    assert api.delete(item).status == 204
    assert api.get(item).status == 404
    assert api.delete(item).status == 404


def _clause(**fields: Any) -> dict[str, Any]:
    return {"endpoint": "self", "path": "status", "op": "==", "value": "failed", **fields}


SELF_RULE = {**RECOVER, "when": _clause()}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SELF_RULE, "when": _clause(op="~=")}, "when.op"),
        ({**SELF_RULE, "when": _clause(path="headers.x", op="exists")}, "when.path"),
        ({**SELF_RULE, "when": _clause(path="durationMs", op=">", value="high")}, "when.value"),
        ({**SELF_RULE, "when": {"all": [_clause(), {"bogus": 1}]}}, "when.all.1"),
        ({**SELF_RULE, "do": {"action": "reboot"}}, "do.action"),
        ({**SELF_RULE, "do": {"action": "set_interval", "intervalMs": 10}}, "do.intervalMs"),
        ({**SELF_RULE, "reason": ""}, "reason"),
        ({**SELF_RULE, "cooldownMs": -1}, "cooldownMs"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_change_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    _, _, recovery = _job(api)
    before = snapshot()
    refused = api.post(f"/api/endpoints/{recovery}/reflexes", body)
    assert refused.status == 400, refused.body
    fields = [d["field"] for d in refused.body["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields
    assert snapshot() == before


def test_an_expiry_already_past_is_stored_inactive(api: Api) -> None:
    _, _, recovery = _job(api)
    made = api.post(
        f"/api/endpoints/{recovery}/reflexes", {**SELF_RULE, "expiresAt": "2000-01-01T00:00:00Z"}
    )
    assert made.status == 201 and made.body["active"] is False
    assert made.body["expiresAt"] == "2000-01-01T00:00:00.000Z"


def test_deep_and_huge_conditions_are_refused(api: Api) -> None:
    _, _, recovery = _job(api)
    deep: dict[str, Any] = {"endpoint": "self", "path": "status", "op": "==", "value": "x"}
    for _ in range(50):
        deep = {"all": [deep]}
    wide = {"any": [RECOVER["when"]] * 200}
    for when in (deep, wide):
        refused = api.post(f"/api/endpoints/{recovery}/reflexes", {**RECOVER, "when": when})
        assert refused.status == 400 and refused.body["error"]["details"][0]["field"] == "when"


def test_other_jobs_and_tenants_endpoints_are_not_found(deps: Deps, api: Api) -> None:
    _, health, recovery = _job(api)
    _, elsewhere, _ = _job(api)  # the same tenant, another job
    before = snapshot()
    refused = api.post(f"/api/endpoints/{recovery}/reflexes", _rule(elsewhere))
    assert refused.status == 404 and refused.body["error"]["details"][0]["field"] == "when"
    missing = api.post(f"/api/endpoints/{recovery}/reflexes", _rule("no-such-endpoint"))
    assert missing.status == 404
    assert snapshot() == before

    made = api.post(f"/api/endpoints/{recovery}/reflexes", _rule(health)).body
    other = Api(api._client, new_tenant(deps, "globex"))
    for reply in (
        other.get(f"/api/endpoints/{recovery}/reflexes"),
        other.post(f"/api/endpoints/{recovery}/reflexes", _rule(health)),
        other.get(f"/api/endpoints/{recovery}/reflexes/{made['id']}"),
        other.delete(f"/api/endpoints/{recovery}/reflexes/{made['id']}"),
    ):
        assert reply.status == 404
    # A reflex id under another endpoint of the same tenant is not found either.
    assert api.get(f"/api/endpoints/{health}/reflexes/{made['id']}").status == 404


def test_an_archived_endpoint_takes_no_new_reflexes(api: Api) -> None:
    job, health, recovery = _job(api)
    assert api.post(f"/api/jobs/{job}/endpoints/{recovery}/archive").status == 200
    refused = api.post(f"/api/endpoints/{recovery}/reflexes", _rule(health))
    assert refused.status == 409


def test_deleting_an_endpoint_deletes_its_reflexes(deps: Deps, api: Api) -> None:
    job, health, recovery = _job(api)
    api.post(f"/api/endpoints/{recovery}/reflexes", _rule(health))
    assert api.delete(f"/api/jobs/{job}/endpoints/{recovery}").status == 204
    assert deps.reflexes.list_by_job("acme", job) == []


# --- the engine ------------------------------------------------------------------------------


def test_a_sibling_answer_fires_run_now_within_the_same_second(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller
) -> None:
    _, health, recovery = _job(api)
    reflex = api.post(f"/api/endpoints/{recovery}/reflexes", _rule(health)).body

    _answer(stub, {"status": "healthy", "needs_recovery": False})
    _run(deps, clock, health)
    assert _ep(deps, recovery).ai_hint_next_run_at is None  # does not hold: nothing happens

    clock.advance(timedelta(seconds=30))
    _answer(stub, {"status": "degraded", "needs_recovery": True})
    signal = _run(deps, clock, health)
    woken = _ep(deps, recovery)
    assert woken.next_run_at == signal.finished_at  # at once: it never ran
    assert woken.ai_hint_set_by is not None and woken.ai_hint_set_by.id == reflex["id"]
    assert woken.next_run_cause is not None and woken.next_run_cause.kind == "reflex"
    assert woken.analysis_due_at is not None  # the planner hears of it at its next look

    _answer(stub, {"action": "restart"})
    restart = _run(deps, clock, recovery)
    assert restart.cause is not None and restart.cause.kind == "reflex"
    assert restart.cause.by is not None and restart.cause.by.id == reflex["id"]
    assert restart.cause.reason == RECOVER["reason"]
    fired = api.get(f"/api/endpoints/{recovery}/reflexes/{reflex['id']}").body
    assert fired["fireCount"] == 1 and fired["lastFiredRunId"] == signal.id

    # Still failing: the cooldown (and the 5 min minimum) hold the recovery back.
    for _ in range(4):
        clock.advance(timedelta(seconds=60))
        _answer(stub, {"status": "degraded", "needs_recovery": True})
        _run(deps, clock, health)
    assert _ep(deps, recovery).next_run_at == restart.started_at + timedelta(hours=1)
    assert api.get(f"/api/endpoints/{recovery}/reflexes/{reflex['id']}").body["fireCount"] == 1

    # Past the cooldown, still failing: it fires again, at the minimum since the last run.
    clock.advance(timedelta(seconds=61))
    _answer(stub, {"status": "degraded", "needs_recovery": True})
    _run(deps, clock, health)
    again = _ep(deps, recovery)
    assert again.next_run_at == max(clock.now(), restart.started_at + timedelta(minutes=5))
    assert api.get(f"/api/endpoints/{recovery}/reflexes/{reflex['id']}").body["fireCount"] == 2


def _watching(api: Api, owner: str, rule: dict[str, Any]) -> dict[str, Any]:
    made = api.post(f"/api/endpoints/{owner}/reflexes", rule)
    assert made.status == 201, made.body
    body: dict[str, Any] = made.body
    return body


def test_changed_fires_once_per_new_batch(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller
) -> None:
    # The ETL hand-off: the load stage runs when the stage before it reports a new batch.
    _, extract, load = _job(api)
    _watching(
        api,
        load,
        {
            "when": {
                "all": [
                    {"endpoint": extract, "path": "body.ready", "op": "==", "value": True},
                    {"endpoint": extract, "path": "body.batch_id", "op": "changed"},
                ]
            },
            "do": {"action": "run_now"},
            "reason": "A new batch is ready",
            "cooldownMs": 0,
        },
    )
    bodies = [
        {"batch_id": "b1", "ready": True},  # first seen: not a change
        {"batch_id": "b1", "ready": True},
        {"batch_id": "b2", "ready": True},  # new batch: fires
        {"batch_id": "b2", "ready": True},
        {"batch_id": "b3", "ready": False},  # new but not ready: no
    ]
    fired: list[bool] = []
    for body in bodies:
        clock.advance(timedelta(seconds=61))
        _answer(stub, body)
        _run(deps, clock, extract)
        ep = _ep(deps, load)
        fired.append(ep.ai_hint_next_run_at is not None)
        if fired[-1]:
            _run(deps, clock, load)  # consumes the one-shot
    assert fired == [False, False, True, False, False]


def test_self_conditions_on_status_and_failures_pause_the_endpoint(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller
) -> None:
    _, health, _ = _job(api)
    _watching(
        api,
        health,
        {
            "when": {"endpoint": "self", "path": "failureCount", "op": ">=", "value": 3},
            "do": {"action": "pause", "forMinutes": 30},
            "reason": "Stop hammering a service that is down",
        },
    )
    for _ in range(3):
        _answer(stub, None, "failed")
        _run(deps, clock, health)
    paused = _ep(deps, health)
    assert paused.paused_until == clock.now() + timedelta(minutes=30)
    assert paused.next_run_cause is not None and paused.next_run_cause.kind == "pause-ended"


def test_hostile_bodies_never_fail_a_run(
    deps: Deps, api: Api, clock: ManualClock, stub: StubCaller
) -> None:
    _, health, recovery = _job(api)
    reflex = _watching(
        api,
        recovery,
        _rule(health, when={"endpoint": health, "path": "body.a.0.b", "op": ">", "value": 5}),
    )
    deep: Any = 1
    for _ in range(30):  # the caller keeps deeper bodies as text (MAX_BODY_DEPTH)
        deep = {"a": [deep]}
    too_deep = "[" * 5_000 + "]" * 5_000  # as the caller stores it
    hostile = (deep, too_deep, {"a": list(range(200_000))}, "text", [1, 2], {"a": [{"b": "6"}]})
    for body in hostile:
        clock.advance(timedelta(seconds=61))
        _answer(stub, body)
        run = _run(deps, clock, health)
        assert run.status == "success"
    assert api.get(f"/api/endpoints/{recovery}/reflexes/{reflex['id']}").body["fireCount"] == 0
    clock.advance(timedelta(seconds=61))
    _answer(stub, {"a": [{"b": 6}]})
    _run(deps, clock, health)
    assert api.get(f"/api/endpoints/{recovery}/reflexes/{reflex['id']}").body["fireCount"] == 1


def test_a_failing_reflex_read_does_not_fail_the_run(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    stub: StubCaller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, health, recovery = _job(api)
    _watching(api, recovery, _rule(health))

    def broken(*_: Any) -> list[Any]:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(deps.reflexes, "list_by_job", broken)
    _answer(stub, {"needs_recovery": True})
    run: Run = _run(deps, clock, health)
    assert run.status == "success"
    settled: Endpoint = _ep(deps, health)
    assert settled.last_run_at == run.started_at and settled.lock_token is None


def test_a_misspelt_top_level_field_is_refused_not_defaulted(api: Api) -> None:
    _, _, recovery = _job(api)
    before = snapshot()
    refused = api.post(f"/api/endpoints/{recovery}/reflexes", {**SELF_RULE, "cooldown": 300_000})
    assert refused.status == 400
    assert refused.body["error"]["details"][0]["field"] == "cooldown"
    assert snapshot() == before
