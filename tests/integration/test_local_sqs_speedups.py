"""The local store checks a received message's retention without walking its whole queue, and
wakes a long poll when a delayed message comes due."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.sqs.models import Queue, SQSBackend

from chalicelib.clock import epoch_seconds
from chalicelib.local import sqs_speedups
from chalicelib.local.sqs_trim import sqs_backend

QUEUE = "retention"


@pytest.fixture
def attribute_walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the queues whose full attribute set was computed."""
    walks: list[str] = []
    original = Queue.attributes.fget  # type: ignore[attr-defined]

    def counted(queue: Queue) -> dict[str, Any]:
        walks.append(queue.name)
        return original(queue)  # type: ignore[no-any-return]

    monkeypatch.setattr(Queue, "attributes", property(counted))
    return walks


@pytest.fixture
def sqs(aws: None) -> Iterator[Any]:
    """A client, and a queue named `retention` that keeps messages 120 s, deleted afterwards."""
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName=QUEUE, Attributes={"MessageRetentionPeriod": "120"})[
        "QueueUrl"
    ]
    yield client
    client.delete_queue(QueueUrl=url)


def _patch_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    # Through monkeypatch, so moto is itself again for the tests after this one.
    monkeypatch.setattr(
        SQSBackend, "is_message_valid_based_on_retention_period", sqs_speedups.still_retained
    )


def _fill(sqs: Any, delayed: int, ready: int) -> str:
    url: str = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for i in range(delayed):  # one per endpoint, waiting for its next slot
        sqs.send_message(QueueUrl=url, MessageBody=f"later {i}", DelaySeconds=900)
    for i in range(ready):
        sqs.send_message(QueueUrl=url, MessageBody=f"now {i}")
    return url


@pytest.mark.parametrize("install", [False, True], ids=["moto alone", "patched"])
def test_a_receive_walks_the_queues_attributes_only_without_the_patch(
    sqs: Any, monkeypatch: pytest.MonkeyPatch, attribute_walks: list[str], install: bool
) -> None:
    if install:
        _patch_retention(monkeypatch)
    url = _fill(sqs, delayed=50, ready=5)
    attribute_walks.clear()
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == [f"now {i}" for i in range(5)]
    # moto alone computes every attribute (at least) once per message delivered, so this check
    # can fail.
    if install:
        assert attribute_walks == []
    else:
        assert len(attribute_walks) >= 5 and set(attribute_walks) == {QUEUE}


@pytest.mark.parametrize("install", [False, True], ids=["moto alone", "patched"])
def test_a_message_past_the_queues_retention_is_not_delivered(
    sqs: Any, monkeypatch: pytest.MonkeyPatch, install: bool
) -> None:
    if install:
        _patch_retention(monkeypatch)
    url = _fill(sqs, delayed=0, ready=3)
    backend = sqs_backend("us-east-1")
    young, old, _ = backend.queues[QUEUE]._messages  # in the order they were sent
    young.sent_timestamp -= 119_000  # the queue keeps messages 120 s
    old.sent_timestamp -= 121_000
    assert sqs_speedups.still_retained(backend, QUEUE, young)
    assert not sqs_speedups.still_retained(backend, QUEUE, old)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    # moto's rule, kept: the first expired message ends the receive's pass.
    assert [m["Body"] for m in got] == ["now 0"]


def test_the_direct_clock_reads_what_motos_clock_reads() -> None:
    from moto.core.utils import unix_time, unix_time_millis

    seconds = sqs_speedups.direct_clock(unix_time, 1.0)
    millis = sqs_speedups.direct_clock(unix_time_millis, 1000.0)
    before = unix_time()
    now_s, now_ms = seconds(), millis()
    after = unix_time()
    assert before - 0.001 <= now_s <= after + 0.001
    assert before * 1000 - 1 <= now_ms <= after * 1000 + 1
    given = datetime(2026, 12, 5, 12, 0, 0, 250_000)  # naive UTC, as moto passes them
    assert seconds(given) == unix_time(given) == 1796472000.25
    assert millis(given) == unix_time_millis(given)


