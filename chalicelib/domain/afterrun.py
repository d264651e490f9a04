"""What a finished scheduled run writes to its endpoint. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain import hints
from chalicelib.domain.causes import cause_of
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.governor import plan_next_run

MIN_GAP_AFTER_SLOW_RUN = timedelta(seconds=1)


def consume_hints(endpoint: Endpoint, started: datetime, done: datetime) -> Endpoint:
    """Expired hints are cleared; a one-shot whose time has come was this run, so it goes."""
    if endpoint.ai_hint_expires_at is not None and endpoint.ai_hint_expires_at <= done:
        return hints.cleared(endpoint)
    if endpoint.ai_hint_next_run_at is not None and endpoint.ai_hint_next_run_at <= started:
        if endpoint.ai_hint_interval_ms is None:
            # Nothing left that the expiry and reason describe.
            return hints.cleared(endpoint)
        return replace(endpoint, ai_hint_next_run_at=None)
    return endpoint


def settle(endpoint: Endpoint, started: datetime, done: datetime, succeeded: bool) -> Endpoint:
    """The endpoint after a run that started at `started` and was recorded at `done`.

    `endpoint` is read after the call, so hints written while it was in flight count. The
    one-shot that caused this run is consumed before planning (planning first would schedule
    it again a second later), the failure count includes this run, and a run that outlasted
    its interval is followed by the rest of the interval from its end, at least one second.
    """
    updated = consume_hints(endpoint, started, done)
    updated = replace(
        updated,
        last_run_at=started,
        failure_count=0 if succeeded else endpoint.failure_count + 1,
        locked_until=None,
        lock_token=None,
    )
    plan = plan_next_run(started, updated)
    planned = plan.next_run_at
    if planned < done:
        planned = done + max(planned - started, MIN_GAP_AFTER_SLOW_RUN)
    return replace(updated, next_run_at=planned, next_run_cause=cause_of(updated, plan.source))
