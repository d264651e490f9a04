"""The notifier: incident events (and pause notices) from the notifications queue, sent to
each subscribed channel exactly once.

Per (event, channel) a delivery is claimed with a conditional write before anything is sent
(store/deliveries.py), so a duplicated message or a second notifier finds it claimed and sends
nothing. A failed attempt is recorded and retried later through the queue with a growing delay
(domain/notices.py BACKOFF_S); the last failure leaves the delivery `failed`.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import observability
from chalicelib.domain.channels import Channel
from chalicelib.domain.incidents import Incident, last_error_of
from chalicelib.domain.notices import (
    SEND_LEASE,
    Attempt,
    Delivery,
    Notice,
    after_attempt,
    backoff_s,
    delivery_key,
)
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine import channel_senders
from chalicelib.engine.notices_queue import NoticeRef

if TYPE_CHECKING:
    from chalicelib.deps import Deps

log = logging.getLogger("cronpilot.alerts")
MAX_PARALLEL = 5
DELIVERIES_KEPT = timedelta(days=90)


def incident_link(deps: Deps, incident_id: str) -> str | None:
    """Where a notice links back to: the incident in the API (None without a public URL)."""
    base = deps.settings.public_url
    return f"{base}/incidents/{incident_id}" if base else None


def endpoint_link(deps: Deps, job_id: str, endpoint_id: str) -> str | None:
    """Where a pause notice links back to: the endpoint in the API."""
    base = deps.settings.public_url
    return f"{base}/jobs/{job_id}/endpoints/{endpoint_id}" if base else None


class Notifier:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def handle(self, ref: NoticeRef) -> list[Delivery]:
        """Deliver one incident event to its channels (one channel for a retry); the deliveries
        this call made."""
        d = self._deps
        if ref.pause is not None:
            job_id = ref.pause.job_id
            notice = Notice(
                ref.event_id,
                ref.event,
                None,
                "",
                d.clock.now(),
                endpoint_link(d, ref.pause.job_id, ref.pause.endpoint_id),
                pause=ref.pause,
            )
        else:
            incident = d.incidents.get(ref.tenant_id, ref.incident_id)
            if incident is None:
                log.info("notice %s: incident gone", ref.event_id)
                return []
            job_id = incident.job_id
            notice = Notice(
                ref.event_id,
                ref.event,
                self._current(incident),
                "",
                d.clock.now(),
                incident_link(d, incident.id),
                ref.sequence,
            )
        channels = [c for c in d.channels.list(ref.tenant_id) if c.subscribed(job_id)]
        if ref.channel_id is not None:
            channels = [c for c in channels if c.id == ref.channel_id]
        if not channels:
            return []
        subject = ref.incident_id
        if len(channels) == 1:
            done = [self._deliver(channels[0], notice, subject, ref.attempt)]
        else:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(channels))) as pool:
                done = list(
                    pool.map(lambda c: self._deliver(c, notice, subject, ref.attempt), channels)
                )
        return [x for x in done if x is not None]

    def test(self, channel: Channel) -> Delivery:
        """Send a test notice to `channel` now (no retry); the delivery with its outcome."""
        now = self._deps.clock.now()
        event_id = f"test_{to_ms(now):013d}_{secrets.token_hex(4)}"
        notice = Notice(event_id, "test", None, channel.name, now)
        delivered = self._deliver(channel, notice, f"test_{channel.id}", 1, retry=False)
        assert delivered is not None  # a fresh event id is never claimed before
        return delivered

    def _current(self, incident: Incident) -> Incident:
        """The incident with the endpoint's present streak and latest error, for reminders."""
        if incident.state != "open" or incident.kind != "failures":
            return incident
        d = self._deps
        endpoint = d.endpoints.get(incident.tenant_id, incident.endpoint_id)
        if endpoint is None:
            return incident
        runs = d.runs.finished(incident.tenant_id, incident.endpoint_id, d.clock.now(), 1)
        error = last_error_of(runs[0]) if runs else None
        return replace(
            incident,
            failure_count=max(incident.failure_count, endpoint.failure_count),
            last_error=error or incident.last_error,
        )

    def _deliver(
        self, channel: Channel, notice: Notice, incident_id: str, attempt: int, retry: bool = True
    ) -> Delivery | None:
        d = self._deps
        now = d.clock.now()
        lease = now + SEND_LEASE
        key = delivery_key(notice.event_id, channel.id)
        delivery: Delivery | None
        if attempt == 1:
            first = Delivery(
                incident_id,
                channel.tenant_id,
                channel.id,
                channel.kind,
                channel.name,
                notice.event_id,
                notice.event,
                "sending",
                now,
                lease_until=lease,
            )
            won = d.deliveries.claim_first(first, now + DELIVERIES_KEPT)
            delivery = first if won else None
        else:
            delivery = d.deliveries.claim_retry(incident_id, key, attempt, lease)
        if delivery is None:
            self._lost_claim(incident_id, key, now)
            return None
        result = channel_senders.send(d, channel, replace(notice, channel_name=channel.name))
        ended = d.clock.now()
        outcome = Attempt(
            ended,
            "sent" if result.sent else "failed",
            result.duration_ms,
            result.status_code,
            result.error,
        )
        state = (
            after_attempt(attempt, result.sent) if retry else ("sent" if result.sent else "failed")
        )
        if not d.deliveries.finish(delivery, attempt, outcome, state):
            log.warning("delivery %s lost its claim before it was recorded", key)
        observability.count("NoticesSent" if result.sent else "NoticeFailures")
        log.info(
            "notice %s to channel %s (%s): %s",
            notice.event_id,
            channel.id,
            channel.kind,
            state,
            extra={"channel_id": channel.id},
        )
        if state == "retrying" and d.notices_queue is not None and retry:
            ref = NoticeRef.for_retry(channel.tenant_id, incident_id, notice, channel.id, attempt)
            d.notices_queue.send(ref, backoff_s(attempt) or 0)
        return replace(
            delivery,
            state=state,
            attempts=(*delivery.attempts, outcome),
            lease_until=None,
            sent_at=ended if result.sent else None,
        )

    def _lost_claim(self, incident_id: str, key: str, now: datetime) -> None:
        """Someone else holds or finished this delivery. If its holder stopped mid-send long
        ago, record that it was abandoned (and do not send: it may have arrived)."""
        d = self._deps
        existing = d.deliveries.get(incident_id, key)
        if existing is not None and d.deliveries.abandon(existing, now):
            observability.count("NoticesAbandoned")
            log.warning("delivery %s abandoned: its notifier stopped while sending", key)
