"""The local outbox: email the local stack would have sent, kept so people can read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.models import OutboxItem


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    tenant_id: str
    id: str
    to: str
    sender: str
    subject: str
    body: str
    event_id: str
    sent_at: datetime


class OutboxRepo:
    def put(self, message: OutboxMessage, expires_at: datetime) -> None:
        OutboxItem(
            message.tenant_id,
            message.id,
            to=message.to,
            sender=message.sender,
            subject=message.subject,
            body=message.body,
            event_id=message.event_id,
            sent_at=to_ms(message.sent_at),
            expires_at=expires_at,
        ).save()

    def latest(self, tenant_id: str, limit: int) -> list[OutboxMessage]:
        """The tenant's newest messages first."""
        items = OutboxItem.query(tenant_id, scan_index_forward=False, limit=limit)
        return [
            OutboxMessage(
                i.tenant_id,
                i.message_id,
                i.to,
                i.sender,
                i.subject,
                i.body,
                i.event_id,
                from_ms(int(i.sent_at)),
            )
            for i in items
        ]
