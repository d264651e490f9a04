"""Timers and queue pollers of the local stack, driven by a throwaway Chalice app.

Queues live in in-process moto, or in a scripted client where a receive must be held open.
Timing is injected (fake stop and monotonic clock) rather than slept through; the only real
waits are moto's one-second long poll and thread joins.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from chalice.app import Chalice, CloudWatchEvent, Cron, Rate, SQSEvent

from chalicelib.clock import ManualClock
from chalicelib.local.events import (
    EMPTY_PAUSE_S,
    LONG_POLL_S,
    EventSources,
    QueuePoller,
    ScheduleTimer,
    failed_ids,
    schedule_period_s,
)

REGION = "us-east-1"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeStop:
    """Stands in for threading.Event: records the waits, moves a fake monotonic clock."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.waits: list[float] = []
        self.now = 100.0

    def is_set(self) -> bool:
        return len(self.waits) >= self.rounds

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.now += timeout
        return self.is_set()

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue(sqs: Any) -> Iterator[tuple[str, str]]:
    """A fresh queue (name, url) with a long visibility timeout, deleted afterwards."""
    name = f"local-events-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    yield name, url
    sqs.delete_queue(QueueUrl=url)


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


# --- schedules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        (Rate(1, unit=Rate.MINUTES), 60.0),
        (Rate(5, unit=Rate.MINUTES), 300.0),
        (Rate(2, unit=Rate.HOURS), 7200.0),
        ("rate(1 minute)", 60.0),
        ("rate(10 minutes)", 600.0),
        ("rate(1 day)", 86400.0),
        ("cron(0 12 * * ? *)", None),
        (Cron(0, 12, "*", "*", "?", "*"), None),
    ],
)
def test_schedule_period(expression: Any, seconds: float | None) -> None:
    assert schedule_period_s(expression) == seconds


def test_a_schedule_handler_gets_an_eventbridge_event() -> None:
    app = Chalice(app_name="throwaway")
    seen: list[CloudWatchEvent] = []

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def dispatch(event: CloudWatchEvent) -> None:
        seen.append(event)

    clock = ManualClock(T0)
    sources = EventSources(app, stage="local", region=REGION, clock=clock, sqs=None)
    [timer] = sources.timers
    assert timer.period_s == 300.0

    timer.tick()
    clock.advance(timedelta(minutes=5))
    timer.tick()

    assert [e.time for e in seen] == ["2025-03-01T12:00:00Z", "2025-03-01T12:05:00Z"]
    event = seen[0]
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.region == REGION
    assert event.resources == [
        f"arn:aws:events:{REGION}:123456789012:rule/throwaway-local-dispatch"
    ]
    assert event.detail == {}


def test_the_period_can_be_overridden() -> None:
    app = Chalice(app_name="throwaway")
    app.schedule("rate(1 hour)")(lambda event: None)
    app.schedule("cron(0 3 * * ? *)", name="nightly")(lambda event: None)

    sources = EventSources(
        app, stage="local", region=REGION, clock=ManualClock(T0), sqs=None, period_override_s=2.5
    )

    assert [t.period_s for t in sources.timers] == [2.5, 2.5]


def test_timer_fires_at_start_then_on_a_fixed_grid() -> None:
    stop = FakeStop(rounds=3)
    ticks: list[float] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        ticks.append(stop.now)
        stop.now += 0.25  # the handler takes a quarter of a second

    timer = ScheduleTimer(
        "t",
        handler,
        10.0,
        rule_name="r",
        region=REGION,
        clock=ManualClock(T0),
        stop=stop,
        monotonic=stop.monotonic,
    )
    timer.run()

    assert ticks == [100.0, 110.0, 120.0]
    assert stop.waits == [9.75, 9.75, 9.75]


def test_timer_skips_slots_a_slow_handler_overran() -> None:
    stop = FakeStop(rounds=2)
    ticks: list[float] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        ticks.append(stop.now)
        stop.now += 25.0 if len(ticks) == 1 else 0.0  # first run takes 2.5 periods

    timer = ScheduleTimer(
        "t",
        handler,
        10.0,
        rule_name="r",
        region=REGION,
        clock=ManualClock(T0),
        stop=stop,
        monotonic=stop.monotonic,
    )
    timer.run()

    assert ticks == [100.0, 130.0]  # 110 and 120 are skipped, not run back to back


