"""Sending one notice to one channel: webhook (signed JSON POST), Slack (incoming-webhook
message) or email. Webhook and Slack go through the run caller, so every hop is SSRF-checked
against the address actually connected to; redirects are refused, not followed. The URL never
appears in what is returned (error texts are scrubbed of it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.channels import Channel, scrub
from chalicelib.domain.notices import SEND_TIMEOUT_MS, Notice, email_parts, slack_body, webhook_body
from chalicelib.engine.caller import CallRequest
from chalicelib.engine.mailer import Mail
from chalicelib.engine.outbound import key_for_execution
from chalicelib.sealing.envelope import SealingError

if TYPE_CHECKING:
    from chalicelib.deps import Deps

USER_AGENT = "Cronpilot-Alerts/1"


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: bool
    duration_ms: int
    status_code: int | None = None
    error: str | None = None


def channel_context(channel: Channel) -> dict[str, str]:
    """What a channel's sealed URL is bound to."""
    return {"tenantId": channel.tenant_id, "channelId": channel.id}


def open_url(deps: Deps, channel: Channel) -> str:
    """The channel's URL in clear (SealingError when it cannot be opened)."""
    return deps.sealer.open({"url": channel.target}, channel_context(channel))["url"]


def send(deps: Deps, channel: Channel, notice: Notice) -> SendResult:
    """One attempt; never raises for a channel's own failure."""
    if channel.kind == "email":
        return _email(deps, channel, notice)
    try:
        url = open_url(deps, channel)
    except SealingError as exc:
        message = f"Not sent: the channel URL could not be decrypted ({exc})"
        return SendResult(False, 0, error=message)
    body = webhook_body(notice) if channel.kind == "webhook" else slack_body(notice)
    request = CallRequest(
        url=url,
        method="POST",
        headers={"User-Agent": USER_AGENT},
        body_json=body,
        timeout_ms=SEND_TIMEOUT_MS,
        max_response_kb=16,
        follow_redirects=False,
    )
    # Webhooks are signed like runs, with the tenant's key; Slack has its own secret URL.
    keys = key_for_execution(deps, channel.tenant_id) if channel.kind == "webhook" else None
    result = deps.caller.call(request, keys)
    return SendResult(
        result.status == "success",
        result.duration_ms,
        result.status_code,
        scrub(result.error_message, url),
    )


def _email(deps: Deps, channel: Channel, notice: Notice) -> SendResult:
    subject, text = email_parts(notice)
    started = time.monotonic()
    try:
        deps.mailer.send(
            Mail(channel.tenant_id, channel.target, subject, text, notice.event_id),
            deps.clock.now(),
        )
    except Exception as exc:
        elapsed = round((time.monotonic() - started) * 1000)
        return SendResult(False, elapsed, error=f"{type(exc).__name__}: {exc}"[:500])
    return SendResult(True, round((time.monotonic() - started) * 1000))
