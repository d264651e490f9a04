"""Slots in flight: the runs-queue message format and the SQS sender."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.timeutil import from_ms, to_ms

log = logging.getLogger("cronpilot.engine")
MAX_DELAY_S = 900  # SQS's own limit
# The longest claim a message may ask for: the longest timeout (14 min) with room to spare.
MAX_LOCK_MS = 2 * 3_600_000
BATCH = 10


@dataclass(frozen=True, slots=True)
class QueuedSlot:
    """One scheduled execution: what a runs-queue message carries."""

    tenant_id: str
    endpoint_id: str
    at: datetime
    lock_ms: int

    def encode(self) -> str:
        return json.dumps(
            {
                "tenantId": self.tenant_id,
                "endpointId": self.endpoint_id,
                "slot": to_ms(self.at),
                "lockMs": self.lock_ms,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, body: str) -> QueuedSlot:
        """Parse a message body; ValueError when it is not a slot."""
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("slot message must be a JSON object")
        tenant, endpoint, slot = data.get("tenantId"), data.get("endpointId"), data.get("slot")
        lock_ms = data.get("lockMs")
        if not (isinstance(tenant, str) and isinstance(endpoint, str)):
            raise ValueError("slot message needs tenantId and endpointId")
        if not isinstance(slot, int) or isinstance(slot, bool):
            raise ValueError("slot message needs slot as epoch milliseconds")
        if not isinstance(lock_ms, int) or isinstance(lock_ms, bool):
            raise ValueError("slot message needs lockMs as an integer")
        if not 0 < lock_ms <= MAX_LOCK_MS:
            raise ValueError(f"lockMs must be between 1 and {MAX_LOCK_MS}")
        return cls(tenant, endpoint, from_ms(slot), lock_ms)


def delay_seconds(slot: datetime, now: datetime) -> int:
    """SQS delay that makes the message visible on the slot's second (never early)."""
    return max(0, min(MAX_DELAY_S, math.ceil((slot - now).total_seconds())))


class SlotQueue(Protocol):
    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None: ...


class SqsQueue:
    """One SQS queue by name: the client and URL are looked up on first use (a cold start
    that never sends pays nothing)."""

    def __init__(self, queue_name: str, region: str) -> None:
        self._name = queue_name
        self._region = region
        self._client: Any = None
        self._url: str | None = None

    def _queue(self) -> tuple[Any, str]:
        if self._client is None or self._url is None:
            import boto3

            self._client = boto3.client("sqs", region_name=self._region)
            self._url = self._client.get_queue_url(QueueName=self._name)["QueueUrl"]
        return self._client, self._url


class SqsSlotQueue(SqsQueue):
    """Sends slots to the runs queue in batches of ten. A slot whose send fails is not lost:
    the dispatcher re-sends due slots that nobody claimed."""

    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None:
        if not slots:
            return
        client, url = self._queue()
        for start in range(0, len(slots), BATCH):
            chunk = slots[start : start + BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": slot.encode(),
                    "DelaySeconds": delay_seconds(slot.at, now),
                }
                for i, slot in enumerate(chunk)
            ]
            try:
                reply = client.send_message_batch(QueueUrl=url, Entries=entries)
            except Exception:
                log.exception("could not send %d slots; the dispatcher will re-send", len(chunk))
                continue
            for failed in reply.get("Failed", []):
                log.warning("slot not sent (%s); the dispatcher will re-send", failed)
