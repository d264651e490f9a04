"""The dispatcher tick, the chokepoint's own sends and the zombie sweep.

In-process moto, a manual clock, a recording runs queue and a stub caller: nothing sleeps and
nothing leaves the process. Endpoints are created through the API where the route matters
(pause, archive, job status, hints) and seeded straight into the table where only the due index
matters (many endpoints, chosen ids and shards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import deps as deps_module
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.governor import plan_next_run
from chalicelib.engine.dispatch import DispatchReport, dispatch
from chalicelib.engine.execute import Executor
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.queue import QueuedSlot, delay_seconds
from chalicelib.engine.scheduling import due_shard
from chalicelib.engine.shards import CHECK_EVERY
from chalicelib.engine.zombies import ZOMBIE_MESSAGE
from chalicelib.services import observe
from tests.conftest import ENDPOINT, T0, Api
from tests.integration.fakes import StubCaller
from tests.integration.test_alerts import Notices

LOOKAHEAD = timedelta(seconds=75)  # settings.dispatch_lookahead_s with the default 60 s period


@dataclass(frozen=True)
class Sent:
    slot: QueuedSlot
    delay: int  # the DelaySeconds the SQS queue would use
    at: datetime  # when it was sent


class RecordingQueue:
    """A SlotQueue that remembers every send instead of talking to SQS."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None:
        self.sent.extend(Sent(s, delay_seconds(s.at, now), now) for s in slots)

    def take(self) -> list[Sent]:
        """What was sent since the last take."""
        taken, self.sent = self.sent, []
        return taken

    def only(self) -> Sent:
        """The single send since the last take."""
        taken = self.take()
        assert len(taken) == 1, taken
        return taken[0]


def with_queue(deps: Deps, queue: RecordingQueue, **settings: Any) -> Deps:
    """Dependencies like the process-wide ones (a runs queue), on the test's tables and clock,
    installed for the handlers and routes. `settings` replaces fields (e.g. due_shards)."""
    d = Deps(settings=replace(deps.settings, **settings), clock=deps.clock, queue=queue)
    d.caller = deps.caller  # the no-DNS caller of the fixture (tests replace it with a stub)
    deps_module.use(d)
    return d


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def qdeps(deps: Deps, queue: RecordingQueue) -> Deps:
    """The test's dependencies with a recording runs queue (the `deps` fixture cleans up)."""
    return with_queue(deps, queue)


@pytest.fixture
def stub(qdeps: Deps, clock: ManualClock) -> StubCaller:
    caller = StubCaller(clock)
    setattr(qdeps, "caller", caller)  # noqa: B010 (duck-typed stand-in for Caller)
    return caller


def seed(deps: Deps, endpoint_id: str, next_run_at: datetime, **fields: Any) -> Endpoint:
    """An endpoint written straight to the table (in the due index unless due_shard=None)."""
    now = deps.clock.now()
    values: dict[str, Any] = {
        "baseline_interval_ms": 10_000,
        "timeout_ms": 10_000,
        "due_shard": due_shard(endpoint_id, deps.settings.due_shards),
        **fields,
    }
    endpoint = Endpoint(
        tenant_id="acme",
        id=endpoint_id,
        job_id="job_seeded",
        name=endpoint_id,
        url=f"https://api.example.com/{endpoint_id}",
        next_run_at=next_run_at,
        created_at=now,
        updated_at=now,
        **values,
    )
    return deps.endpoints.save(endpoint)


def ep(deps: Deps, endpoint_id: str) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def slot_of(endpoint: Endpoint) -> QueuedSlot:
    """The message the engine sends for the endpoint's next slot."""
    lock_ms = int(lock_duration(endpoint) / timedelta(milliseconds=1))
    return QueuedSlot(endpoint.tenant_id, endpoint.id, endpoint.next_run_at, lock_ms)


def tick(deps: Deps, queue: RecordingQueue) -> DispatchReport:
    return dispatch(deps, queue, deps.clock.now())


def runs_of(deps: Deps, endpoint_id: str) -> list[Run]:
    """The endpoint's runs as its listing shows them: with the one in flight, which only the
    endpoint's claim stands for until it finishes."""
    endpoint = deps.endpoints.get("acme", endpoint_id)
    running = observe.in_flight(deps, endpoint) if endpoint is not None else None
    return deps.runs.page("acme", endpoint_id, deps.clock.now(), None, 100, 0, running)[0]


