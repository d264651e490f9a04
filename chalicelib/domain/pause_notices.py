"""Notices that the planner or a reflex paused or resumed an endpoint. Pure.

Sent only when the job's alert policy asks (`notifyOnPause`), and only for what a machine did:
a person who pauses an endpoint knows it already. The notice carries everything it says, so
the notifier needs no read to render it; its id is fixed by the endpoint and the instant, so
a duplicated message is one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast, get_args

from chalicelib.domain.entities import Actor, ActorType, Endpoint
from chalicelib.domain.timeutil import from_ms, to_ms

PauseEvent = Literal["paused", "resumed"]
# Who a pause notice is about: people are not told what they did themselves.
NOTIFIED_ACTORS: frozenset[str] = frozenset({"session", "reflex"})
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class PauseNotice:
    """One pause or resume of an endpoint by the planner or a reflex."""

    tenant_id: str
    job_id: str
    endpoint_id: str
    endpoint_name: str
    event: PauseEvent
    at: datetime
    by: Actor
    until: datetime | None = None
    reason: str | None = None

    @property
    def subject_id(self) -> str:
        """Where its deliveries are recorded (one partition per endpoint)."""
        return f"pause_{self.endpoint_id}"

    @property
    def event_id(self) -> str:
        return f"{self.subject_id}:{self.event}:{to_ms(self.at)}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "jobId": self.job_id,
            "endpointId": self.endpoint_id,
            "endpointName": self.endpoint_name,
            "event": self.event,
            "at": to_ms(self.at),
            "by": {"type": self.by.type, "id": self.by.id},
        }
        if self.until is not None:
            data["until"] = to_ms(self.until)
        if self.reason:
            data["reason"] = self.reason
        return data

    @classmethod
    def from_json(cls, tenant_id: str, data: object) -> PauseNotice:
        """Parse what `to_json` wrote; ValueError on anything else."""
        if not isinstance(data, dict):
            raise ValueError("pause must be a JSON object")
        texts = [data.get(k) for k in ("jobId", "endpointId", "endpointName")]
        if not all(isinstance(t, str) and t for t in texts):
            raise ValueError("pause needs jobId, endpointId and endpointName")
        event, at, by = data.get("event"), data.get("at"), data.get("by")
        if event not in get_args(PauseEvent):
            raise ValueError(f"unknown pause event {event!r}")
        if not _ms(at):
            raise ValueError("pause.at must be epoch milliseconds")
        if not (
            isinstance(by, dict)
            and by.get("type") in NOTIFIED_ACTORS
            and isinstance(by.get("id"), str)
            and by["id"]
        ):
            raise ValueError("pause.by must name a session or a reflex")
        until, reason = data.get("until"), data.get("reason")
        if until is not None and not _ms(until):
            raise ValueError("pause.until must be epoch milliseconds")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("pause.reason must be a string")
        job_id, endpoint_id, name = (cast(str, t) for t in texts)
        return cls(
            tenant_id,
            job_id,
            endpoint_id,
            name,
            cast(PauseEvent, event),
            from_ms(cast(int, at)),
            Actor(cast(ActorType, by["type"]), by["id"]),
            from_ms(cast(int, until)) if until is not None else None,
            reason,
        )


def _ms(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def pause_notice(
    before: Endpoint, after: Endpoint, now: datetime, by: Actor | None, reason: str | None
) -> PauseNotice | None:
    """What a change by `by` is worth telling: a pause (or a pause moved to another end), a
    resume, or nothing (no change, or a person's own doing)."""
    if by is None or by.type not in NOTIFIED_ACTORS:
        return None
    was, is_now = before.paused_at(now), after.paused_at(now)
    event: PauseEvent
    if is_now and (not was or before.paused_until != after.paused_until):
        event = "paused"
    elif was and not is_now:
        event = "resumed"
    else:
        return None
    return PauseNotice(
        after.tenant_id,
        after.job_id,
        after.id,
        after.name,
        event,
        now,
        by,
        after.paused_until if event == "paused" else None,
        reason[:MAX_REASON] if reason else None,
    )
