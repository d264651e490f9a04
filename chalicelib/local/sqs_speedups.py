"""moto's SQS without a count of the whole queue per message received, and with cheaper walks.

The executor queue holds one delayed message per scheduled endpoint, and moto walks all of
them for each message it hands out or takes in:

- ReceiveMessage checks each message it delivers against the queue's retention period by
  computing every attribute of the queue, among them three counts that walk all its messages.
  `still_retained` reads the one setting instead; the answer is the same.
- SendMessage computes every attribute too (to read one flag), and each receive walks the
  queue to find visible messages. These walks stay, but every message in them read the clock
  twice through a naive datetime built and subtracted from the epoch; `unix_time` reads the
  clock directly.

At 100 endpoints these walks and clock reads took about a third of the store's CPU.

- A long poll (ReceiveMessage with WaitTimeSeconds) waits on the queue for a message to be
  added, and wakes only when one is or after a second: a delayed message coming due was
  received up to a second late, so the local pollers used to poll without waiting, about 90
  receives a second between them, a third of a core with nothing scheduled.
  `long_poll_wait` also wakes when the first delayed or in-flight message becomes receivable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from chalicelib.clock import epoch_seconds


def still_retained(backend: Any, queue_name: str, message: Any) -> bool:
    """Whether `message` is within its queue's retention period (moto's rule, read directly)."""
    queue = backend.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return bool(retain_until > epoch_seconds())


def direct_clock(moto_unix_time: Callable[..., float], scale: float) -> Callable[..., float]:
    """moto's `unix_time` (scale 1) or `unix_time_millis` (scale 1000), reading the clock
    directly when asked for now; given a datetime, moto's own."""

    def unix_time(dt: datetime | None = None) -> float:
        return epoch_seconds() * scale if dt is None else moto_unix_time(dt)

    return unix_time


DIRECT_CLOCK = direct_clock(lambda dt=None: 0.0, 1.0).__qualname__

# moto's `visible` is `now > visible_at`: wake just after the instant, not on it.
WAKE_MARGIN_S = 0.001

Parked = Callable[[], AbstractContextManager[object]]


def seconds_until_receivable(queue: Any, now_ms: float) -> float:
    """Seconds until the first delayed or in-flight message of `queue` can be received;
    infinite when none is waiting."""
    soonest = math.inf
    for message in queue._messages:
        at = max(message.visible_at, message.delayed_until)
        if at >= now_ms:
            soonest = min(soonest, at)
    return (soonest - now_ms) / 1000 + WAKE_MARGIN_S


def long_poll_wait(parked: Parked = nullcontext) -> Callable[[Any, int], None]:
    """A `Queue.wait_for_messages` that also wakes when a waiting message comes due; the wait
    runs inside `parked()`, so the store can tell a long poll from a request at work."""

    def wait_for_messages(queue: Any, timeout: int) -> None:
        with parked(), queue._messages_lock:
            if queue.messages:
                return
            wait_s = min(float(timeout), seconds_until_receivable(queue, epoch_seconds() * 1000))
            queue._messages_lock.wait(wait_s)

    return wait_for_messages


def install(parked: Parked = nullcontext) -> None:
    """Make moto's SQS check retention through `still_retained`, read the clock directly and
    wake long polls when a message comes due; installing twice changes nothing more."""
    from moto.sqs import models

    models.SQSBackend.is_message_valid_based_on_retention_period = still_retained  # type: ignore[method-assign,assignment]
    models.Queue.wait_for_messages = long_poll_wait(parked)  # type: ignore[method-assign,assignment]
    for name, scale in (("unix_time", 1.0), ("unix_time_millis", 1000.0)):
        current = getattr(models, name)
        if current.__qualname__ != DIRECT_CLOCK:
            setattr(models, name, direct_clock(current, scale))