def _undo_install_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything `install` replaces in moto, put back after the test through monkeypatch."""
    from moto.sqs import models

    for name in ("unix_time", "unix_time_millis"):
        monkeypatch.setattr(models, name, getattr(models, name))
    monkeypatch.setattr(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        SQSBackend.is_message_valid_based_on_retention_period,
    )
    monkeypatch.setattr(Queue, "wait_for_messages", Queue.wait_for_messages)


def test_install_puts_both_in_motos_sqs(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    _undo_install_afterwards(monkeypatch)
    sqs_speedups.install()
    assert SQSBackend.is_message_valid_based_on_retention_period is sqs_speedups.still_retained
    assert Queue.wait_for_messages.__qualname__ == "long_poll_wait.<locals>.wait_for_messages"
    for name in ("unix_time", "unix_time_millis"):
        assert getattr(models, name).__qualname__ == "direct_clock.<locals>.unix_time"


# --- long polls ---------------------------------------------------------------------------

NOW_MS = 1_796_472_000_000.0


def _message(visible_at: float = 0.0, delayed_until: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(visible_at=visible_at, delayed_until=delayed_until)


@pytest.mark.parametrize(
    ("messages", "seconds"),
    [
        ([], math.inf),
        ([_message()], math.inf),  # receivable now: nothing to wait for
        ([_message(delayed_until=NOW_MS + 2_500)], 2.5),
        ([_message(visible_at=NOW_MS + 700)], 0.7),  # in flight until then
        (
            [_message(delayed_until=NOW_MS + 9_000), _message(visible_at=NOW_MS + 300)],
            0.3,
        ),
        # Delayed and then received: receivable once both instants have passed.
        ([_message(visible_at=NOW_MS + 400, delayed_until=NOW_MS + 100)], 0.4),
    ],
)
def test_seconds_until_the_first_waiting_message_is_receivable(
    messages: list[SimpleNamespace], seconds: float
) -> None:
    queue = SimpleNamespace(_messages=messages)
    found = sqs_speedups.seconds_until_receivable(queue, NOW_MS)
    assert found == pytest.approx(seconds + sqs_speedups.WAKE_MARGIN_S)


class RecordingCondition:
    """A queue's condition that records each wait instead of waiting."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.waits: list[float] = []

    def __enter__(self) -> None:
        self.log.append("lock")

    def __exit__(self, *exc: object) -> None:
        self.log.append("unlock")

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.log.append("wait")
        return False


@pytest.mark.parametrize(
    ("messages", "expected_waits"),
    [
        ([], [1.0]),  # nothing waiting: moto's own second
        ([_message(delayed_until=NOW_MS + 250)], [0.25 + sqs_speedups.WAKE_MARGIN_S]),
        ([_message(delayed_until=NOW_MS + 5_000)], [1.0]),  # not before moto's second
        ([_message(visible_at=NOW_MS - 1)], []),  # one is receivable: no wait at all
    ],
)
def test_a_long_poll_waits_until_the_first_message_comes_due(
    monkeypatch: pytest.MonkeyPatch, messages: list[SimpleNamespace], expected_waits: list[float]
) -> None:
    monkeypatch.setattr(sqs_speedups, "epoch_seconds", lambda: NOW_MS / 1000)
    log: list[str] = []

    @contextmanager
    def parked() -> Iterator[None]:
        log.append("parked")
        yield
        log.append("resumed")

    condition = RecordingCondition(log)
    queue = SimpleNamespace(
        _messages=messages,
        _messages_lock=condition,
        messages=[m for m in messages if m.visible_at < NOW_MS and m.delayed_until <= NOW_MS],
    )
    sqs_speedups.long_poll_wait(parked)(queue, 1)
    assert condition.waits == pytest.approx(expected_waits)
    # The request counts as parked for the whole wait, and holds no queue lock while it parks
    # or resumes.
    assert log == ["parked", "lock", *(["wait"] * len(expected_waits)), "unlock", "resumed"]


def test_a_long_poll_in_moto_is_woken_when_a_delayed_message_comes_due(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Queue, "wait_for_messages", sqs_speedups.long_poll_wait())
    url = _fill(sqs, delayed=0, ready=0)
    sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=1)
    backend = sqs_backend("us-east-1")
    [message] = backend.queues[QUEUE]._messages
    message.delayed_until = epoch_seconds() * 1000 + 200  # due in 0.2 s
    waits: list[float] = []
    condition = backend.queues[QUEUE]._messages_lock
    original_wait = condition.wait

    def recorded(timeout: float | None = None) -> bool:
        assert timeout is not None
        waits.append(timeout)
        return bool(original_wait(timeout))

    monkeypatch.setattr(condition, "wait", recorded)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in got] == ["soon"]
    # moto alone waits a whole second; the patch waits until the message is due.
    assert waits and all(w <= 0.2 + sqs_speedups.WAKE_MARGIN_S for w in waits)


def test_installing_twice_wraps_the_clock_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    _undo_install_afterwards(monkeypatch)
    sqs_speedups.install()
    first = getattr(models, "unix_time")  # noqa: B009 (not exported, for mypy)
    sqs_speedups.install()
    assert getattr(models, "unix_time") is first  # noqa: B009
    assert first() == pytest.approx(epoch_seconds(), abs=0.5)