def test_timer_survives_a_failing_handler() -> None:
    stop = FakeStop(rounds=2)
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    ScheduleTimer(
        "t",
        handler,
        1.0,
        rule_name="r",
        region=REGION,
        clock=ManualClock(T0),
        stop=stop,
        monotonic=stop.monotonic,
    ).run()

    assert len(calls) == 2


def test_timer_thread_stops_promptly() -> None:
    stop = threading.Event()
    fired = threading.Event()
    timer = ScheduleTimer(
        "t",
        lambda event, context: fired.set(),
        3600.0,
        rule_name="r",
        region=REGION,
        clock=ManualClock(T0),
        stop=stop,
    )
    thread = threading.Thread(target=timer.run, daemon=True)
    thread.start()
    assert fired.wait(5)

    stop.set()
    thread.join(2)

    assert not thread.is_alive()


# --- queues -----------------------------------------------------------------------------


def test_poller_deletes_all_but_the_reported_failures(sqs: Any, queue: tuple[str, str]) -> None:
    name, url = queue
    app = Chalice(app_name="throwaway")
    seen: list[dict[str, Any]] = []

    @app.on_sqs_message(queue=name, batch_size=5)
    def run_jobs(event: SQSEvent) -> dict[str, Any]:
        records = event.to_dict()["Records"]
        seen.extend(records)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["body"] == "fail"
            ]
        }

    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": body}},
        )
    sources = EventSources(app, stage="local", region=REGION, clock=ManualClock(T0), sqs=sqs)
    [poller] = sources.pollers
    assert poller.queue_name == name

    assert poller.poll_once() == 3

    assert sorted(r["body"] for r in seen) == ["fail", "ok-1", "ok-2"]
    record = next(r for r in seen if r["body"] == "ok-1")
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:{REGION}:123456789012:{name}"
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "ok-1"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["md5OfBody"] and record["receiptHandle"]
    assert len({r["messageId"] for r in seen}) == 3
    assert counts(sqs, url) == (0, 1)  # only the failure stays, in flight until it times out


def test_poller_deletes_nothing_when_the_handler_raises(sqs: Any, queue: tuple[str, str]) -> None:
    name, url = queue
    app = Chalice(app_name="throwaway")

    @app.on_sqs_message(queue=name, batch_size=10)
    def explode(event: SQSEvent) -> None:
        raise RuntimeError("handler bug")

    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    [poller] = EventSources(
        app, stage="local", region=REGION, clock=ManualClock(T0), sqs=sqs
    ).pollers

    assert poller.poll_once() == 2
    assert counts(sqs, url) == (0, 2)


def test_poller_with_no_failures_deletes_the_batch(sqs: Any, queue: tuple[str, str]) -> None:
    name, url = queue
    seen: list[str] = []
    sqs.send_message(QueueUrl=url, MessageBody="only")
    poller = QueuePoller(
        "h",
        lambda event, context: seen.extend(r["body"] for r in event["Records"]),
        name,
        sqs=sqs,
        region=REGION,
        stop=threading.Event(),
    )

    assert poller.poll_once() == 1
    assert seen == ["only"]
    assert counts(sqs, url) == (0, 0)


@pytest.mark.parametrize(
    ("result", "kept"),
    [
        (None, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # What Lambda cannot use fails the whole batch.
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"wrong": "b"}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
    ],
)
def test_failed_ids(result: Any, kept: set[str]) -> None:
    assert failed_ids(result, ["a", "b"]) == kept


def test_sources_start_and_stop_promptly(sqs: Any, queue: tuple[str, str]) -> None:
    name, url = queue
    app = Chalice(app_name="throwaway")
    handled = threading.Event()
    ticked = threading.Event()
    app.on_sqs_message(queue=name, name="consume")(lambda event: handled.set())
    app.schedule(Rate(1, unit=Rate.HOURS), name="tick")(lambda event: ticked.set())
    sources = EventSources(app, stage="local", region=REGION, clock=ManualClock(T0), sqs=sqs)

    sources.start()
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert ticked.wait(5) and handled.wait(10)
    started = time.monotonic()
    sources.stop(timeout_s=5)

    assert time.monotonic() - started < 3  # a poll in progress ends within its 1 s wait
    assert counts(sqs, url) == (0, 0)


