"""How long a claim on an endpoint holds, and the run it stands for. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from chalicelib.domain import ids
from chalicelib.domain.causes import cause_of
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.governor import plan_next_run

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


def claimed_run(endpoint: Endpoint, retention: timedelta) -> Run | None:
    """The run an unsettled claim stands for, `running`, from the endpoint's state alone: the
    claim's token is the run's id (its start), the slot is still the next run, the lock ends
    at the run's deadline. None without a claim, or for a claim by the release before (its
    token was no run id; that release wrote the running run itself)."""
    token = endpoint.lock_token
    started = ids.run_started_at(token) if token is not None else None
    if started is None:
        return None
    return run_of_claim(endpoint, started, retention)


def run_of_claim(endpoint: Endpoint, started: datetime, retention: timedelta) -> Run:
    """The `running` run of the claim the endpoint holds (its token the run's id), started at
    `started`."""
    # The slot's cause was written with it; slots planned before causes were kept get the
    # governor's view of them.
    cause = endpoint.next_run_cause or cause_of(endpoint, plan_next_run(started, endpoint).source)
    return Run(
        endpoint_id=endpoint.id,
        id=str(endpoint.lock_token),
        tenant_id=endpoint.tenant_id,
        job_id=endpoint.job_id,
        status="running",
        started_at=started,
        attempt=endpoint.failure_count + 1,
        source=cause.source,
        cause=cause,
        slot_at=endpoint.next_run_at,
        deadline_at=endpoint.locked_until,
        expires_at=started + retention,
    )


def with_in_flight(newest_first: Sequence[Run], running: Run) -> list[Run]:
    """Runs newest first with the in-flight one in its place by start (ids sort by start),
    unless it is already among them (written meanwhile)."""
    if any(r.id == running.id for r in newest_first):
        return list(newest_first)
    return sorted([running, *newest_first], key=lambda r: r.id, reverse=True)
