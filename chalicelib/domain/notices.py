"""What a notice says: the webhook's JSON, the Slack message and the email, for one incident
event or one pause by the planner or a reflex. Pure: the same event always reads the same,
so a retried delivery sends the same words.

A notice carries its `eventId`; receivers that want belt and braces can drop a repeated id
(Cronpilot itself never sends an event twice to a channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from chalicelib.domain.incidents import EventKind, Incident
from chalicelib.domain.pause_notices import PauseNotice
from chalicelib.domain.timeutil import iso

_BY = {"session": "the planner", "reflex": "a reflex"}

# Delivery retries: after a failed attempt n (1-based) the next waits BACKOFF_S[n-1] seconds.
BACKOFF_S = (10, 60, 300, 900)
MAX_ATTEMPTS = len(BACKOFF_S) + 1
# A claimed delivery with no outcome after this long was being sent by a notifier that stopped.
SEND_LEASE = timedelta(seconds=60)
SEND_TIMEOUT_MS = 10_000


def backoff_s(attempt: int) -> int | None:
    """Seconds before retrying after failed attempt `attempt`; None: no retry left."""
    if attempt < 1 or attempt >= MAX_ATTEMPTS:
        return None
    return BACKOFF_S[attempt - 1]


@dataclass(frozen=True, slots=True)
class Notice:
    """One event as every channel kind renders it."""

    event_id: str
    event: EventKind
    incident: Incident | None
    channel_name: str
    at: datetime
    link: str | None = None
    sequence: int = 0
    pause: PauseNotice | None = None

    @property
    def title(self) -> str:
        if self.pause is not None:
            p = self.pause
            who = _BY.get(p.by.type, p.by.type)
            until = f" until {iso(p.until)}" if p.until is not None else ""
            return f"{p.event.capitalize()} by {who}: endpoint '{p.endpoint_name}'{until}"
        i = self.incident
        if i is None:
            return f"Cronpilot test notice for channel '{self.channel_name}'"
        what = "failing" if i.kind == "failures" else "not starting on time"
        if self.event == "recovered":
            done = "recovered" if i.kind == "failures" else "is running on time again"
            return f"Resolved: endpoint '{i.endpoint_name}' {done}"
        if self.event == "realert":
            return f"Still open (reminder {self.sequence}): endpoint '{i.endpoint_name}' is {what}"
        return f"Incident: endpoint '{i.endpoint_name}' is {what}"

    def lines(self) -> list[str]:
        """The readable body, one fact a line."""
        if self.pause is not None:
            return self._pause_lines(self.pause)
        i = self.incident
        if i is None:
            return ["This is a test. If you can read it, the channel works."]
        out: list[str] = []
        if i.kind == "failures":
            out.append(f"{i.failure_count} consecutive failed runs (job {i.job_id}).")
        else:
            late_s = (i.late_by_ms or 0) // 1000
            out.append(f"A scheduled slot had not started {late_s} s after its time.")
        if i.last_error is not None and self.event != "recovered":
            e = i.last_error
            code = f"HTTP {e.status_code}" if e.status_code is not None else (e.error_kind or "")
            message = f": {e.message}" if e.message else ""
            out.append(f"Last error ({code}){message}".replace("()", "").strip())
        out.append(f"Opened {iso(i.opened_at)}.")
        if i.closed_at is not None:
            out.append(f"Closed {iso(i.closed_at)}.")
        if self.link:
            out.append(f"Details: {self.link}")
        return out

    def _pause_lines(self, p: PauseNotice) -> list[str]:
        kind = "planner session" if p.by.type == "session" else "reflex"
        out = [f"{p.event.capitalize()} at {iso(p.at)} by {kind} {p.by.id} (job {p.job_id})."]
        if p.reason:
            out.append(f"Why: {p.reason}")
        if p.event == "paused":
            out.append("It does not run until " + (iso(p.until) if p.until else "resumed") + ".")
        if self.link:
            out.append(f"Details: {self.link}")
        return out


def webhook_body(notice: Notice) -> dict[str, Any]:
    """The JSON a webhook channel receives (signed like runs: X-Cronpilot-Signature)."""
    if notice.pause is not None:
        return _pause_body(notice, notice.pause)
    body: dict[str, Any] = {
        "type": f"incident.{notice.event}" if notice.incident else "channel.test",
        "eventId": notice.event_id,
        "sentAt": iso(notice.at),
        "title": notice.title,
        "text": "\n".join(notice.lines()),
    }
    if notice.link:
        body["link"] = notice.link
    i = notice.incident
    if i is not None:
        body["incident"] = {
            "id": i.id,
            "kind": i.kind,
            "state": i.state,
            "jobId": i.job_id,
            "endpointId": i.endpoint_id,
            "endpointName": i.endpoint_name,
            "failureCount": i.failure_count,
            "openedAt": iso(i.opened_at),
            "closedAt": iso(i.closed_at) if i.closed_at else None,
            "lastError": (
                {
                    "runId": i.last_error.run_id,
                    "at": iso(i.last_error.at),
                    "statusCode": i.last_error.status_code,
                    "errorKind": i.last_error.error_kind,
                    "message": i.last_error.message,
                }
                if i.last_error
                else None
            ),
        }
        if notice.event == "realert":
            body["reminder"] = notice.sequence
    return body


def _pause_body(notice: Notice, p: PauseNotice) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"endpoint.{p.event}",
        "eventId": notice.event_id,
        "sentAt": iso(notice.at),
        "title": notice.title,
        "text": "\n".join(notice.lines()),
        "endpoint": {"id": p.endpoint_id, "name": p.endpoint_name, "jobId": p.job_id},
        "at": iso(p.at),
        "by": {"type": p.by.type, "id": p.by.id},
        "until": iso(p.until) if p.until is not None else None,
        "reason": p.reason,
    }
    if notice.link:
        body["link"] = notice.link
    return body


def slack_body(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message: a plain-text fallback and one readable section, with
    the link back as a Slack link."""
    icon = {
        "opened": ":red_circle:",
        "realert": ":warning:",
        "recovered": ":white_check_mark:",
        "paused": ":double_vertical_bar:",
        "resumed": ":arrow_forward:",
    }
    lines = [_slack_escape(line) for line in notice.lines() if not line.startswith("Details: ")]
    if notice.link:
        what = "endpoint" if notice.pause is not None else "incident"
        lines.append(f"<{notice.link}|View the {what}>")
    head = f"{icon.get(notice.event, ':bell:')} *{_slack_escape(notice.title)}*"
    text = "\n".join([head, *lines])
    return {
        "text": notice.title,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email_parts(notice: Notice) -> tuple[str, str]:
    """(subject, plain-text body)."""
    body = "\n".join([*notice.lines(), "", f"Event {notice.event_id}"])
    return f"[Cronpilot] {notice.title}", body


DeliveryState = Literal["sending", "sent", "retrying", "failed", "abandoned"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a notice: when, how it ended, and what the channel answered."""

    at: datetime
    outcome: Literal["sent", "failed", "abandoned"]
    duration_ms: int | None = None
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notice event to one channel. `incident_id` is `test_<channelId>` for a test."""

    incident_id: str
    tenant_id: str
    channel_id: str
    channel_kind: str
    channel_name: str
    event_id: str
    event: EventKind
    state: DeliveryState
    created_at: datetime
    attempts: tuple[Attempt, ...] = ()
    lease_until: datetime | None = None
    sent_at: datetime | None = None

    @property
    def key(self) -> str:
        return delivery_key(self.event_id, self.channel_id)


def delivery_key(event_id: str, channel_id: str) -> str:
    return f"{event_id}#{channel_id}"


def after_attempt(attempt: int, sent: bool) -> DeliveryState:
    """The delivery's state once attempt `attempt` ended."""
    if sent:
        return "sent"
    return "retrying" if backoff_s(attempt) is not None else "failed"