def create(api: Api, job: dict[str, Any], interval_ms: int, **extra: Any) -> str:
    reply = api.post(
        f"/api/jobs/{job['id']}/endpoints", {**ENDPOINT, "baselineIntervalMs": interval_ms, **extra}
    )
    assert reply.status == 201, reply.body
    endpoint_id: str = reply.body["id"]
    return endpoint_id


# ---- the dispatcher reads only what is due --------------------------------------------------


def _ids_covering_shards(prefix: str, shards: int) -> list[str]:
    """One endpoint id per shard (the shard is a stable hash of the id, so this is fixed)."""
    chosen: dict[str, str] = {}
    n = 0
    while len(chosen) < shards:
        candidate = f"{prefix}{n}"
        chosen.setdefault(due_shard(candidate, shards), candidate)
        n += 1
    return [chosen[str(s)] for s in range(shards)]


def test_dispatch_reads_only_due_items_across_every_shard(
    deps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    d = with_queue(deps, queue, due_shards=7)  # shards 4-6 do not exist with the default 4
    until = T0 + timedelta(seconds=d.settings.dispatch_lookahead_s)
    due_ids = _ids_covering_shards("due", 7)
    times = [T0 - timedelta(hours=2), T0, T0 + timedelta(seconds=1), until]
    for n, endpoint_id in enumerate(due_ids):
        seed(d, endpoint_id, times[n % len(times)])
    for n in range(40):  # far in the future, in every shard
        seed(d, f"far{n}", T0 + timedelta(hours=1 + n))
    seed(d, "just-outside", until + timedelta(milliseconds=1))
    assert {ep(d, i).due_shard for i in due_ids} == {str(s) for s in range(7)}

    report = tick(d, queue)

    assert report.items_read == len(due_ids) == 7
    assert report.sent == 7 and report.resent == 0 and report.running == 0
    assert sorted(s.slot.endpoint_id for s in queue.take()) == sorted(due_ids)


# ---- sending, in flight, resending ----------------------------------------------------------


def test_each_due_slot_is_sent_once_with_its_delay_and_marked_in_flight(
    qdeps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    seed(qdeps, "late", T0 - timedelta(seconds=5))
    seed(qdeps, "soon", T0 + timedelta(seconds=10, milliseconds=500))
    seed(qdeps, "edge", T0 + LOOKAHEAD, timeout_ms=90_000)

    report = tick(qdeps, queue)

    assert (report.items_read, report.sent, report.resent, report.in_flight) == (3, 3, 0, 0)
    sent = {s.slot.endpoint_id: s for s in queue.take()}
    assert {k: s.delay for k, s in sent.items()} == {"late": 0, "soon": 11, "edge": 75}
    for endpoint_id, message in sent.items():
        endpoint = ep(qdeps, endpoint_id)
        assert message.slot == slot_of(endpoint)  # its slot and its lock (timeout + margin)
        assert endpoint.enqueued_slot == endpoint.next_run_at and endpoint.enqueued_at == T0
    assert sent["edge"].slot.lock_ms == 120_000

    clock.advance(timedelta(seconds=1))
    again = tick(qdeps, queue)
    assert (again.items_read, again.sent, again.in_flight) == (3, 0, 3)
    assert queue.take() == []


def test_a_slot_unclaimed_30s_past_due_is_sent_again(
    qdeps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    seed(qdeps, "lost", T0 + timedelta(seconds=10))
    assert tick(qdeps, queue).sent == 1
    first = queue.only()

    clock.set(T0 + timedelta(seconds=39, milliseconds=999))  # 29.999 s past due: still in flight
    report = tick(qdeps, queue)
    assert (report.sent, report.resent, report.in_flight) == (0, 0, 1)

    clock.set(T0 + timedelta(seconds=40))  # 30 s past due and nobody claimed it: lost
    report = tick(qdeps, queue)
    assert (report.sent, report.resent, report.in_flight) == (1, 1, 0)
    resent = queue.only()
    assert resent.slot == first.slot and resent.delay == 0
    assert ep(qdeps, "lost").enqueued_at == clock.now()

    clock.advance(timedelta(seconds=5))  # just re-sent: in flight again, not sent on every tick
    report = tick(qdeps, queue)
    assert (report.sent, report.resent, report.in_flight) == (0, 0, 1)


def test_after_the_queue_was_emptied_every_slot_in_flight_is_sent_again_at_once(
    qdeps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    """The local stack's restart: its queues start empty, whatever the marks say."""
    seed(qdeps, "due", T0 - timedelta(seconds=5))
    seed(qdeps, "soon", T0 + timedelta(seconds=20))
    seed(qdeps, "locked", T0 - timedelta(seconds=5))
    assert tick(qdeps, queue).sent == 3
    sent_before = {s.slot.endpoint_id: s.slot for s in queue.take()}
    locked = ep(qdeps, "locked")
    lock_until = T0 + timedelta(seconds=40)  # a run holds it: its settle sends the next slot
    assert qdeps.endpoints.claim("acme", "locked", locked.next_run_at, T0, lock_until, "tok")

    clock.advance(timedelta(seconds=2))
    assert tick(qdeps, queue).in_flight == 2  # an ordinary tick trusts the marks
    report = dispatch(qdeps, queue, clock.now(), queue_emptied=True)

    assert (report.sent, report.resent, report.running, report.in_flight) == (2, 2, 1, 0)
    again = {s.slot.endpoint_id: s for s in queue.take()}
    assert {k: s.slot for k, s in again.items()} == {k: sent_before[k] for k in ("due", "soon")}
    assert {k: s.delay for k, s in again.items()} == {"due": 0, "soon": 18}
    assert ep(qdeps, "due").enqueued_at == clock.now()
    assert tick(qdeps, queue).in_flight == 2  # marked anew: the next tick does not repeat them


def test_a_locked_endpoint_is_skipped(
    qdeps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    endpoint = seed(qdeps, "busy", T0)
    lock_until = T0 + timedelta(seconds=40)
    assert qdeps.endpoints.claim("acme", "busy", T0, T0, lock_until, "tok") is not None
    seed(qdeps, "free", T0)

    report = tick(qdeps, queue)

    assert (report.items_read, report.running, report.sent) == (2, 1, 1)
    assert [s.slot.endpoint_id for s in queue.take()] == ["free"]
    assert ep(qdeps, "busy").enqueued_slot is None  # not marked either
    assert endpoint.next_run_at == ep(qdeps, "busy").next_run_at


def test_paused_archived_and_stopped_jobs_are_never_read(
    qdeps: Deps, queue: RecordingQueue, api: Api, clock: ManualClock
) -> None:
    active = api.post("/api/jobs", {"name": "active"}).body
    paused_job = api.post("/api/jobs", {"name": "paused"}).body
    archived_job = api.post("/api/jobs", {"name": "archived"}).body
    live = create(api, active, 10_000)
    paused = create(api, active, 10_000)
    archived = create(api, active, 10_000)
    in_paused_job = create(api, paused_job, 10_000)
    in_archived_job = create(api, archived_job, 10_000)
    reply = api.post(f"/api/endpoints/{paused}/pause", {"pausedUntil": "2030-01-01T00:00:00Z"})
    assert reply.status == 204, reply.body
    assert api.post(f"/api/jobs/{active['id']}/endpoints/{archived}/archive").status == 200
    assert api.post(f"/api/jobs/{paused_job['id']}/pause").status == 200
    assert api.post(f"/api/jobs/{archived_job['id']}/archive").status == 200
    queue.take()
    clock.advance(timedelta(hours=1))  # every slot but the paused one's is long past

    report = tick(qdeps, queue)

    assert report.items_read == 1 and report.resent == 1  # the live one, its message "lost"
    assert [s.slot.endpoint_id for s in queue.take()] == [live]
    for stopped in (paused, archived, in_paused_job, in_archived_job):
        assert ep(qdeps, stopped).enqueued_at == T0  # only the create's send, never a tick's


def test_a_pause_ending_inside_the_lookahead_is_sent_for_its_end(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    endpoint_id = create(api, job, 3_600_000)
    until = T0 + timedelta(seconds=30)
    reply = api.post(f"/api/endpoints/{endpoint_id}/pause", {"pausedUntil": "2025-01-01T00:00:30Z"})
    assert reply.status == 204
    assert ep(qdeps, endpoint_id).next_run_at == until  # the governor: pause wins
    # The pause ends inside the lookahead: the chokepoint sends the slot for its end at once.
    sent = queue.only()
    assert sent.slot.at == until and sent.delay == 30  # visible when the pause ends

    report = tick(qdeps, queue)

    assert report.sent == 0 and report.in_flight == 1  # the dispatcher does not repeat it
    assert queue.take() == []
    clock.set(until)
    run = Executor(qdeps).run_slot(sent.slot)
    assert run is not None and run.status == "success"


def test_a_slot_that_moved_between_query_and_mark_is_not_sent(
    qdeps: Deps, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(qdeps, "moving", T0)
    seed(qdeps, "still", T0)
    original = qdeps.endpoints.due

    def due_then_move(shard: str, until_ms: int, page_size: int = 100) -> Iterator[Endpoint]:
        for found in original(shard, until_ms, page_size):
            if found.id == "moving":  # another writer re-plans it after the query read it
                qdeps.endpoints.save(replace(found, next_run_at=T0 + timedelta(minutes=5)))
            yield found

    monkeypatch.setattr(qdeps.endpoints, "due", due_then_move)

    report = tick(qdeps, queue)

    assert (report.items_read, report.sent) == (2, 1)
    assert [s.slot.endpoint_id for s in queue.take()] == ["still"]
    moved = ep(qdeps, "moving")
    assert moved.next_run_at == T0 + timedelta(minutes=5) and moved.enqueued_slot is None


# ---- the chokepoint sends what falls inside the lookahead -----------------------------------


def test_a_new_10s_endpoint_is_sent_at_once_and_a_1h_one_is_not(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any]
) -> None:
    fast = create(api, job, 10_000)
    sent = queue.only()
    endpoint = ep(qdeps, fast)
    assert sent.slot == slot_of(endpoint) and sent.slot.at == T0 + timedelta(seconds=10)
    assert sent.delay == 10 and sent.at == T0
    assert endpoint.enqueued_slot == endpoint.next_run_at and endpoint.enqueued_at == T0

    slow = create(api, job, 3_600_000)
    assert queue.take() == []
    assert ep(qdeps, slow).enqueued_slot is None

    report = tick(qdeps, queue)  # the dispatcher does not send the first one again
    assert (report.items_read, report.in_flight, report.sent) == (1, 1, 0)


def test_a_one_shot_for_now_is_sent_at_once(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = create(api, job, 3_600_000)
    reply = api.post(f"/api/endpoints/{endpoint_id}/hints/oneshot", {"nextRunInMs": 0})
    assert reply.status == 204, reply.body
    sent = queue.only()
    assert sent.slot.endpoint_id == endpoint_id and sent.slot.at == T0 and sent.delay == 0
    assert ep(qdeps, endpoint_id).enqueued_slot == T0


def test_resuming_a_paused_endpoint_sends_at_once(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id = create(api, job, 3_600_000)
    api.post(f"/api/endpoints/{endpoint_id}/pause", {"pausedUntil": "2030-01-01T00:00:00Z"})
    clock.advance(timedelta(minutes=3))
    assert queue.take() == []
    assert api.post(f"/api/endpoints/{endpoint_id}/resume").status == 204
    sent = queue.only()
    assert sent.slot.at == clock.now() and sent.delay == 0
    assert ep(qdeps, endpoint_id).enqueued_slot == clock.now()


def test_resuming_a_job_sends_its_overdue_slot_at_once_and_the_tick_does_not_repeat_it(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id = create(api, job, 3_600_000)  # first slot at T0 + 1 h: nothing sent yet
    api.post(f"/api/jobs/{job['id']}/pause")
    clock.set(T0 + timedelta(hours=2))
    api.post(f"/api/jobs/{job['id']}/resume")
    sent = queue.only()
    assert sent.slot.at == T0 + timedelta(hours=1) and sent.delay == 0  # overdue: runs once now

    clock.advance(timedelta(seconds=5))  # a tick soon after: the message is fresh, not lost
    report = tick(qdeps, queue)
    assert (report.sent, report.resent, report.in_flight) == (0, 0, 1)
    assert ep(qdeps, endpoint_id).enqueued_at == T0 + timedelta(hours=2)


def test_resuming_a_job_resends_a_slot_that_was_in_flight_when_it_paused(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    create(api, job, 10_000)  # its first slot is in flight at once
    queue.take()
    api.post(f"/api/jobs/{job['id']}/pause")  # that message will lose its claim
    clock.set(T0 + timedelta(hours=1))
    api.post(f"/api/jobs/{job['id']}/resume")
    assert len(queue.take()) == 1  # "runs once, at once"


def test_the_executor_sends_the_next_slot_when_it_falls_inside_the_lookahead(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    fast = create(api, job, 10_000)
    first = queue.only()
    clock.set(first.slot.at)
    run = Executor(qdeps).run_slot(first.slot)
    assert run is not None and run.status == "success"
    following = queue.only()
    endpoint = ep(qdeps, fast)
    assert following.slot == slot_of(endpoint)
    assert following.slot.at == first.slot.at + timedelta(seconds=10)
    assert following.delay == 10  # sent 200 ms into the slot, visible on the next one's second
    assert endpoint.enqueued_slot == endpoint.next_run_at and endpoint.lock_token is None

    slow = create(api, job, 3_600_000)
    api.post(f"/api/endpoints/{slow}/hints/oneshot", {"nextRunInMs": 0})
    oneshot = queue.only()
    run = Executor(qdeps).run_slot(oneshot.slot)
    assert run is not None and run.source == "ai-oneshot"
    assert queue.take() == []  # its next slot is an hour away: the dispatcher's, later
    assert ep(qdeps, slow).enqueued_slot == oneshot.slot.at  # the old mark, not the new slot


# ---- zombies --------------------------------------------------------------------------------


def die_after_claim(deps: Deps, slot: QueuedSlot) -> Run:
    """Do what Executor.run_slot does up to the HTTP call, then stop (the worker died): the
    claim, which stands for the run; nothing is written to the runs table."""
    held = Executor(deps).claim(slot)
    assert held is not None
    assert deps.runs.get("acme", held.run.id, deps.clock.now()) is None
    return held.run


def die_after_claim_of_the_release_before(deps: Deps, slot: QueuedSlot) -> Run:
    """What the release before did up to the HTTP call: a claim with a random token, and the
    run written `running`."""
    started = deps.clock.now()
    lock_until = started + timedelta(milliseconds=slot.lock_ms)
    won = deps.endpoints.claim(
        slot.tenant_id, slot.endpoint_id, slot.at, started, lock_until, "dead-worker"
    )
    assert won is not None
    claimed = won.endpoint
    run = Run(
        endpoint_id=claimed.id,
        id=ids.run_id(started),
        tenant_id=claimed.tenant_id,
        job_id=claimed.job_id,
        status="running",
        started_at=started,
        attempt=claimed.failure_count + 1,
        source=plan_next_run(started, claimed).source,
        slot_at=slot.at,
        deadline_at=started + lock_duration(claimed),
        expires_at=started + timedelta(days=deps.settings.retention_days),
    )
    deps.runs.put(run)
    return run


def abandoned_at_deadline(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    queue: RecordingQueue,
    clock: ManualClock,
    die: Callable[[Deps, QueuedSlot], Run] = die_after_claim,
) -> tuple[str, QueuedSlot, Run]:
    """A new endpoint whose first slot was claimed by an executor that died (`die`), with the
    clock at the run's deadline: (endpoint id, the abandoned slot, its run still `running`)."""
    endpoint_id = create(api, job, 10_000)
    original = queue.only().slot
    clock.set(original.at)
    zombie = die(deps, original)
    assert zombie.deadline_at is not None
    clock.set(zombie.deadline_at)
    return endpoint_id, original, zombie


def test_a_zombie_is_marked_failed_and_counts_as_a_failure_for_backoff_and_incidents(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    endpoint_id = create(api, job, 10_000)  # timeout 10 s: lock and deadline 40 s
    original = queue.only().slot
    clock.set(original.at)
    zombie = die_after_claim(qdeps, original)
    assert zombie.deadline_at == original.at + timedelta(seconds=40)

    clock.set(zombie.deadline_at - timedelta(milliseconds=1))
    report = tick(qdeps, queue)
    assert (report.zombies, report.running, report.sent) == (0, 1, 0)
    assert runs_of(qdeps, endpoint_id)[0].status == "running"

    clock.set(zombie.deadline_at)  # the deadline passes and the lock expires with it
    report = tick(qdeps, queue)
    assert report.zombies == 1
    [marked] = runs_of(qdeps, endpoint_id)
    assert marked.id == zombie.id and marked.status == "failed" and marked.error_kind == "zombie"
    assert marked.finished_at == clock.now() and marked.error_message == ZOMBIE_MESSAGE
    # Settled like a run that failed: the streak starts (an incident for the planner), the
    # lock goes, and the next slot follows the failure rather than repeating the abandoned one.
    settled = ep(qdeps, endpoint_id)
    assert settled.failure_count == 1 and settled.last_run_at == zombie.started_at
    assert settled.lock_token is None and settled.locked_until is None
    assert settled.state_changed_at == clock.now() and settled.analysis_due_at == clock.now()
    assert settled.next_run_at > clock.now()
    assert [s.slot for s in queue.take()] == [slot_of(settled)]

    assert tick(qdeps, queue).zombies == 0  # swept once: it left the running index
    assert ep(qdeps, endpoint_id).failure_count == 1

    executor = Executor(qdeps)
    assert executor.run_slot(original) is None  # the abandoned slot never runs again
    clock.set(settled.next_run_at)
    done = executor.run_slot(slot_of(settled))
    assert done is not None and done.status == "success" and done.attempt == 2
    assert ep(qdeps, endpoint_id).failure_count == 0 and len(stub.calls) == 1


def test_a_claim_that_takes_over_an_abandoned_one_marks_its_run_and_settles_nothing(
    qdeps: Deps, api: Api, job: dict[str, Any], queue: RecordingQueue, clock: ManualClock
) -> None:
    endpoint_id, original, zombie = abandoned_at_deadline(qdeps, api, job, queue, clock)
    # The slot's message came back (the worker died before deleting it) before any tick.
    held = Executor(qdeps).claim(original)
    assert held is not None and held.run.id != zombie.id
    marked, running = sorted(runs_of(qdeps, endpoint_id), key=lambda r: r.id != zombie.id)
    assert marked.id == zombie.id and marked.status == "failed" and marked.error_kind == "zombie"
    assert running.id == held.run.id and running.status == "running"
    # The slot runs under the new claim, which settles it: the abandoned one counts no failure.
    now = ep(qdeps, endpoint_id)
    assert now.lock_token == held.token and now.failure_count == 0 and now.last_run_at is None
    assert tick(qdeps, queue).zombies == 0


def test_a_claim_abandoned_before_its_run_was_written_is_sent_again_and_runs_once(
    qdeps: Deps,
    api: Api,
    job: dict[str, Any],
    queue: RecordingQueue,
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    endpoint_id = create(api, job, 10_000)
    original = queue.only().slot
    clock.set(original.at)
    lock_until = clock.now() + timedelta(milliseconds=original.lock_ms)
    assert qdeps.endpoints.claim("acme", endpoint_id, original.at, clock.now(), lock_until, "x")
    clock.set(lock_until)  # the worker died before writing its run
    report = tick(qdeps, queue)
    assert (report.zombies, report.resent) == (0, 1)
    [again] = queue.take()
    assert again.slot.at == original.at
    done = Executor(qdeps).run_slot(again.slot)
    assert done is not None and done.status == "success"
    assert [r.status for r in runs_of(qdeps, endpoint_id)] == ["success"]
    assert len(stub.calls) == 1 and ep(qdeps, endpoint_id).lock_token is None


def test_a_zombie_of_a_paused_job_is_marked_when_the_job_resumes(
    qdeps: Deps, api: Api, job: dict[str, Any], queue: RecordingQueue, clock: ManualClock
) -> None:
    endpoint_id, _, zombie = abandoned_at_deadline(qdeps, api, job, queue, clock)
    assert api.post(f"/api/jobs/{job['id']}/pause").status == 200
    assert tick(qdeps, queue).zombies == 0  # out of the due index: not read
    assert runs_of(qdeps, endpoint_id)[0].status == "running"
    assert api.post(f"/api/jobs/{job['id']}/resume").status == 200
    assert tick(qdeps, queue).zombies == 1
    [marked] = runs_of(qdeps, endpoint_id)
    assert marked.id == zombie.id and marked.error_kind == "zombie"
    assert ep(qdeps, endpoint_id).lock_token is None


def test_a_claim_that_took_over_nothing_looks_for_no_zombie(
    qdeps: Deps, api: Api, job: dict[str, Any], queue: RecordingQueue, clock: ManualClock
) -> None:
    endpoint_id = create(api, job, 10_000)
    original = queue.only().slot
    clock.set(original.at)
    won = qdeps.endpoints.claim("acme", endpoint_id, original.at, clock.now(), clock.now(), "t")
    assert won is not None and not won.took_over and won.endpoint.lock_token == "t"
    assert won.endpoint.locked_until == clock.now()
    again = qdeps.endpoints.claim("acme", endpoint_id, original.at, clock.now(), clock.now(), "u")
    assert again is not None and again.took_over, "an expired, unsettled claim was taken over"
    assert won.endpoint.state_version is not None
    assert again.endpoint.state_version == won.endpoint.state_version + 1
    assert again.endpoint == ep(qdeps, endpoint_id)


def test_a_slot_inside_a_longer_pause_is_not_sent(qdeps: Deps, queue: RecordingQueue) -> None:
    seed(qdeps, "held", T0, paused_until=T0 + timedelta(hours=1))  # the claim would refuse it
    report = tick(qdeps, queue)
    assert (report.items_read, report.sent) == (1, 0)
    assert ep(qdeps, "held").enqueued_slot is None


def test_slots_are_sent_as_they_are_marked_so_a_failing_tick_strands_few(
    qdeps: Deps, queue: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard0 = [i for i in (f"bulk{n}" for n in range(60)) if due_shard(i, 4) == "0"][:12]
    for endpoint_id in shard0:
        seed(qdeps, endpoint_id, T0)
    original = qdeps.endpoints.due

    def due_or_fail(shard: str, until_ms: int, page_size: int = 100) -> Iterator[Endpoint]:
        if shard == "1":
            raise RuntimeError("the index is unavailable")
        yield from original(shard, until_ms, page_size)

    monkeypatch.setattr(qdeps.endpoints, "due", due_or_fail)
    with pytest.raises(RuntimeError):
        tick(qdeps, queue)
    assert len(shard0) == 12 and len(queue.take()) == 10  # two marked and waiting for a resend

    monkeypatch.setattr(qdeps.endpoints, "due", original)
    report = tick(qdeps, queue)
    assert (report.sent, report.in_flight) == (0, 12)  # in flight: not sent twice at once


def test_a_timeout_raised_after_the_send_does_not_let_the_slot_run_twice(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    endpoint_id = create(api, job, 10_000)  # timeout 10 s: the message says lock for 40 s
    sent = queue.only()
    path = f"/api/jobs/{job['id']}/endpoints/{endpoint_id}"
    assert api.patch(path, {"timeoutMs": 60_000}).status == 200  # not a schedule change
    assert queue.take() == []
    clock.set(sent.slot.at)
    second: list[Run | None] = []

    def slow_call_meanwhile_a_tick() -> None:
        if second:
            return
        second.append(None)
        clock.advance(timedelta(seconds=45))  # within the 60 s timeout, past the 40 s lock
        tick(qdeps, queue)
        for message in queue.take():
            second[0] = Executor(qdeps).run_slot(message.slot)

    stub.during = slow_call_meanwhile_a_tick
    first = Executor(qdeps).run_slot(sent.slot)
    assert first is not None
    assert second == [None]  # the slot is still being run: nobody else may claim it


def test_the_sweep_never_overwrites_a_run_that_finished(qdeps: Deps, clock: ManualClock) -> None:
    from dataclasses import replace as dc_replace

    from chalicelib.domain.entities import Run
    from chalicelib.domain.ids import run_id

    running = Run("ep", run_id(T0), "acme", "job", "running", T0, deadline_at=T0)
    qdeps.runs.put(running)
    finished = dc_replace(running, status="success", finished_at=T0)
    qdeps.runs.put(finished)  # the executor finished between the sweep's read and its write
    zombie = dc_replace(running, status="failed", error_kind="zombie")
    assert qdeps.runs.put_if_running(zombie) is False
    stored = qdeps.runs.get("acme", running.id, clock.now())
    assert stored is not None and stored.status == "success"


# ---- changing the number of due shards ------------------------------------------------------


def test_lowering_the_shard_count_migrates_endpoints_out_of_retired_shards(
    deps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    before = with_queue(deps, queue, due_shards=8)
    ids_ = _ids_covering_shards("moved", 8)
    for endpoint_id in ids_:
        seed(before, endpoint_id, T0)
    seed(before, "later", T0 + timedelta(hours=3))  # not due: moved all the same
    assert {ep(before, i).due_shard for i in ids_} == {str(s) for s in range(8)}

    after = with_queue(deps, queue, due_shards=4)
    report = tick(after, queue)

    assert sorted(s.slot.endpoint_id for s in queue.take()) == sorted(ids_)
    for endpoint_id in [*ids_, "later"]:
        assert ep(after, endpoint_id).due_shard == due_shard(endpoint_id, 4)
    assert report.rehomed == 4 + (due_shard("later", 8) not in {"0", "1", "2", "3"})


def test_an_endpoint_written_to_a_retired_shard_later_is_migrated_at_the_next_check(
    deps: Deps, queue: RecordingQueue, clock: ManualClock
) -> None:
    after = with_queue(deps, queue, due_shards=4)
    assert tick(after, queue).rehomed == 0
    straggler = next(i for i in (f"late{n}" for n in range(100)) if int(due_shard(i, 8)) >= 4)
    # An API container still on the old count writes it during the rollout.
    seed(after, straggler, T0 + timedelta(minutes=20), due_shard=due_shard(straggler, 8))

    clock.set(T0 + CHECK_EVERY - timedelta(seconds=1))
    assert tick(after, queue).rehomed == 0  # checks are spaced: one query per retired shard
    clock.set(T0 + CHECK_EVERY)
    assert tick(after, queue).rehomed == 1
    assert ep(after, straggler).due_shard == due_shard(straggler, 4)
    clock.set(T0 + timedelta(minutes=20))
    assert [s.slot.endpoint_id for s in queue.take()] == []
    tick(after, queue)
    assert [s.slot.endpoint_id for s in queue.take()] == [straggler]


def test_raising_the_shard_count_strands_nothing(deps: Deps, queue: RecordingQueue) -> None:
    before = with_queue(deps, queue, due_shards=2)
    ids_ = _ids_covering_shards("grown", 2)
    for endpoint_id in ids_:
        seed(before, endpoint_id, T0)
    after = with_queue(deps, queue, due_shards=8)
    report = tick(after, queue)
    assert report.rehomed == 0 and report.sent == 2


def test_a_swept_zombie_reaches_the_run_finished_listeners_and_opens_an_incident(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[RunFinished] = []
    qdeps.run_finished.subscribe(heard.append)
    notices = Notices()
    monkeypatch.setattr(qdeps, "notices_queue", notices)
    policy = api.call("PUT", f"/api/jobs/{job['id']}/alert-policy", {"failureThreshold": 1})
    assert policy.status == 200, policy.body
    endpoint_id, _, zombie = abandoned_at_deadline(qdeps, api, job, queue, clock)
    assert tick(qdeps, queue).zombies == 1

    [event] = heard
    assert event.run.id == zombie.id and event.run.error_kind == "zombie"
    assert event.endpoint.failure_count == 1 and event.state_changed
    [incident] = api.get("/api/incidents").body["incidents"]
    assert (incident["endpointId"], incident["state"]) == (endpoint_id, "open")
    assert [(n.incident_id, n.event) for n in notices.take()] == [(incident["id"], "opened")]


def test_a_zombie_of_a_claim_by_the_release_before_is_its_running_run(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id, _, older = abandoned_at_deadline(
        qdeps, api, job, queue, clock, die_after_claim_of_the_release_before
    )
    # Its token is no run id: the listing shows the run it wrote, and only that one.
    assert [(r.id, r.status) for r in runs_of(qdeps, endpoint_id)] == [(older.id, "running")]
    assert tick(qdeps, queue).zombies == 1
    [marked] = runs_of(qdeps, endpoint_id)
    assert marked.id == older.id and marked.status == "failed" and marked.error_kind == "zombie"
    settled = ep(qdeps, endpoint_id)
    assert settled.lock_token is None and settled.failure_count == 1


def test_a_zombie_written_from_its_claim_is_the_run_the_claim_stood_for(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id, original, running = abandoned_at_deadline(qdeps, api, job, queue, clock)
    assert [(r.id, r.status) for r in runs_of(qdeps, endpoint_id)] == [(running.id, "running")]
    assert tick(qdeps, queue).zombies == 1
    marked = qdeps.runs.get("acme", running.id, clock.now())
    assert marked is not None
    assert (marked.slot_at, marked.attempt, marked.source, marked.cause) == (
        original.at,
        1,
        "baseline-interval",
        running.cause,
    )
    assert marked.started_at == running.started_at and marked.expires_at == running.expires_at


def test_a_run_that_finishes_after_its_claim_expired_keeps_its_result(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    endpoint_id = create(api, job, 10_000)  # a 40 s claim
    sent = queue.only()
    clock.set(sent.slot.at)

    def past_the_deadline_a_tick_marks_it() -> None:
        clock.advance(timedelta(seconds=41))
        assert tick(qdeps, queue).zombies == 1

    stub.during = past_the_deadline_a_tick_marks_it
    run = Executor(qdeps).run_slot(sent.slot)
    assert run is not None and run.status == "success"
    [stored] = runs_of(qdeps, endpoint_id)
    assert (stored.id, stored.status, stored.error_kind) == (run.id, "success", None)
