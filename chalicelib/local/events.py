"""Timers and queue pollers: what EventBridge rules and SQS event source mappings do on AWS.

The app's own handlers run, through `app.handler_map[name](event, context)`, with events shaped
like Lambda's. One timer thread per `ScheduledEventConfig`, one poller thread per
`SQSEventConfig` in `app.event_sources`. Both stop within about a second of `stop()`.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, Protocol

from chalice.app import Chalice, Rate, ScheduledEventConfig, ScheduleExpression, SQSEventConfig
from chalice.local import LambdaContext

from chalicelib.clock import Clock

log = logging.getLogger("cronpilot-local.events")

ACCOUNT_ID = "123456789012"  # moto's default account: the one fake credentials map to
DEFAULT_CRON_PERIOD_S = 60.0
QUEUE_RETRY_S = 5.0
# Each receive waits up to this long for a message (SQS allows 20 s). The store wakes a waiting
# receive as soon as a delayed message comes due, so slots are not late for it, and an idle
# stack costs a receive per poller per this many seconds instead of twenty a second.
LONG_POLL_S = 10
EMPTY_PAUSE_S = 0.05

Handler = Callable[[dict[str, Any], Any], Any]
ContextFactory = Callable[[str], Any]

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


class Stopper(Protocol):
    """What the loops wait on: `threading.Event`, or a fake in tests."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def default_context(name: str) -> LambdaContext:
    """A Lambda context for handler `name` when no Chalice config says otherwise."""
    return LambdaContext(name, memory_size=128, max_runtime_ms=60_000)


