"""Alert channels: where a tenant's incident notices go, and what may be said about them. Pure.

A channel is a webhook (signed JSON POST), a Slack incoming webhook or an email address, and is
subscribed to some of the tenant's jobs (or all of them). Webhook and Slack URLs are secrets:
whoever knows one can post to it, so they are sealed at rest and only ever shown masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

ChannelKind = Literal["webhook", "slack", "email"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = ("webhook", "slack", "email")
URL_KINDS: frozenset[str] = frozenset({"webhook", "slack"})
MAX_CHANNELS = 50
MAX_JOBS_PER_CHANNEL = 100
# What stands for the secret part of a URL on output; sending it back keeps the stored URL.
URL_MASK = "********"


@dataclass(frozen=True, slots=True)
class Channel:
    """`target` is the URL (sealed at rest) or the email address; `job_ids` None: every job."""

    tenant_id: str
    id: str
    name: str
    kind: ChannelKind
    target: str
    created_at: datetime
    updated_at: datetime
    job_ids: tuple[str, ...] | None = None
    enabled: bool = True

    def subscribed(self, job_id: str) -> bool:
        """Whether this channel hears about `job_id`'s incidents."""
        return self.enabled and (self.job_ids is None or job_id in self.job_ids)


def masked_url(url: str) -> str:
    """What may be shown of a secret URL: its scheme and host, never its path or query (Slack
    and most webhook services put the credential there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return URL_MASK
    scheme = parts.scheme or "https"
    return f"{scheme}://{host}/{URL_MASK}" if host else URL_MASK


def shown_target(channel: Channel, opened_url: str | None = None) -> str:
    """The channel's target as output shows it: the address, or the URL masked."""
    if channel.kind in URL_KINDS:
        return masked_url(opened_url) if opened_url else URL_MASK
    return channel.target


def scrub(text: str | None, secret: str) -> str | None:
    """`text` without `secret` in it (error messages may quote the URL they failed on)."""
    if text is None or not secret:
        return text
    return text.replace(secret, masked_url(secret))
