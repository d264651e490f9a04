"""How long a claim on an endpoint holds. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.entities import Endpoint

DEFAULT_TIMEOUT_MS = 30_000
MIN_TIMEOUT_MS = 1000
# Time past the request timeout before a claim counts as abandoned (a zombie).
LOCK_MARGIN = timedelta(seconds=30)
# How early a slot may be claimed: SQS makes a delayed message visible on its second, but the
# executor's clock may run a little ahead of the sender's. Anything earlier is refused, so a
# stray or early message cannot run a slot before its time.
CLAIM_SKEW = timedelta(seconds=2)


def effective_timeout_ms(timeout_ms: int | None) -> int:
    """The request timeout the caller enforces: 30 s when unset, never below 1 s."""
    return max(timeout_ms or DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS)


def lock_duration(endpoint: Endpoint) -> timedelta:
    """The request timeout (or maxExecutionTimeMs when longer) plus a margin."""
    longest = max(effective_timeout_ms(endpoint.timeout_ms), endpoint.max_execution_time_ms or 0)
    return timedelta(milliseconds=longest) + LOCK_MARGIN


def too_early(slot: datetime, now: datetime) -> bool:
    """Whether a claim of `slot` at `now` is refused because the slot's time has not come."""
    return now < slot - CLAIM_SKEW


def run_anchor(started: datetime, slot: datetime | None) -> datetime:
    """The instant a finished run is planned from: its start, or its slot when it was claimed
    a little early (within CLAIM_SKEW), so the one-shot that caused it counts as consumed."""
    return started if slot is None else max(started, slot)
