"""The event handlers: the runs-queue batch (`execute`) and the dispatcher tick (`dispatch`).

Lambda-shaped SQS events are built here (unique message ids, bodies as the engine encodes
them); the handlers see the test's dependencies through `chalicelib.deps.use`, with a
recording runs queue and a stub caller. Nothing sleeps: concurrency is proven with a barrier.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Run
from chalicelib.engine import handlers
from chalicelib.engine.caller import CallRequest, CallResult
from chalicelib.engine.handlers import on_runs_batch
from chalicelib.engine.queue import QueuedSlot
from tests.conftest import T0, Api
from tests.integration.test_dispatch import RecordingQueue, create, ep, runs_of, tick, with_queue

_ids = itertools.count(1)


class Caller:
    """Answers every call with success. With `parties`, each call waits at a barrier until that
    many calls are in progress at once: calls made one after another break it (the barrier's
    timeout only bounds how long a broken test takes)."""

    def __init__(self, parties: int = 1) -> None:
        self.barrier = threading.Barrier(parties, timeout=5) if parties > 1 else None
        self.urls: list[str] = []
        self._lock = threading.Lock()

    def call(self, request: CallRequest, signing_key: str | None = None) -> CallResult:
        with self._lock:
            self.urls.append(request.url)
        if self.barrier is not None:
            self.barrier.wait()
        return CallResult("success", 5, 200, {"ok": True})


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def qdeps(deps: Deps, queue: RecordingQueue) -> Deps:
    """Installed with `chalicelib.deps.use`: what the handlers and routes see."""
    return with_queue(deps, queue)


def use_caller(deps: Deps, caller: Caller) -> Caller:
    setattr(deps, "caller", caller)  # noqa: B010 (duck-typed stand-in for the HTTP caller)
    return caller


def record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """One SQS record as Lambda delivers it."""
    return {
        "messageId": message_id or f"msg-{next(_ids):04d}",
        "receiptHandle": f"handle-{next(_ids)}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1735689600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1735689600000",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # what SQS sends
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cp-test-runs",
        "awsRegion": "us-east-1",
    }


def event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def due_slots(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], n: int
) -> list[QueuedSlot]:
    """`n` endpoints whose first slots (T0 + 10 s) are in flight, the clock on that slot."""
    for _ in range(n):
        create(api, job, 10_000)
    slots = [s.slot for s in queue.take()]
    assert len(slots) == n and {s.at for s in slots} == {T0 + timedelta(seconds=10)}
    clock = qdeps.clock
    assert isinstance(clock, ManualClock)
    clock.set(T0 + timedelta(seconds=10))
    return slots


def successes(deps: Deps, endpoint_id: str) -> list[Run]:
    return [r for r in runs_of(deps, endpoint_id) if r.status == "success"]


def test_a_batch_runs_its_messages_concurrently(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any]
) -> None:
    slots = due_slots(qdeps, queue, api, job, 4)
    caller = use_caller(qdeps, Caller(parties=4))  # all four must be in their calls together

    result = on_runs_batch(event(*(record(s.encode()) for s in slots)))

    assert result == {"batchItemFailures": []}
    assert len(caller.urls) == 4
    for slot in slots:
        [run] = runs_of(qdeps, slot.endpoint_id)
        assert run.status == "success" and run.slot_at == slot.at
    # each settle put its next slot in flight (10 s away: inside the lookahead)
    assert sorted(s.slot.endpoint_id for s in queue.take()) == sorted(s.endpoint_id for s in slots)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"tenantId": "acme"}',
        '{"tenantId": "acme", "endpointId": "x", "slot": "soon", "lockMs": 1000}',
        '{"tenantId": "acme", "endpointId": "x", "slot": 1735689600000, "lockMs": 0}',
        '{"tenantId": "acme", "endpointId": "x", "slot": 99999999999999999999, "lockMs": 1}',
        '{"tenantId": "acme", "endpointId": "x", "slot": -99999999999999999, "lockMs": 1}',
    ],
    ids=["empty", "text", "list", "partial", "slot-text", "no-lock", "huge-slot", "before-year-1"],
)
def test_a_malformed_message_is_dropped_and_the_rest_run(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], body: str
) -> None:
    [slot] = due_slots(qdeps, queue, api, job, 1)
    caller = use_caller(qdeps, Caller())

    result = on_runs_batch(event(record(body, "bad"), record(slot.encode(), "good")))

    assert result == {"batchItemFailures": []}  # a retry could never succeed: not reported
    assert len(caller.urls) == 1 and len(successes(qdeps, slot.endpoint_id)) == 1


def test_an_infrastructure_error_fails_exactly_that_message(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fine, broken = due_slots(qdeps, queue, api, job, 2)
    use_caller(qdeps, Caller())
    put = qdeps.runs.put

    def put_or_fail(run: Run) -> None:
        if run.endpoint_id == broken.endpoint_id:
            raise RuntimeError("runs table unavailable")
        put(run)

    monkeypatch.setattr(qdeps.runs, "put", put_or_fail)

    result = on_runs_batch(event(record(fine.encode(), "m-fine"), record(broken.encode(), "m-bad")))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert len(successes(qdeps, fine.endpoint_id)) == 1
    # The call was made and its result could not be written: until the claim expires, the
    # claim stands for the run, in flight.
    assert [r.status for r in runs_of(qdeps, broken.endpoint_id)] == ["running"]
    queue.take()

    # Recovery: SQS redelivers, the claim the failed attempt left behind drops it untouched...
    monkeypatch.setattr(qdeps.runs, "put", put)
    assert on_runs_batch(event(record(broken.encode(), "m-bad"))) == {"batchItemFailures": []}
    assert [r.status for r in runs_of(qdeps, broken.endpoint_id)] == ["running"]
    # ...and once that lock expires the dispatcher writes the run failed (its result was lost)
    # and sends the next slot, which runs.
    clock.set(ep(qdeps, broken.endpoint_id).locked_until or T0)
    assert tick(qdeps, queue).zombies == 1
    [lost] = runs_of(qdeps, broken.endpoint_id)
    assert lost.status == "failed" and lost.error_kind == "zombie" and lost.slot_at == broken.at
    again = {s.slot.endpoint_id: s.slot for s in queue.take()}[broken.endpoint_id]
    assert again.at > broken.at
    clock.set(max(clock.now(), again.at))
    assert on_runs_batch(event(record(again.encode()))) == {"batchItemFailures": []}
    assert len(successes(qdeps, broken.endpoint_id)) == 1


def test_duplicates_of_a_slot_in_one_batch_produce_one_run(
    qdeps: Deps,
    queue: RecordingQueue,
    api: Api,
    job: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One worker, so the duplicates are claimed one after another. In-process moto checks a
    # conditional write's condition and applies it without a lock, so two threads can both win
    # a claim there (DynamoDB cannot); concurrent duplicates are the local stack's e2e tests'.
    monkeypatch.setattr(handlers, "MAX_PARALLEL", 1)
    [slot] = due_slots(qdeps, queue, api, job, 1)
    caller = use_caller(qdeps, Caller())
    body = slot.encode()

    result = on_runs_batch(event(*(record(body) for _ in range(3))))

    assert result == {"batchItemFailures": []}
    assert len(caller.urls) == 1 and len(runs_of(qdeps, slot.endpoint_id)) == 1
    # a redelivery in a later batch is dropped too
    assert on_runs_batch(event(record(body))) == {"batchItemFailures": []}
    assert len(caller.urls) == 1 and len(runs_of(qdeps, slot.endpoint_id)) == 1


def test_an_empty_batch_does_nothing(qdeps: Deps) -> None:
    assert on_runs_batch({"Records": []}) == {"batchItemFailures": []}
    assert on_runs_batch({}) == {"batchItemFailures": []}


# ---- through the Chalice app ----------------------------------------------------------------


@pytest.fixture
def client(qdeps: Deps) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as chalice:
        yield chalice


def test_the_dispatch_schedule_returns_its_report(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], client: Client
) -> None:
    endpoint_id = create(api, job, 10_000)
    queue.take()  # the create sent its first slot; the tick sees it in flight
    clock = qdeps.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=2))  # ...until its message counts as lost

    cw = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/cronpilot-dispatch"],
    )
    response = client.lambda_.invoke("dispatch", cw)

    assert response.payload == {
        "items_read": 1,
        "sent": 1,
        "resent": 1,
        "running": 0,
        "in_flight": 0,
        "zombies": 0,
        "rehomed": 0,
    }
    assert [s.slot.endpoint_id for s in queue.take()] == [endpoint_id]


def test_the_execute_handler_runs_a_queue_batch(
    qdeps: Deps, queue: RecordingQueue, api: Api, job: dict[str, Any], client: Client
) -> None:
    slots = due_slots(qdeps, queue, api, job, 2)
    use_caller(qdeps, Caller(parties=2))
    sqs = client.events.generate_sqs_event(
        message_bodies=[s.encode() for s in slots] + ["junk"], queue_name="cp-test-runs"
    )
    for n, item in enumerate(sqs["Records"]):
        item["messageId"] = f"m-{n}"  # Chalice gives every record the same id

    response = client.lambda_.invoke("execute", sqs)

    assert response.payload == {"batchItemFailures": []}
    for slot in slots:
        assert len(successes(qdeps, slot.endpoint_id)) == 1