def test_a_missing_queue_is_retried_not_fatal(sqs: Any) -> None:
    app = Chalice(app_name="throwaway")
    app.on_sqs_message(queue="not-created-yet")(lambda event: None)
    sources = EventSources(app, stage="local", region=REGION, clock=ManualClock(T0), sqs=sqs)

    sources.start()
    sources.stop(timeout_s=5)  # the poller waits between retries on the stop event


class HeldReceive:
    """An SQS client whose first receive is a long poll held open until `release`, then
    answers one message: a poller waiting in a receive when the stack stops."""

    ARN = f"arn:aws:sqs:{REGION}:123456789012:held"

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.release = threading.Event()
        self.answered = threading.Event()
        self.receives: list[dict[str, Any]] = []
        self.deleted: list[Any] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        return {"QueueUrl": "held-url"}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": self.ARN}}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives.append(kwargs)
        if len(self.receives) > 1:
            return {}
        self.waiting.set()
        assert self.release.wait(30), "the test never released the receive"
        self.answered.set()
        return {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": "late"}]}

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.deleted.append(kwargs)
        return {}


def test_pollers_long_poll_the_queue() -> None:
    client = HeldReceive()
    client.release.set()
    poller = QueuePoller(
        "h", lambda event, context: None, "held", sqs=client, region=REGION, stop=threading.Event()
    )
    assert poller.poll_once() == 1
    assert client.receives[0]["WaitTimeSeconds"] == LONG_POLL_S
    assert client.deleted == [
        {"QueueUrl": "held-url", "Entries": [{"Id": "0", "ReceiptHandle": "r1"}]}
    ]


def test_stop_leaves_a_waiting_receive_and_what_it_brings_unhandled() -> None:
    app = Chalice(app_name="throwaway")
    handled: list[str] = []
    app.on_sqs_message(queue="held", name="consume")(
        lambda event: handled.extend(r.body for r in event)
    )
    client = HeldReceive()
    sources = EventSources(app, stage="local", region=REGION, clock=ManualClock(T0), sqs=client)
    sources.start()
    assert client.waiting.wait(10)
    [poller] = sources.pollers

    # The receive is still held: stop returns without waiting for it (it could wait 10 s).
    sources.stop(timeout_s=60)
    assert not client.answered.is_set()

    client.release.set()
    assert client.answered.wait(10)
    for thread in [t for t in threading.enumerate() if t.name == "event-consume"]:
        thread.join(10)
        assert not thread.is_alive()
    # Received after the stop: neither handled nor deleted (it comes back after its
    # visibility timeout, as from a Lambda being shut down).
    assert handled == [] and client.deleted == []
    assert not poller.handling()


def test_stop_waits_for_a_batch_being_handled() -> None:
    app = Chalice(app_name="throwaway")
    inside = threading.Event()
    finish = threading.Event()
    finished: list[str] = []

    def slow(event: SQSEvent) -> None:
        inside.set()
        assert finish.wait(30)
        finished.extend(r.body for r in event)

    app.on_sqs_message(queue="held", name="consume")(slow)
    client = HeldReceive()
    client.release.set()
    sources = EventSources(app, stage="local", region=REGION, clock=ManualClock(T0), sqs=client)
    sources.start()
    assert inside.wait(10)
    [poller] = sources.pollers
    assert poller.handling()

    stopper = threading.Thread(target=sources.stop, kwargs={"timeout_s": 60})
    stopper.start()
    stopper.join(0.5)
    assert stopper.is_alive()  # waiting for the handler (had it not waited, this fails)
    finish.set()
    stopper.join(30)
    assert not stopper.is_alive()
    assert finished == ["late"] and len(client.deleted) == 1


def test_an_empty_answer_is_followed_by_a_pause_not_another_receive_at_once() -> None:
    class AnswersAtOnce(HeldReceive):
        def receive_message(self, **kwargs: Any) -> dict[str, Any]:
            self.receives.append(kwargs)
            return {}

    client = AnswersAtOnce()
    stop = FakeStop(rounds=3)
    QueuePoller(
        "h", lambda event, context: None, "held", sqs=client, region=REGION, stop=stop
    ).run()
    assert stop.waits == [EMPTY_PAUSE_S] * 3
    assert len(client.receives) == 3
