"""The local store forgets old receipt handles of deleted SQS messages (moto keeps them all)."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.local.sqs_trim import DeletedHandles, sqs_backend


def test_only_handles_deleted_since_the_previous_trim_are_kept(aws: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="runs")["QueueUrl"]
    backend = sqs_backend("us-east-1")
    queue = backend.queues["runs"]

    def deliver(n: int) -> list[str]:
        for i in range(n):
            sqs.send_message(QueueUrl=url, MessageBody=str(i))
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(got) == n
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [m["ReceiptHandle"] for m in got]

    handles = DeletedHandles(backend)
    first = deliver(5)
    assert handles.trim() == 0  # nothing older than the previous trim yet
    second = deliver(3)
    assert handles.trim() >= 5  # moto may keep more than one handle per message
    assert queue.deleted_messages.isdisjoint(first)
    assert set(second) <= queue.deleted_messages
    # A repeated delete of a recent message is still accepted, as SQS does.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0])
    # One trim later the old handles are gone: what a stack running for weeks no longer keeps.
    assert handles.trim() >= 3 and queue.deleted_messages == set()
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0])
    # Queues made after the first trim are trimmed too.
    other = sqs.create_queue(QueueName="notices")["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="x")
    (m,) = sqs.receive_message(QueueUrl=other)["Messages"]
    sqs.delete_message(QueueUrl=other, ReceiptHandle=m["ReceiptHandle"])
    assert handles.trim() == 0 and handles.trim() >= 1
    assert backend.queues["notices"].deleted_messages == set()
