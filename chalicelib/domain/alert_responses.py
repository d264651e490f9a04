"""Response models of alerts: channels (URLs masked), incidents, deliveries, policies, outbox."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.domain.channels import Channel
from chalicelib.domain.entities import Run
from chalicelib.domain.incidents import AlertPolicy, EventKind, Incident, LastError
from chalicelib.domain.notices import Attempt, Delivery
from chalicelib.domain.responses import Iso, Out, RunResponse


class ChannelResponse(Out):
    id: str
    name: str
    kind: Literal["webhook", "slack", "email"]
    url: str | None = Field(None, description="webhook and slack: scheme and host only, masked")
    address: str | None = Field(None, description="email: the recipient")
    job_ids: list[str] | None = Field(None, description="null: every job of the tenant")
    enabled: bool
    created_at: Iso
    updated_at: Iso

    always = ("jobIds",)

    @classmethod
    def of(cls, c: Channel, shown: str) -> ChannelResponse:
        is_url = c.kind in ("webhook", "slack")
        return cls(
            id=c.id,
            name=c.name,
            kind=c.kind,
            url=shown if is_url else None,
            address=None if is_url else shown,
            job_ids=list(c.job_ids) if c.job_ids is not None else None,
            enabled=c.enabled,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ChannelList(Out):
    channels: list[ChannelResponse]


class LastErrorOut(Out):
    run_id: str
    at: Iso
    status_code: int | None = None
    error_kind: str | None = None
    message: str | None = None

    @classmethod
    def of(cls, e: LastError | None) -> LastErrorOut | None:
        if e is None:
            return None
        return cls(
            run_id=e.run_id,
            at=e.at,
            status_code=e.status_code,
            error_kind=e.error_kind,
            message=e.message,
        )


class IncidentResponse(Out):
    id: str
    kind: Literal["failures", "late"]
    state: Literal["open", "closed"]
    job_id: str
    endpoint_id: str
    endpoint_name: str
    opened_at: Iso
    closed_at: Iso | None = None
    failure_count: int = Field(description="Consecutive failures when it opened")
    late_by_ms: int | None = Field(None, description="late: how late the slot was")
    last_error: LastErrorOut | None = None
    reminders: int = Field(description="Reminders sent while open")
    next_reminder_at: Iso | None = None

    always = ("closedAt", "lastError")

    @classmethod
    def of(cls, i: Incident) -> IncidentResponse:
        return cls(
            id=i.id,
            kind=i.kind,
            state=i.state,
            job_id=i.job_id,
            endpoint_id=i.endpoint_id,
            endpoint_name=i.endpoint_name,
            opened_at=i.opened_at,
            closed_at=i.closed_at,
            failure_count=i.failure_count,
            late_by_ms=i.late_by_ms,
            last_error=LastErrorOut.of(i.last_error),
            reminders=i.realert_count,
            next_reminder_at=i.next_realert_at if i.state == "open" else None,
        )


class IncidentList(Out):
    incidents: list[IncidentResponse]


class AttemptOut(Out):
    at: Iso
    outcome: Literal["sent", "failed", "abandoned"]
    duration_ms: int | None = None
    status_code: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            at=a.at,
            outcome=a.outcome,
            duration_ms=a.duration_ms,
            status_code=a.status_code,
            error=a.error,
        )


class DeliveryResponse(Out):
    event_id: str
    event: EventKind
    channel_id: str
    channel_kind: str
    channel_name: str
    state: Literal["sending", "sent", "retrying", "failed", "abandoned"]
    created_at: Iso
    sent_at: Iso | None = None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, d: Delivery) -> DeliveryResponse:
        return cls(
            event_id=d.event_id,
            event=d.event,
            channel_id=d.channel_id,
            channel_kind=d.channel_kind,
            channel_name=d.channel_name,
            state=d.state,
            created_at=d.created_at,
            sent_at=d.sent_at,
            attempts=[AttemptOut.of(a) for a in d.attempts],
        )


class IncidentDetailResponse(IncidentResponse):
    opening_runs: list[RunResponse] = Field(description="The failed runs that opened it")
    closing_run_id: str | None = None
    notifications: list[DeliveryResponse] = Field(
        description="Every notice sent or tried, per channel, with each attempt"
    )

    @classmethod
    def detail(
        cls, i: Incident, runs: list[Run], deliveries: list[Delivery]
    ) -> IncidentDetailResponse:
        return cls(
            **IncidentResponse.of(i).model_dump(),
            opening_runs=[RunResponse.of(r) for r in runs],
            closing_run_id=i.closing_run_id,
            notifications=[DeliveryResponse.of(d) for d in deliveries],
        )


class AlertPolicyResponse(Out):
    failure_threshold: int
    notify_on_recovery: bool
    realert_minutes: int | None = None
    late_after_ms: int
    notify_on_pause: bool
    job_id: str | None = None
    own_fields: list[str] | None = Field(
        None,
        description="Job policies: the fields the job sets itself (the rest follow the "
        "tenant's defaults)",
    )

    always = ("realertMinutes",)

    @classmethod
    def of(
        cls, p: AlertPolicy, job_id: str | None = None, own: list[str] | None = None
    ) -> AlertPolicyResponse:
        return cls(
            failure_threshold=p.failure_threshold,
            notify_on_recovery=p.notify_on_recovery,
            realert_minutes=p.realert_minutes,
            late_after_ms=p.late_after_ms,
            notify_on_pause=p.notify_on_pause,
            job_id=job_id,
            own_fields=own,
        )


class OutboxMessageOut(Out):
    id: str
    to: str
    sender: str = Field(alias="from")
    subject: str
    body: str
    event_id: str
    sent_at: Iso


class OutboxList(Out):
    messages: list[OutboxMessageOut]