def schedule_period_s(expression: str | ScheduleExpression) -> float | None:
    """Seconds between firings of a `rate(...)` schedule; None for cron schedules."""
    if isinstance(expression, Rate):
        unit = expression.unit.lower().rstrip("s")
        return float(expression.value * _UNIT_S[unit])
    text = expression if isinstance(expression, str) else expression.to_string()
    match = _RATE.match(text.strip())
    if match is None:
        return None
    return float(int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")])


def scheduled_event(rule_name: str, region: str, clock: Clock) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's Lambda target."""
    now = clock.now().astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        attribute["binaryValue"] = (
            base64.b64encode(raw).decode() if isinstance(raw, bytes) else str(raw)
        )
    return attribute


def sqs_records(
    messages: Sequence[dict[str, Any]], queue_arn: str, region: str
) -> list[dict[str, Any]]:
    """Lambda-shaped SQS records for messages from `receive_message`."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return records


def failed_ids(result: Any, message_ids: Sequence[str]) -> set[str]:
    """Message ids to keep, from a handler's return value (ReportBatchItemFailures rules).

    No `batchItemFailures` means the whole batch succeeded. An entry Lambda cannot use (no
    id, or an id not in the batch) fails the whole batch, as on AWS.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    known = set(message_ids)
    failures = result["batchItemFailures"]
    kept: set[str] = set()
    for failure in failures if isinstance(failures, list) else [None]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return known
        kept.add(identifier)
    return kept


class ScheduleTimer:
    """Invokes a scheduled handler at a fixed rate: at start, then every `period_s`."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        period_s: float,
        *,
        rule_name: str,
        region: str,
        clock: Clock,
        stop: Stopper,
        context_factory: ContextFactory = default_context,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        self.name = name
        self.period_s = period_s
        self._handler = handler
        self._rule_name = rule_name
        self._region = region
        self._clock = clock
        self._stop = stop
        self._context_factory = context_factory
        self._monotonic = monotonic

    def tick(self) -> None:
        """Invoke the handler once; its errors are logged (EventBridge would retry, we don't)."""
        event = scheduled_event(self._rule_name, self._region, self._clock)
        try:
            self._handler(event, self._context_factory(self.name))
        except Exception:
            log.exception("scheduled handler %s failed", self.name)

    def run(self) -> None:
        """Tick until stopped, on a fixed grid so a slow handler does not shift later ticks."""
        next_at = self._monotonic()
        while not self._stop.is_set():
            self.tick()
            next_at += self.period_s
            now = self._monotonic()
            if next_at < now:
                # The handler overran whole periods: skip those slots, as EventBridge does not
                # queue up missed invocations either.
                next_at += math.ceil((now - next_at) / self.period_s) * self.period_s
            if self._stop.wait(next_at - now):
                return


class QueuePoller:
    """Receives batches from a queue, invokes the handler, deletes what succeeded."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        queue_name: str,
        *,
        sqs: Any,
        region: str,
        stop: Stopper,
        batch_size: int = 10,
        wait_time_s: int = LONG_POLL_S,
        context_factory: ContextFactory = default_context,
    ) -> None:
        self.name = name
        self.queue_name = queue_name
        self._handler = handler
        self._sqs = sqs
        self._region = region
        self._stop = stop
        # SQS hands out at most 10 messages per receive; Lambda's larger batches need a
        # batching window, which the local stack does without.
        self._batch_size = max(1, min(batch_size, 10))
        self._wait_time_s = wait_time_s
        self._context_factory = context_factory
        self._queue: tuple[str, str] | None = None
        # Guards `_handling` against `stop`: a batch is either handled to the end, or, received
        # after the stop, left alone (it comes back after its visibility timeout, as with a
        # Lambda being shut down).
        self._state = threading.Lock()
        self._handling = False

    def handling(self) -> bool:
        """Whether a batch is being handled; once stopped, one never starts again."""
        with self._state:
            return self._handling

    def _resolve(self) -> tuple[str, str]:
        if self._queue is None:
            url = self._sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self._queue = (url, attributes["Attributes"]["QueueArn"])
        return self._queue

    def poll_once(self) -> int:
        """One receive (long-polling up to `wait_time_s`) and its invocation; messages seen."""
        url, arn = self._resolve()
        received = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_time_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = received.get("Messages", [])
        if not messages:
            return 0
        with self._state:
            if self._stop.is_set():
                return 0
            self._handling = True
        try:
            return self._handle(url, arn, messages)
        finally:
            with self._state:
                self._handling = False

    def _handle(self, url: str, arn: str, messages: list[dict[str, Any]]) -> int:
        records = sqs_records(messages, arn, self._region)
        try:
            result = self._handler({"Records": records}, self._context_factory(self.name))
        except Exception:
            # As with Lambda: nothing is deleted, the batch comes back after the visibility
            # timeout and reaches the dead-letter queue after maxReceiveCount.
            log.exception("queue handler %s failed; %d messages stay", self.name, len(records))
            return len(messages)
        keep = failed_ids(result, [r["messageId"] for r in records])
        done = [r for r in records if r["messageId"] not in keep]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(done[start : start + 10])
            ]
            outcome = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            for failure in outcome.get("Failed", []):
                log.warning("could not delete a message from %s: %s", self.queue_name, failure)
        return len(messages)

    def run(self) -> None:
        """Poll until stopped; a missing queue or a store hiccup is retried, not fatal."""
        reported: str | None = None
        while not self._stop.is_set():
            try:
                seen = self.poll_once()
                reported = None
                # An empty answer normally took the whole long poll; a pause keeps a receive
                # that answers at once (a store not honouring the wait) from spinning a core.
                if not seen and self._stop.wait(EMPTY_PAUSE_S):
                    return
            except Exception as exc:
                if self._stop.is_set():
                    return  # the store stopped under a waiting receive
                problem = f"{type(exc).__name__}: {exc}"
                if problem != reported:  # once per distinct problem, not every retry
                    log.warning("poller %s (%s): %s", self.name, self.queue_name, problem)
                    reported = problem
                self._queue = None
                if self._stop.wait(QUEUE_RETRY_S):
                    return


def queue_name_of(config: SQSEventConfig) -> str:
    """The queue a handler listens to, from its name or its ARN."""
    if config.queue:
        return config.queue
    if config.queue_arn:
        return config.queue_arn.rsplit(":", 1)[-1]
    raise ValueError(f"SQS handler {config.name} names no queue")


class EventSources:
    """Timers and pollers for every scheduled and SQS handler of a Chalice app."""

    def __init__(
        self,
        app: Chalice,
        *,
        stage: str,
        region: str,
        clock: Clock,
        sqs: Any,
        context_factory: ContextFactory = default_context,
        period_override_s: float | None = None,
        periods_s: dict[str, float] | None = None,
        pollers_per_queue: int = 1,
        pollers: dict[str, int] | None = None,
    ) -> None:
        """`pollers` overrides, per handler name, how many pollers its queue gets."""
        self._stop = threading.Event()
        self._threads: list[tuple[ScheduleTimer | QueuePoller, threading.Thread]] = []
        self.timers: list[ScheduleTimer] = []
        self.pollers: list[QueuePoller] = []
        for source in app.event_sources:
            handler: Handler = app.handler_map[source.name]
            if isinstance(source, ScheduledEventConfig):
                period = (
                    period_override_s
                    or (periods_s or {}).get(source.name)
                    or schedule_period_s(source.schedule_expression)
                )
                if period is None:
                    log.warning(
                        "%s runs on a cron schedule; locally it fires every %.0f s "
                        "(set CRONPILOT_SCHEDULE_PERIOD_S to change)",
                        source.name,
                        DEFAULT_CRON_PERIOD_S,
                    )
                    period = DEFAULT_CRON_PERIOD_S
                self.timers.append(
                    ScheduleTimer(
                        source.name,
                        handler,
                        period,
                        rule_name=f"{app.app_name}-{stage}-{source.name}",
                        region=region,
                        clock=clock,
                        stop=self._stop,
                        context_factory=context_factory,
                    )
                )
            elif isinstance(source, SQSEventConfig):
                # Several pollers per queue stand in for Lambda running several executors at
                # once; with one, a slow batch would hold up every message behind it.
                count = (pollers or {}).get(source.name, pollers_per_queue)
                for n in range(count):
                    self.pollers.append(
                        QueuePoller(
                            source.name if n == 0 else f"{source.name}-{n}",
                            handler,
                            queue_name_of(source),
                            sqs=sqs,
                            region=region,
                            stop=self._stop,
                            batch_size=source.batch_size,
                            context_factory=context_factory,
                        )
                    )
            else:
                log.info("%s (%s) has no local trigger", source.name, type(source).__name__)

    def start(self) -> None:
        """One daemon thread per timer and poller."""
        runners: list[ScheduleTimer | QueuePoller] = [*self.timers, *self.pollers]
        for runner in runners:
            thread = threading.Thread(target=runner.run, name=f"event-{runner.name}", daemon=True)
            thread.start()
            self._threads.append((runner, thread))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask every loop to stop and wait for those running a handler."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for runner, thread in self._threads:
            if isinstance(runner, QueuePoller) and not runner.handling():
                # Waiting in a receive (up to LONG_POLL_S): it will not handle what it gets,
                # and its daemon thread ends with the process.
                continue
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s is still running a handler; leaving it", thread.name)
        self._threads.clear()
