"""The runs-queue message format and SQS delays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.engine.queue import MAX_LOCK_MS, QueuedSlot, delay_seconds

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_round_trip() -> None:
    slot = QueuedSlot("acme", "ep1", T0 + timedelta(milliseconds=5), 40_000)
    assert QueuedSlot.decode(slot.encode()) == slot


@pytest.mark.parametrize(
    "body",
    [
        {"tenantId": "a", "endpointId": "e", "slot": True, "lockMs": 1000},
        {"tenantId": "a", "endpointId": "e", "slot": 1, "lockMs": MAX_LOCK_MS + 1},
        {"tenantId": "a", "endpointId": "e", "slot": 1, "lockMs": 0},
        {"tenantId": "a", "endpointId": "e", "slot": 1, "lockMs": True},
        {"tenantId": "a", "endpointId": "e", "slot": "1", "lockMs": 1000},
        {"tenantId": 1, "endpointId": "e", "slot": 1, "lockMs": 1000},
        ["not", "an", "object"],
    ],
)
def test_malformed_messages_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        QueuedSlot.decode(json.dumps(body))


def test_delay_rounds_up_and_is_capped() -> None:
    assert delay_seconds(T0, T0 + timedelta(seconds=5)) == 0
    assert delay_seconds(T0 + timedelta(milliseconds=1), T0) == 1
    assert delay_seconds(T0 + timedelta(seconds=2), T0) == 2
    assert delay_seconds(T0 + timedelta(hours=1), T0) == 900
