"""Health summary and failure streak (data-model.md §9, behaviours-to-test.md E 81)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.entities import Run, RunStatus
from chalicelib.domain.health import STREAK_SCAN_LIMIT, Health, failure_streak, summarize

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def runs(*specs: tuple[RunStatus, int | None]) -> list[Run]:
    """Runs newest first, one minute apart, from (status, durationMs) pairs."""
    return [
        Run(
            endpoint_id="ep-1",
            id=f"run-{i}",
            tenant_id="tenant-1",
            job_id="job-1",
            status=status,
            started_at=T0 - timedelta(minutes=i),
            duration_ms=duration,
        )
        for i, (status, duration) in enumerate(specs)
    ]


def test_empty() -> None:
    assert summarize([]) == Health(
        success_count=0,
        failure_count=0,
        avg_duration_ms=None,
        last_run_status=None,
        last_run_at=None,
        failure_streak=0,
    )


def test_mixed_runs() -> None:
    history = runs(
        ("failed", 300),
        ("failed", None),
        ("success", 100),
        ("running", None),
        ("success", 200),
        ("failed", 600),
    )
    assert summarize(history) == Health(
        success_count=2,
        failure_count=3,
        avg_duration_ms=300.0,  # (300 + 100 + 200 + 600) / 4, nulls ignored
        last_run_status="failed",
        last_run_at=T0,
        failure_streak=2,
    )


def test_running_is_neither_success_nor_failure() -> None:
    health = summarize(runs(("running", None), ("failed", 10)))
    assert (health.success_count, health.failure_count) == (0, 1)
    assert (health.last_run_status, health.last_run_at) == ("running", T0)


def test_average_none_when_all_durations_null() -> None:
    assert summarize(runs(("running", None), ("failed", None))).avg_duration_ms is None


def test_average_is_not_rounded() -> None:
    assert summarize(runs(("success", 1), ("success", 2))).avg_duration_ms == 1.5


def test_streak_counts_from_newest() -> None:
    assert failure_streak(runs(("failed", 1), ("failed", 1), ("failed", 1))) == 3
    assert failure_streak(runs(("success", 1), ("failed", 1), ("failed", 1))) == 0
    assert failure_streak([]) == 0


def test_running_ends_the_streak() -> None:
    assert failure_streak(runs(("failed", 1), ("running", None), ("failed", 1))) == 1
    assert failure_streak(runs(("running", None), ("failed", 1))) == 0


def test_streak_scan_is_capped_at_100() -> None:
    failed: tuple[RunStatus, int | None] = ("failed", 5)
    history = runs(*[failed] * 150)
    assert STREAK_SCAN_LIMIT == 100
    assert failure_streak(history) == 100
    assert summarize(history).failure_streak == 100
    assert summarize(history).failure_count == 150
    assert failure_streak(history, limit=None) == 150  # the AI prompt's uncapped view
    assert failure_streak(history, limit=7) == 7
