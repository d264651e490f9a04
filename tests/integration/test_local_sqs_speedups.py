"""The local store checks a received message's retention without walking its whole queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto.sqs.models import Queue, SQSBackend

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


def test_install_puts_both_in_motos_sqs(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    for name in ("unix_time", "unix_time_millis"):
        monkeypatch.setattr(models, name, getattr(models, name))
    monkeypatch.setattr(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        SQSBackend.is_message_valid_based_on_retention_period,
    )
    sqs_speedups.install()
    assert SQSBackend.is_message_valid_based_on_retention_period is sqs_speedups.still_retained
    for name in ("unix_time", "unix_time_millis"):
        assert getattr(models, name).__qualname__ == "direct_clock.<locals>.unix_time"
