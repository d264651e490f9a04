"""Sending alert email: Amazon SES on AWS, the outbox table on the local stack."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.timeutil import to_ms
from chalicelib.store.outbox import OutboxMessage, OutboxRepo

OUTBOX_KEPT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Mail:
    tenant_id: str
    to: str
    subject: str
    body: str
    event_id: str


class Mailer(Protocol):
    def send(self, mail: Mail, now: datetime) -> None:
        """Hand the message over; raises when it was refused."""
        ...


class SesMailer:
    """SES v2 `SendEmail` from the configured sender (a verified identity)."""

    def __init__(self, sender: str, region: str) -> None:
        self._sender = sender
        self._region = region
        self._client: Any = None

    def send(self, mail: Mail, now: datetime) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2", region_name=self._region)
        self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [mail.to]},
            Content={
                "Simple": {
                    "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": mail.body, "Charset": "UTF-8"}},
                }
            },
        )


class OutboxMailer:
    """Keeps what would have gone out, for `GET /outbox` and `cronpilot outbox`."""

    def __init__(self, sender: str, repo: OutboxRepo | None = None) -> None:
        self._sender = sender
        self._repo = repo or OutboxRepo()

    def send(self, mail: Mail, now: datetime) -> None:
        message_id = f"msg_{to_ms(now):013d}_{secrets.token_hex(5)}"
        message = OutboxMessage(
            mail.tenant_id,
            message_id,
            mail.to,
            self._sender,
            mail.subject,
            mail.body,
            mail.event_id,
            now,
        )
        self._repo.put(message, now + OUTBOX_KEPT)
