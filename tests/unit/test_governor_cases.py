"""behaviours-to-test.md §A (governor) and §D 60-64 (nudges), one table row per concrete case.

The spec's stub cron returns `from + 1 min`; here cron is real, so the cron cases use
`* * * * *` from a whole-minute `now`, which yields exactly `now + 1 min`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.entities import Endpoint, ScheduleSource
from chalicelib.domain.governor import backoff_ms, nudge_plan, plan_next_run

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SEC = 1_000
MIN = 60_000
EVERY_MINUTE = "* * * * *"


def at(minutes: int = 0, seconds: int = 0, hours: int = 0) -> datetime:
    """T0 (2025-01-01 00:00:00Z) plus an offset: `at(1, 30)` is 00:01:30."""
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def endpoint(**fields: Any) -> Endpoint:
    """An endpoint with the required identity fields filled in; `fields` set the rest."""
    base: dict[str, Any] = {
        "tenant_id": "tenant-1",
        "id": "ep-1",
        "job_id": "job-1",
        "name": "probe",
        "url": "https://example.com/hook",
        "next_run_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(fields)
    return Endpoint(**base)


# (now, endpoint fields, expected next run, expected source)
PLAN_CASES = [
    pytest.param(
        at(0),
        {"paused_until": at(10), "baseline_interval_ms": 5 * SEC},
        at(10),
        "paused",
        id="A1-paused-wins",
    ),
    pytest.param(
        at(5),
        {"baseline_interval_ms": 5 * MIN, "last_run_at": at(0)},
        at(10),
        "baseline-interval",
        id="A2-interval-from-now",
    ),
    pytest.param(
        at(0),
        {"baseline_cron": EVERY_MINUTE},
        at(1),
        "baseline-cron",
        id="A3-cron-baseline",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_interval_ms": 1 * MIN,
            "ai_hint_expires_at": at(10),
        },
        at(1),
        "ai-interval",
        id="A4-fresh-interval-hint",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_next_run_at": at(2),
            "ai_hint_expires_at": at(10),
        },
        at(2),
        "ai-oneshot",
        id="A5-fresh-oneshot-earlier-than-baseline",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_interval_ms": 1 * MIN,
            "ai_hint_expires_at": at(1),
        },
        at(10),
        "baseline-interval",
        id="A6-expired-interval-hint-ignored",
    ),
    pytest.param(
        at(0, 5),
        {"baseline_interval_ms": 10 * SEC, "min_interval_ms": 60 * SEC, "last_run_at": at(0, 5)},
        at(1, 5),
        "clamped-min",
        id="A7-min-clamp-from-last-run",
    ),
    pytest.param(
        at(0, 5),
        {"baseline_interval_ms": 10 * SEC, "min_interval_ms": 60 * SEC},
        at(0, 15),
        "baseline-interval",
        id="never-run-is-not-held-by-min",
    ),
    pytest.param(
        at(3),
        {"baseline_interval_ms": 10 * SEC, "min_interval_ms": 60 * SEC, "last_run_at": at(0)},
        at(3, 10),
        "baseline-interval",
        id="min-long-since-last-run-does-not-clamp",
    ),
    pytest.param(
        at(0, 30),
        {"baseline_interval_ms": 10 * MIN, "max_interval_ms": 3 * MIN, "last_run_at": at(0)},
        at(3),
        "clamped-max",
        id="max-counts-from-last-run",
    ),
    pytest.param(
        at(10),
        {"baseline_interval_ms": 10 * MIN, "max_interval_ms": 3 * MIN, "last_run_at": at(0)},
        at(10),
        "clamped-max",
        id="max-overdue-means-now",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 10 * MIN, "max_interval_ms": 3 * MIN},
        at(3),
        "clamped-max",
        id="A8-max-clamp",
    ),
    pytest.param(
        at(10),
        {"baseline_interval_ms": 1 * MIN, "last_run_at": at(0)},
        at(11),
        "baseline-interval",
        id="A9-stale-last-run-planned-from-now",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 10 * MIN,
            "ai_hint_interval_ms": 2 * MIN,
            "ai_hint_next_run_at": at(1, 30),
            "ai_hint_expires_at": at(hours=1),
        },
        at(1, 30),
        "ai-oneshot",
        id="A10-both-hints-oneshot-earlier-wins",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_next_run_at": at(0),
            "ai_hint_expires_at": at(hours=1),
        },
        at(5),
        "ai-oneshot",
        id="A11-past-oneshot-floored-to-now",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_next_run_at": at(0),
            "ai_hint_expires_at": at(1),
        },
        at(10),
        "baseline-interval",
        id="A12-expired-past-oneshot-ignored",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 0},
        at(1),
        "baseline-interval",
        id="A13-no-failures-no-backoff",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 1},
        at(2),
        "baseline-interval",
        id="A14-backoff-1-failure-x2",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 2},
        at(4),
        "baseline-interval",
        id="A14-backoff-2-failures-x4",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 5},
        at(32),
        "baseline-interval",
        id="A14-backoff-5-failures-x32",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 10},
        at(32),
        "baseline-interval",
        id="A14-backoff-10-failures-capped-x32",
    ),
    pytest.param(
        at(0),
        {"baseline_cron": EVERY_MINUTE, "failure_count": 5},
        at(1),
        "baseline-cron",
        id="A15-no-backoff-on-cron",
    ),
    pytest.param(
        at(0),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 5, "max_interval_ms": 5 * MIN},
        at(5),
        "clamped-max",
        id="A16-max-clamp-caps-backoff",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 1 * MIN,
            "failure_count": 5,
            "ai_hint_interval_ms": 2 * MIN,
            "ai_hint_expires_at": at(hours=1),
        },
        at(2),
        "ai-interval",
        id="A17-interval-hint-bypasses-backoff",
    ),
    pytest.param(
        at(0, 10),
        {"baseline_interval_ms": 1 * MIN, "failure_count": 3},
        at(8, 10),
        "baseline-interval",
        id="A18-backoff-x8-from-now",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 30 * SEC,
            "ai_hint_interval_ms": 1 * MIN,
            "ai_hint_next_run_at": at(3),
            "ai_hint_expires_at": at(hours=1),
        },
        at(1),
        "ai-interval",
        id="A19-both-hints-interval-earlier-wins-over-earlier-baseline",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 10 * MIN,
            "ai_hint_interval_ms": 2 * MIN,
            "ai_hint_next_run_at": at(2),
            "ai_hint_expires_at": at(hours=1),
        },
        at(2),
        "ai-interval",
        id="A19-both-hints-tie-goes-to-interval",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 1 * MIN,
            "ai_hint_next_run_at": at(5),
            "ai_hint_expires_at": at(hours=1),
        },
        at(1),
        "baseline-interval",
        id="A20-later-oneshot-loses-to-baseline",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 1 * MIN,
            "ai_hint_next_run_at": at(1),
            "ai_hint_expires_at": at(hours=1),
        },
        at(1),
        "baseline-interval",
        id="A20-oneshot-tie-goes-to-baseline",
    ),
    pytest.param(
        at(0),
        {
            "baseline_cron": EVERY_MINUTE,
            "ai_hint_interval_ms": 5 * MIN,
            "ai_hint_expires_at": at(hours=1),
        },
        at(5),
        "ai-interval",
        id="A21-interval-hint-overrides-cron",
    ),
    # Edges the table implies.
    pytest.param(
        at(0),
        {},
        at(1),
        "baseline-interval",
        id="no-baseline-defaults-to-60s",
    ),
    pytest.param(
        at(10),
        {"baseline_interval_ms": 1 * MIN, "paused_until": at(10)},
        at(11),
        "baseline-interval",
        id="pause-ending-exactly-now-is-over",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 5 * MIN,
            "ai_hint_interval_ms": 1 * MIN,
            "ai_hint_expires_at": at(5),
        },
        at(10),
        "baseline-interval",
        id="hint-expiring-exactly-now-is-stale",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 5 * MIN,
            "min_interval_ms": 60 * SEC,
            "ai_hint_next_run_at": at(4),
            "ai_hint_expires_at": at(hours=1),
            "last_run_at": at(4, 30),
        },
        at(5, 30),
        "clamped-min",
        id="run-now-oneshot-clamped-by-min-since-last-run",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 60 * MIN,
            "min_interval_ms": 5 * MIN,
            "ai_hint_next_run_at": at(5),
            "ai_hint_expires_at": at(hours=1),
            "last_run_at": at(0),
        },
        at(5),
        "ai-oneshot",
        id="seed-recovery-run-now-runs-now-once-min-has-passed",
    ),
    pytest.param(
        at(5),
        {
            "baseline_interval_ms": 60 * MIN,
            "min_interval_ms": 5 * MIN,
            "ai_hint_next_run_at": at(5),
            "ai_hint_expires_at": at(hours=1),
        },
        at(5),
        "ai-oneshot",
        id="seed-recovery-never-run-runs-now",
    ),
    pytest.param(
        at(0),
        {"baseline_cron": "0 0 * * *", "max_interval_ms": 2 * 60 * MIN},
        at(hours=2),
        "clamped-max",
        id="max-clamp-caps-daily-cron",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 10 * MIN,
            "ai_hint_interval_ms": 1 * MIN,
            "ai_hint_expires_at": at(hours=1),
            "min_interval_ms": 3 * MIN,
            "last_run_at": at(0),
        },
        at(3),
        "clamped-min",
        id="min-clamp-overrides-ai-hint",
    ),
    pytest.param(
        at(0),
        {
            "baseline_interval_ms": 1 * MIN,
            "min_interval_ms": 5 * MIN,
            "max_interval_ms": 2 * MIN,
            "last_run_at": at(0),
        },
        at(2),
        "clamped-max",
        id="max-applied-after-min",
    ),
    pytest.param(
        at(0),
        {"baseline_cron": "0 9 * * *", "timezone": "America/New_York"},
        at(hours=14),
        "baseline-cron",
        id="cron-in-endpoint-timezone",
    ),
]


@pytest.mark.parametrize(("now", "fields", "expected", "source"), PLAN_CASES)
def test_plan_next_run(
    now: datetime, fields: dict[str, Any], expected: datetime, source: ScheduleSource
) -> None:
    plan = plan_next_run(now, endpoint(**fields))
    assert (plan.next_run_at, plan.source) == (expected, source)


@pytest.mark.parametrize(
    ("failures", "multiplier"),
    [(-1, 1), (0, 1), (1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 32), (50, 32)],
)
def test_backoff_multiplier_table(failures: int, multiplier: int) -> None:
    assert backoff_ms(1_000, failures) == 1_000 * multiplier


# (now, endpoint fields, nudge `when`, expected new nextRunAt or None for "unchanged")
NUDGE_CASES = [
    pytest.param(at(0), {"next_run_at": at(10)}, at(5), at(5), id="D60-earlier-moves"),
    pytest.param(at(0), {"next_run_at": at(5)}, at(10), None, id="D61-later-ignored"),
    pytest.param(
        at(0),
        {"next_run_at": at(10), "min_interval_ms": 60 * SEC, "last_run_at": at(0)},
        at(0, 30),
        at(1),
        id="D62-min-clamp-from-last-run",
    ),
    pytest.param(
        at(0),
        {"next_run_at": at(10), "min_interval_ms": 60 * SEC},
        at(0, 30),
        at(0, 30),
        id="never-run-nudge-not-held-by-min",
    ),
    pytest.param(
        at(2),
        {"next_run_at": at(10), "min_interval_ms": 60 * SEC, "last_run_at": at(0)},
        at(2),
        at(2),
        id="nudge-now-runs-now-when-min-has-passed",
    ),
    pytest.param(
        at(0),
        {"next_run_at": at(10), "max_interval_ms": 2 * MIN, "last_run_at": at(-1)},
        at(5),
        at(1),
        id="D63-max-clamp-from-last-run",
    ),
    pytest.param(
        at(0),
        {"next_run_at": at(10), "paused_until": at(30)},
        at(5),
        None,
        id="D64-paused-ignored",
    ),
    pytest.param(at(0), {"next_run_at": at(5)}, at(5), None, id="equal-time-is-not-earlier"),
    pytest.param(
        at(5),
        {"next_run_at": at(10), "paused_until": at(5)},
        at(7),
        at(7),
        id="expired-pause-does-not-block",
    ),
    pytest.param(
        at(0),
        {"next_run_at": at(0, 30), "min_interval_ms": 60 * SEC, "last_run_at": at(0)},
        at(0),
        None,
        id="min-clamp-pushes-past-current-so-unchanged",
    ),
    pytest.param(
        at(5),
        {"next_run_at": at(10)},
        at(1),
        at(5),
        id="past-target-means-now",
    ),
]


@pytest.mark.parametrize(("now", "fields", "when", "expected"), NUDGE_CASES)
def test_nudge_target(
    now: datetime, fields: dict[str, Any], when: datetime, expected: datetime | None
) -> None:
    plan = nudge_plan(now, endpoint(**fields), when, "ai-oneshot")
    assert (plan.next_run_at if plan else None) == expected
