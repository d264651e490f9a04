"""The executor core: claim, record, call, settle. In-process moto and a stub caller; the
queue-driven and concurrent cases run on the local stack."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.claim import CLAIM_SKEW
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.engine.caller import CallResult
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import QueuedSlot as Slot
from tests.conftest import T0, Api
from tests.integration.fakes import StubCaller
from tests.integration.slots import due_slot, slot_of


def _ep(deps: Deps, endpoint: dict[str, Any]) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint["id"])
    assert found is not None
    return found


def _due(deps: Deps, endpoint: dict[str, Any], clock: ManualClock) -> Slot:
    """Move the clock to the endpoint's slot and return it."""
    return due_slot(deps, clock, endpoint["id"])


def test_a_slot_runs_once_and_plans_the_next(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    slot = _due(deps, endpoint, clock)
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.status == "success"
    assert run.source == "baseline-interval" and run.attempt == 1 and run.slot_at == slot.at
    assert run.response_body == {"ok": 1} and run.duration_ms == 200
    ep = _ep(deps, endpoint)
    assert ep.last_run_at == slot.at
    assert ep.next_run_at == slot.at + timedelta(minutes=1)
    assert ep.locked_until is None and ep.lock_token is None and ep.failure_count == 0
    assert Executor(deps).run_slot(slot) is None  # the duplicate message loses the claim
    assert deps.runs.page("acme", ep.id, clock.now(), None, 20, 0)[1] == 1


def test_stale_and_early_duplicates_are_dropped(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    slot = _due(deps, endpoint, clock)
    stale = Slot("acme", slot.endpoint_id, slot.at - timedelta(minutes=1), slot.lock_ms)
    assert Executor(deps).run_slot(stale) is None
    assert stub.calls == []


class SentBack:
    """A runs queue that keeps what the executor sends back."""

    def __init__(self) -> None:
        self.sent: list[tuple[Slot, Any]] = []

    def send(self, slots: list[Slot], now: Any) -> None:
        self.sent.extend((s, now) for s in slots)


def test_a_slot_whose_time_has_not_come_is_refused_and_sent_back(
    deps: Deps,
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = SentBack()
    monkeypatch.setattr(deps, "queue", queue)
    ep = _ep(deps, endpoint)
    slot = slot_of(ep)

    clock.set(slot.at - CLAIM_SKEW - timedelta(milliseconds=1))
    assert Executor(deps).run_slot(slot) is None
    assert stub.calls == [] and queue.sent == [(slot, clock.now())]
    untouched = _ep(deps, endpoint)
    assert untouched.lock_token is None and untouched.version == ep.version
    assert deps.runs.page("acme", ep.id, clock.now(), None, 20, 0)[1] == 0

    clock.set(slot.at - CLAIM_SKEW)  # inside the skew: the clocks may differ this much
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.status == "success" and len(stub.calls) == 1


def test_the_store_refuses_an_early_claim_whoever_asks(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    ep = _ep(deps, endpoint)
    early = ep.next_run_at - timedelta(seconds=30)
    lock_until = early + timedelta(seconds=40)
    assert deps.endpoints.claim("acme", ep.id, ep.next_run_at, early, lock_until, "t") is None
    assert _ep(deps, endpoint).lock_token is None


@pytest.mark.parametrize("how", ["pause", "archive", "job-pause", "delete"])
def test_in_flight_message_is_dropped_when_endpoint_stops(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    how: str,
) -> None:
    slot = _due(deps, endpoint, clock)
    path = f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}"
    if how == "pause":
        api.post(f"/api/endpoints/{endpoint['id']}/pause", {"pausedUntil": "2030-01-01T00:00:00Z"})
    elif how == "archive":
        api.post(path + "/archive")
    elif how == "job-pause":
        api.post(f"/api/jobs/{job['id']}/pause")
    else:
        api.delete(path)
    assert Executor(deps).run_slot(slot) is None
    assert stub.calls == []


def test_failures_back_off_and_success_resets(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    executor = Executor(deps)
    gaps = []
    for _ in range(3):
        stub.results = [
            CallResult("failed", 50, 500, None, error_message="HTTP 500", error_kind="http_status")
        ]
        slot = _due(deps, endpoint, clock)
        run = executor.run_slot(slot)
        assert run is not None and run.status == "failed" and run.error_kind == "http_status"
        gaps.append(_ep(deps, endpoint).next_run_at - slot.at)
    assert gaps == [timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert _ep(deps, endpoint).failure_count == 3
    slot = _due(deps, endpoint, clock)
    run = executor.run_slot(slot)
    assert run is not None and run.attempt == 4
    ep = _ep(deps, endpoint)
    assert ep.failure_count == 0 and ep.next_run_at - slot.at == timedelta(minutes=1)


def test_a_hint_written_during_the_call_is_honoured(
    deps: Deps, api: Api, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    slot = _due(deps, endpoint, clock)
    stub.during = lambda: api.post(
        f"/api/endpoints/{endpoint['id']}/hints/interval", {"intervalMs": 10000}
    )
    Executor(deps).run_slot(slot)
    assert _ep(deps, endpoint).next_run_at == slot.at + timedelta(seconds=10)


def test_a_schedule_change_during_the_call_plans_the_next_slot_from_it(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    # The settle starts from the endpoint as claimed; the change bumped its version, so the
    # settle's write fails over to a fresh read.
    slot = _due(deps, endpoint, clock)
    path = f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}"
    stub.during = lambda: api.patch(path, {"baselineIntervalMs": 30_000})
    assert Executor(deps).run_slot(slot) is not None
    ep = _ep(deps, endpoint)
    assert ep.baseline_interval_ms == 30_000 and ep.lock_token is None
    assert ep.next_run_at == slot.at + timedelta(seconds=30)


def test_a_settle_reads_nothing_when_nothing_wrote_the_endpoint_during_the_call(
    deps: Deps,
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slot = _due(deps, endpoint, clock)
    reads: list[str] = []
    read = deps.endpoints.get

    def counted(tenant_id: str, endpoint_id: str) -> Endpoint | None:
        reads.append(endpoint_id)
        return read(tenant_id, endpoint_id)

    monkeypatch.setattr(deps.endpoints, "get", counted)
    assert Executor(deps).run_slot(slot) is not None
    assert reads == []
    monkeypatch.undo()
    ep = _ep(deps, endpoint)
    assert ep.next_run_at == slot.at + timedelta(minutes=1) and ep.lock_token is None


def test_a_call_that_outlives_its_claim_leaves_the_schedule_to_the_next_claim(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    slot = _due(deps, endpoint, clock)
    taken: list[str] = []

    def lock_expires_and_another_executor_claims() -> None:
        stub.during = None
        clock.advance(timedelta(milliseconds=slot.lock_ms + 1000))
        held = Executor(deps).claim(slot)
        assert held is not None
        taken.append(held.token)

    stub.during = lock_expires_and_another_executor_claims
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.status == "success"  # the run is recorded
    ep = _ep(deps, endpoint)
    # Not settled by the first execution: the slot and the lock are the second claim's.
    assert ep.lock_token == taken[0] and ep.next_run_at == slot.at and ep.last_run_at != slot.at


def test_a_one_shot_runs_once(
    deps: Deps, api: Api, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    api.post(f"/api/endpoints/{endpoint['id']}/hints/oneshot", {"nextRunInMs": 5000})
    slot = _due(deps, endpoint, clock)
    assert slot.at == T0 + timedelta(seconds=5)
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.source == "ai-oneshot"
    ep = _ep(deps, endpoint)
    # Consumed whole: no expiry or reason left behind describing a hint that is gone.
    assert ep.ai_hint_next_run_at is None and ep.ai_hint_expires_at is None
    assert ep.ai_hint_reason is None
    assert ep.next_run_at == slot.at + timedelta(minutes=1)  # not again a second later


def test_a_one_shot_claimed_within_the_skew_is_consumed(
    deps: Deps, api: Api, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    api.post(f"/api/endpoints/{endpoint['id']}/hints/oneshot", {"nextRunInMs": 5000})
    ep = _ep(deps, endpoint)
    slot = slot_of(ep)
    clock.set(slot.at - CLAIM_SKEW)  # this executor's clock runs ahead of the sender's
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.source == "ai-oneshot"
    after = _ep(deps, endpoint)
    assert after.ai_hint_next_run_at is None  # not run a second time just after
    assert after.next_run_at == slot.at + timedelta(minutes=1)


def test_a_one_shot_beside_an_interval_hint_leaves_the_interval(
    deps: Deps, api: Api, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    path = f"/api/endpoints/{endpoint['id']}/hints"
    api.post(f"{path}/interval", {"intervalMs": 30_000, "ttlMinutes": 60})
    api.post(f"{path}/oneshot", {"nextRunInMs": 5000})
    slot = _due(deps, endpoint, clock)
    assert Executor(deps).run_slot(slot) is not None
    ep = _ep(deps, endpoint)
    assert ep.ai_hint_next_run_at is None and ep.ai_hint_interval_ms == 30_000
    assert ep.ai_hint_expires_at is not None


def test_a_slow_run_is_followed_by_the_rest_of_its_interval(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    stub.duration = timedelta(seconds=75)
    slot = _due(deps, endpoint, clock)
    Executor(deps).run_slot(slot)
    assert _ep(deps, endpoint).next_run_at == slot.at + timedelta(seconds=75 + 60)


def test_an_executor_that_lost_its_lock_leaves_the_schedule_alone(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    slot = _due(deps, endpoint, clock)

    def steal() -> None:  # the claim expired and another execution took the endpoint
        ep = _ep(deps, endpoint)
        deps.endpoints.save(replace(ep, lock_token="someone-else"))

    stub.during = steal
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.status == "success"
    ep = _ep(deps, endpoint)
    assert ep.lock_token == "someone-else" and ep.last_run_at is None


def test_a_long_response_body_is_stored_compressed_and_read_back_whole(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    from chalicelib.store.models import RunItem
    from chalicelib.store.packed import encoded
    from chalicelib.store.runs import BODY_PACK_FROM_BYTES

    long = {"items": [{"sku": f"SKU-{n:05d}", "qty": n * 7 % 13, "é": "ü"} for n in range(30)]}
    short = {"status": "ok", "queue": 3}
    assert len(encoded(long)) >= BODY_PACK_FROM_BYTES > len(encoded(short))
    stub.results = [CallResult("success", 200, 200, long), CallResult("success", 200, 200, short)]
    first = Executor(deps).run_slot(_due(deps, endpoint, clock))
    second = Executor(deps).run_slot(_due(deps, endpoint, clock))
    assert first is not None and second is not None

    stored = RunItem.get(first.endpoint_id, first.id)
    assert stored.response_body is None and stored.response_body_z is not None
    assert len(stored.response_body_z) * 2 < len(encoded(long))
    kept = RunItem.get(second.endpoint_id, second.id)
    assert kept.response_body == short and kept.response_body_z is None

    newest_first, _ = deps.runs.page("acme", first.endpoint_id, clock.now(), None, 20, 0)
    assert [r.response_body for r in newest_first] == [short, long]
    got = deps.runs.get("acme", first.id, clock.now())
    assert got is not None and got.response_body == long and got.id == first.id


def test_a_run_in_flight_is_listed_from_its_claim_and_written_once_when_it_finishes(
    api: Api, deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    from chalicelib.store.models import RunItem

    first = Executor(deps).run_slot(_due(deps, endpoint, clock))  # one finished run before
    assert first is not None
    base = f"/api/endpoints/{endpoint['id']}/runs"
    seen: dict[str, Any] = {}

    def look_while_in_flight() -> None:
        seen["stored"] = [i.run_id for i in RunItem.query(endpoint["id"])]
        seen["all"] = api.get(base).body
        seen["page2"] = api.get(base + "?limit=1&offset=1").body
        seen["running"] = api.get(base + "?status=running").body
        seen["success"] = api.get(base + "?status=success").body
        seen["health"] = api.get(f"/api/endpoints/{endpoint['id']}/health").body
        seen["token"] = _ep(deps, endpoint).lock_token

    stub.during = look_while_in_flight
    slot = _due(deps, endpoint, clock)
    run = Executor(deps).run_slot(slot)
    assert run is not None and run.status == "success"

    assert seen["stored"] == [first.id], "nothing is written before the run finishes"
    assert seen["token"] == run.id, "the claim's token is the run's id"
    listed = seen["all"]["runs"]
    assert seen["all"]["total"] == 2 and [r["id"] for r in listed] == [run.id, first.id]
    assert listed[0]["status"] == "running" and listed[0]["attempt"] == 1
    assert listed[0]["source"] == "baseline-interval" and listed[0]["startedAt"] is not None
    assert seen["page2"]["total"] == 2 and [r["id"] for r in seen["page2"]["runs"]] == [first.id]
    assert [r["id"] for r in seen["running"]["runs"]] == [run.id]
    assert seen["running"]["total"] == 1
    assert [r["id"] for r in seen["success"]["runs"]] == [first.id]
    assert seen["health"]["lastRun"]["status"] == "running"
    # Finished: written once, in the same place, and the claim no longer stands for it.
    after = api.get(base).body
    assert after["total"] == 2 and [r["status"] for r in after["runs"]] == ["success", "success"]
    assert after["runs"][0]["id"] == run.id
    assert api.get(f"/api/runs/{run.id}").status == 200


def test_a_run_written_but_not_yet_settled_is_listed_once(
    api: Api,
    deps: Deps,
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    put = deps.runs.put

    def put_then_look(run: Run) -> None:
        put(run)
        # The claim still stands (the settle comes next) and the run is stored: one run.
        assert _ep(deps, endpoint).lock_token == run.id
        seen.append(api.get(f"/api/endpoints/{endpoint['id']}/runs").body)

    monkeypatch.setattr(deps.runs, "put", put_then_look)
    run = Executor(deps).run_slot(_due(deps, endpoint, clock))
    assert run is not None and len(seen) == 1
    assert seen[0]["total"] == 1
    assert [(r["id"], r["status"]) for r in seen[0]["runs"]] == [(run.id, "success")]
