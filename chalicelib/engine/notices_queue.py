"""Notices waiting to go out: the notifications-queue message format and the SQS sender.

A message names one incident event (`incidentId`, `event`, `sequence`), or carries a whole
pause notice (`pause`: the planner or a reflex paused or resumed an endpoint); the notifier
sends it to every channel subscribed to the job. A retry names one channel and the attempt
it is for. Messages may be duplicated: the deliveries' claims make that harmless.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol, cast, get_args

from chalicelib.domain.incidents import EventKind, event_id
from chalicelib.domain.notices import Notice
from chalicelib.domain.pause_notices import PauseNotice
from chalicelib.engine.queue import MAX_DELAY_S, SqsQueue

log = logging.getLogger("cronpilot.alerts")


@dataclass(frozen=True, slots=True)
class NoticeRef:
    tenant_id: str
    incident_id: str
    event: EventKind
    sequence: int = 0
    channel_id: str | None = None
    attempt: int = 1
    pause: PauseNotice | None = None

    @classmethod
    def for_pause(cls, notice: PauseNotice) -> NoticeRef:
        """The message for a pause notice (its deliveries are kept under its subject)."""
        return cls(notice.tenant_id, notice.subject_id, notice.event, pause=notice)

    @classmethod
    def for_retry(
        cls, tenant_id: str, incident_id: str, notice: Notice, channel_id: str, failed_attempt: int
    ) -> NoticeRef:
        """The message that retries `notice` to one channel after attempt `failed_attempt`."""
        return cls(
            tenant_id,
            incident_id,
            notice.event,
            notice.sequence,
            channel_id,
            failed_attempt + 1,
            notice.pause,
        )

    @property
    def event_id(self) -> str:
        if self.pause is not None:
            return self.pause.event_id
        return event_id(self.incident_id, self.event, self.sequence)

    def encode(self) -> str:
        data: dict[str, object] = {
            "tenantId": self.tenant_id,
            "incidentId": self.incident_id,
            "event": self.event,
        }
        if self.sequence:
            data["sequence"] = self.sequence
        if self.channel_id is not None:
            data["channelId"] = self.channel_id
            data["attempt"] = self.attempt
        if self.pause is not None:
            data["pause"] = self.pause.to_json()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, body: str) -> NoticeRef:
        """Parse a message body; ValueError when it is not a notice reference."""
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("notice message must be a JSON object")
        tenant, incident, event = data.get("tenantId"), data.get("incidentId"), data.get("event")
        if not (isinstance(tenant, str) and tenant and isinstance(incident, str) and incident):
            raise ValueError("notice message needs tenantId and incidentId")
        if event not in get_args(EventKind) or event == "test":
            raise ValueError(f"unknown notice event {event!r}")
        pause = None
        if "pause" in data:
            pause = PauseNotice.from_json(tenant, data["pause"])
            if (incident, event) != (pause.subject_id, pause.event):
                raise ValueError("a pause notice's incidentId and event must match its pause")
        elif event in ("paused", "resumed"):
            raise ValueError(f"a {event!r} notice needs its pause")
        sequence, channel, attempt = (
            data.get("sequence", 0),
            data.get("channelId"),
            data.get("attempt", 1),
        )
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise ValueError("sequence must be a non-negative integer")
        if channel is not None and not (isinstance(channel, str) and channel):
            raise ValueError("channelId must be a string")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError("attempt must be a positive integer")
        return cls(tenant, incident, cast(EventKind, event), sequence, channel, attempt, pause)


class NoticeQueue(Protocol):
    def send(self, notice: NoticeRef, delay_s: int = 0) -> None: ...


class SqsNoticeQueue(SqsQueue):
    """Sends one notice reference. A failed send is logged: the incident stays stored and
    listed, and its reminders (when configured) still go out."""

    def send(self, notice: NoticeRef, delay_s: int = 0) -> None:
        try:
            client, url = self._queue()
            client.send_message(
                QueueUrl=url,
                MessageBody=notice.encode(),
                DelaySeconds=max(0, min(MAX_DELAY_S, delay_s)),
            )
        except Exception:
            log.exception("could not queue notice %s", notice.event_id)
