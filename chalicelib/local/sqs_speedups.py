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
"""

from __future__ import annotations

from collections.abc import Callable
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


def install() -> None:
    """Make moto's SQS check retention through `still_retained` and read the clock directly."""
    from moto.sqs import models

    models.SQSBackend.is_message_valid_based_on_retention_period = still_retained  # type: ignore[method-assign,assignment]
    for name, scale in (("unix_time", 1.0), ("unix_time_millis", 1000.0)):
        setattr(models, name, direct_clock(getattr(models, name), scale))
