"""Deliveries: one item per (notice event, channel), claimed before it is sent.

The claim is a conditional write: the first attempt only if the item does not exist, a retry
only if the item still waits for exactly that attempt. Whoever loses the claim sends nothing,
so duplicated queue messages and racing notifiers send a notice once. A notifier that stopped
after its claim leaves the item `sending`; once its lease has passed the item is marked
`abandoned` and not sent again, because the stopped notifier may already have sent it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.incidents import EventKind
from chalicelib.domain.notices import Attempt, Delivery, DeliveryState, delivery_key
from chalicelib.domain.timeutil import from_ms, iso, parse_instant, to_ms
from chalicelib.store.codec import instant_or_none, ms_or_none
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import DeliveryItem


class DeliveryRepo:
    def claim_first(self, delivery: Delivery, expires_at: datetime) -> bool:
        """Create the delivery `sending` (attempt 1) unless it exists (False)."""
        item = to_item(delivery)
        item.attempt_count = 1
        item.expires_at = expires_at
        try:
            item.save(condition=DeliveryItem.delivery_key.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def claim_retry(
        self, incident_id: str, key: str, attempt: int, lease_until: datetime
    ) -> Delivery | None:
        """Take attempt `attempt` (> 1) of a delivery waiting for it; None when it is not."""
        item = DeliveryItem(incident_id, key)
        try:
            item.update(
                actions=[
                    DeliveryItem.state.set("sending"),
                    DeliveryItem.attempt_count.set(attempt),
                    DeliveryItem.lease_until.set(to_ms(lease_until)),
                ],
                condition=(DeliveryItem.state == "retrying")
                & (DeliveryItem.attempt_count == attempt - 1),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return to_entity(item)

    def finish(
        self, delivery: Delivery, attempt: int, outcome: Attempt, state: DeliveryState
    ) -> bool:
        """Record attempt `attempt`'s outcome and the state it leaves, if this attempt still
        holds the claim."""
        item = DeliveryItem(delivery.incident_id, delivery.key)
        attempts = [*delivery.attempts, outcome]
        actions: list[Any] = [
            DeliveryItem.state.set(state),
            DeliveryItem.attempts.set([_attempt_json(a) for a in attempts]),
            DeliveryItem.lease_until.remove(),
        ]
        if state == "sent":
            actions.append(DeliveryItem.sent_at.set(to_ms(outcome.at)))
        try:
            item.update(
                actions=actions,
                condition=(DeliveryItem.state == "sending")
                & (DeliveryItem.attempt_count == attempt),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def abandon(self, delivery: Delivery, now: datetime) -> bool:
        """Mark a delivery whose sender stopped mid-send (`sending` past its lease) abandoned,
        never to be sent again; False when it is not in that state (any more)."""
        if delivery.state != "sending" or delivery.lease_until is None:
            return False
        if delivery.lease_until > now:
            return False
        outcome = Attempt(
            now,
            "abandoned",
            error="The notifier stopped while sending; not sent again, as it may have arrived",
        )
        item = DeliveryItem(delivery.incident_id, delivery.key)
        try:
            item.update(
                actions=[
                    DeliveryItem.state.set("abandoned"),
                    DeliveryItem.attempts.set(
                        [_attempt_json(a) for a in (*delivery.attempts, outcome)]
                    ),
                    DeliveryItem.lease_until.remove(),
                ],
                condition=(DeliveryItem.state == "sending")
                & (DeliveryItem.attempt_count == len(delivery.attempts) + 1)
                & (DeliveryItem.lease_until == to_ms(delivery.lease_until)),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get(self, incident_id: str, key: str) -> Delivery | None:
        try:
            return to_entity(DeliveryItem.get(incident_id, key, consistent_read=True))
        except DeliveryItem.DoesNotExist:
            return None

    def for_incident(self, incident_id: str) -> list[Delivery]:
        """Every delivery of the incident's events, in creation order."""
        found = [to_entity(i) for i in DeliveryItem.query(incident_id, consistent_read=True)]
        return sorted(found, key=lambda d: (d.created_at, d.key))


def _attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "at": iso(a.at),
        "outcome": a.outcome,
        "durationMs": a.duration_ms,
        "statusCode": a.status_code,
        "error": a.error,
    }


def _attempt_of(value: dict[str, Any]) -> Attempt:
    return Attempt(
        parse_instant(str(value["at"])),
        value.get("outcome", "failed"),
        value.get("durationMs"),
        value.get("statusCode"),
        value.get("error"),
    )


def to_item(d: Delivery) -> DeliveryItem:
    return DeliveryItem(
        d.incident_id,
        d.key,
        tenant_id=d.tenant_id,
        channel_id=d.channel_id,
        channel_kind=d.channel_kind,
        channel_name=d.channel_name,
        event_id=d.event_id,
        event=d.event,
        state=d.state,
        attempt_count=len(d.attempts),
        attempts=[_attempt_json(a) for a in d.attempts],
        lease_until=ms_or_none(d.lease_until),
        created_at=to_ms(d.created_at),
        sent_at=ms_or_none(d.sent_at),
    )


def to_entity(i: DeliveryItem) -> Delivery:
    return Delivery(
        incident_id=i.incident_id,
        tenant_id=i.tenant_id,
        channel_id=i.channel_id,
        channel_kind=i.channel_kind,
        channel_name=i.channel_name,
        event_id=i.event_id,
        event=cast(EventKind, i.event),
        state=cast(DeliveryState, i.state),
        created_at=from_ms(int(i.created_at)),
        attempts=tuple(_attempt_of(a) for a in (i.attempts or [])),
        lease_until=instant_or_none(i.lease_until),
        sent_at=instant_or_none(i.sent_at),
    )


def claimed(delivery: Delivery, lease_until: datetime) -> Delivery:
    """`delivery` as its first claim stores it."""
    return replace(delivery, state="sending", lease_until=lease_until)


__all__ = ["DeliveryRepo", "claimed", "delivery_key"]
