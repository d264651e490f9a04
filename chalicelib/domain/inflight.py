"""Whether an endpoint's next slot needs a message sent. Pure; shared by the scheduling
chokepoint and the dispatcher so both send under the same rules."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.entities import Endpoint

# A message unclaimed this long after it became visible was lost: send it again. A duplicate is
# harmless (the claim drops it).
RESEND_AFTER = timedelta(seconds=30)


def message_live(endpoint: Endpoint, now: datetime) -> bool:
    """A message for the endpoint's slot was sent and should not have been claimed yet.

    A message becomes visible on its slot or, for a slot already past when it was sent, at
    once; it counts as lost 30 s after that. Measuring from the slot alone would re-send an
    overdue slot (a resumed job's, or one just re-sent) on every tick.
    """
    if endpoint.enqueued_slot != endpoint.next_run_at:
        return False
    visible = endpoint.next_run_at
    if endpoint.enqueued_at is not None and endpoint.enqueued_at > visible:
        visible = endpoint.enqueued_at
    return visible > now - RESEND_AFTER


def refused_by_pause(endpoint: Endpoint) -> bool:
    """Paused past the slot itself, so the claim at the slot would refuse it. A pause ending by
    the slot is no reason to wait: the governor puts a paused endpoint's next run at the
    pause's end, and that slot must be sent like any other to run on its second."""
    return endpoint.paused_until is not None and endpoint.paused_until > endpoint.next_run_at


def locked(endpoint: Endpoint, now: datetime) -> bool:
    """A run holds the endpoint; it will settle and send the next slot itself."""
    return endpoint.locked_until is not None and endpoint.locked_until > now


def abandoned(endpoint: Endpoint, now: datetime) -> bool:
    """A claim expired without settling: its worker died or ran past the deadline."""
    return endpoint.lock_token is not None and not locked(endpoint, now)
