"""A claim stands for its run while it is in flight: the run from the endpoint's state alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain import ids
from chalicelib.domain.claim import claimed_run, with_in_flight
from chalicelib.domain.entities import Actor, Cause, Run
from tests.unit.test_governor_cases import MIN, T0, endpoint

RETENTION = timedelta(days=30)


def test_a_run_id_tells_its_start_to_the_millisecond() -> None:
    started = T0 + timedelta(seconds=12, microseconds=345_678)
    assert ids.run_started_at(ids.run_id(started)) == T0 + timedelta(seconds=12, milliseconds=345)


@pytest.mark.parametrize(
    "value",
    ["", "dead-worker", "0123456789abcdef01234567", "run_123_abcdefghij", "run_1735689600000_x",
     "run_1735689600000_ABCDEFGHIJ", "session_1735689600000_abcdefghij",
     "run_1735689600000_abcdefghij_more"],
)  # fmt: skip
def test_anything_else_is_no_run_id(value: str) -> None:
    assert ids.run_started_at(value) is None


def test_the_claimed_run_is_built_from_the_state() -> None:
    started = T0 + timedelta(seconds=1)
    token = ids.run_id(started)
    hint = Cause("interval-hint", "ai-interval", Actor("session", "session_1"), "busy")
    claimed = endpoint(
        baseline_interval_ms=MIN,
        next_run_at=T0,
        next_run_cause=hint,
        failure_count=2,
        lock_token=token,
        locked_until=started + timedelta(seconds=40),
    )
    run = claimed_run(claimed, RETENTION)
    assert run == Run(
        endpoint_id="ep-1",
        id=token,
        tenant_id="tenant-1",
        job_id="job-1",
        status="running",
        started_at=started,
        attempt=3,
        source="ai-interval",
        cause=hint,
        slot_at=T0,
        deadline_at=started + timedelta(seconds=40),
        expires_at=started + RETENTION,
    )


def test_a_slot_planned_before_causes_were_kept_gets_the_governors_cause() -> None:
    token = ids.run_id(T0)
    run = claimed_run(
        endpoint(baseline_interval_ms=MIN, failure_count=1, lock_token=token), RETENTION
    )
    assert run is not None and run.cause is not None
    assert (run.source, run.cause.kind) == ("baseline-interval", "backoff")


def test_no_claim_or_a_claim_of_the_release_before_stands_for_no_run() -> None:
    assert claimed_run(endpoint(baseline_interval_ms=MIN), RETENTION) is None
    older = endpoint(baseline_interval_ms=MIN, lock_token="0123456789abcdef01234567")
    assert claimed_run(older, RETENTION) is None


def _run(seconds: int) -> Run:
    at = T0 + timedelta(seconds=seconds)
    return Run("ep-1", ids.run_id(at), "tenant-1", "job-1", "success", at)


def test_the_run_in_flight_takes_its_place_by_start_once() -> None:
    older, newer = _run(1), _run(30)
    running = replace(_run(10), status="running")
    assert with_in_flight([newer, older], running) == [newer, running, older]
    assert with_in_flight([], running) == [running]
    written = replace(running, status="success")
    assert with_in_flight([newer, written, older], running) == [newer, written, older]
