"""Alerts: channels, incidents, alert policies and the local email outbox."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.alert_responses import (
    AlertPolicyResponse,
    ChannelList,
    ChannelResponse,
    DeliveryResponse,
    IncidentDetailResponse,
    IncidentList,
    IncidentResponse,
    OutboxList,
    OutboxMessageOut,
)
from chalicelib.domain.alert_schemas import (
    AlertPolicyInput,
    ChannelCreate,
    ChannelUpdate,
    IncidentsQuery,
    OutboxQuery,
)
from chalicelib.services import alert_policy, channels, incidents

api = Router(__name__, "Alerts")

CHANNEL = "/channels/{channel_id}"
KINDS = (
    "webhook: a signed JSON POST (X-Cronpilot-Signature, as runs); slack: an incoming-webhook "
    "message; email: through Amazon SES (the local stack keeps it in GET /outbox). URLs are "
    "secrets: stored encrypted, returned masked."
)


@api.route("/channels", "GET", "List alert channels", response=ChannelList)
def list_channels() -> dict[str, Any]:
    d = deps.get()
    found = channels.list_channels(d, api.tenant())
    return ChannelList(channels=[ChannelResponse.of(c, channels.shown(d, c)) for c in found]).wire()


@api.route(
    "/channels",
    "POST",
    "Add an alert channel",
    status=201,
    body=ChannelCreate,
    response=ChannelResponse,
    description=KINDS,
    not_found=True,
)
def create_channel() -> dict[str, Any]:
    d = deps.get()
    created = channels.create_channel(d, api.tenant(), api.body(ChannelCreate))
    return ChannelResponse.of(created, channels.shown(d, created)).wire()


@api.route(CHANNEL, "GET", "Get an alert channel", response=ChannelResponse)
def get_channel(channel_id: str) -> dict[str, Any]:
    d = deps.get()
    found = channels.get_channel(d, api.tenant(), channel_id)
    return ChannelResponse.of(found, channels.shown(d, found)).wire()


@api.route(
    CHANNEL,
    "PATCH",
    "Change an alert channel",
    body=ChannelUpdate,
    response=ChannelResponse,
    description="Absent fields stay; leave url out to keep the stored one.",
)
def update_channel(channel_id: str) -> dict[str, Any]:
    d = deps.get()
    request = api.body(ChannelUpdate)
    saved = channels.update_channel(d, api.tenant(), channel_id, request)
    return ChannelResponse.of(saved, channels.shown(d, saved)).wire()


@api.route(CHANNEL, "DELETE", "Remove an alert channel", status=204)
def delete_channel(channel_id: str) -> None:
    channels.delete_channel(deps.get(), api.tenant(), channel_id)


@api.route(
    CHANNEL + "/test",
    "POST",
    "Send a test notice",
    response=DeliveryResponse,
    body_required=False,
    description="Sends now and answers with the attempt's outcome (no retries).",
)
def test_channel(channel_id: str) -> dict[str, Any]:
    delivery = channels.test_channel(deps.get(), api.tenant(), channel_id)
    return DeliveryResponse.of(delivery).wire()


@api.route(
    "/incidents",
    "GET",
    "List incidents, open first",
    query=IncidentsQuery,
    response=IncidentList,
    not_found=True,
)
def list_incidents() -> dict[str, Any]:
    found = incidents.list_incidents(deps.get(), api.tenant(), api.query(IncidentsQuery))
    return IncidentList(incidents=[IncidentResponse.of(i) for i in found]).wire()


@api.route(
    "/incidents/{incident_id}",
    "GET",
    "Incident details",
    response=IncidentDetailResponse,
)
def get_incident(incident_id: str) -> dict[str, Any]:
    detail = incidents.get_incident(deps.get(), api.tenant(), incident_id)
    return IncidentDetailResponse.detail(detail.incident, detail.runs, detail.deliveries).wire()


@api.route("/alert-policy", "GET", "The tenant's alert defaults", response=AlertPolicyResponse)
def get_defaults() -> dict[str, Any]:
    return AlertPolicyResponse.of(alert_policy.tenant_defaults(deps.get(), api.tenant())).wire()


@api.route(
    "/alert-policy",
    "PUT",
    "Set the tenant's alert defaults",
    body=AlertPolicyInput,
    response=AlertPolicyResponse,
    description="Replaces the defaults; absent fields take the built-in ones.",
)
def set_defaults() -> dict[str, Any]:
    request = api.body(AlertPolicyInput)
    policy = alert_policy.set_tenant_defaults(deps.get(), api.tenant(), request)
    return AlertPolicyResponse.of(policy).wire()


@api.route(
    "/jobs/{job_id}/alert-policy", "GET", "A job's alert policy", response=AlertPolicyResponse
)
def get_job_policy(job_id: str) -> dict[str, Any]:
    policy, own = alert_policy.job_policy(deps.get(), api.tenant(), job_id)
    return AlertPolicyResponse.of(policy, job_id, own).wire()


@api.route(
    "/jobs/{job_id}/alert-policy",
    "PUT",
    "Set a job's alert policy",
    body=AlertPolicyInput,
    response=AlertPolicyResponse,
    description="Replaces the job's own settings; absent fields follow the tenant's defaults.",
)
def set_job_policy(job_id: str) -> dict[str, Any]:
    request = api.body(AlertPolicyInput)
    policy, own = alert_policy.set_job_policy(deps.get(), api.tenant(), job_id, request)
    return AlertPolicyResponse.of(policy, job_id, own).wire()


@api.route(
    "/outbox",
    "GET",
    "Email the local stack would have sent",
    query=OutboxQuery,
    response=OutboxList,
    description="Filled when CRONPILOT_MAILER=outbox (the local stack's default); newest first.",
)
def outbox() -> dict[str, Any]:
    d = deps.get()
    query = api.query(OutboxQuery)
    found = d.outbox.latest(api.tenant().id, query.limit)
    messages = [
        OutboxMessageOut(
            id=m.id,
            to=m.to,
            sender=m.sender,
            subject=m.subject,
            body=m.body,
            event_id=m.event_id,
            sent_at=m.sent_at,
        )
        for m in found
    ]
    return OutboxList(messages=messages).wire()
