"""Dashboard arithmetic: bucket table, zero-filled series, success rate and trend, max stacked."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from chalicelib.domain import dashboard
from chalicelib.domain.dashboard import (
    BucketSize,
    Catalog,
    DashboardActivityQuery,
    DashboardStatsQuery,
)
from chalicelib.domain.entities import AnalysisSession, Endpoint, Job, JobStatus, Run, RunStatus
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.schemas import parse

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
_seq = iter(range(1_000_000))


def job(job_id: str = "job-1", status: JobStatus = "active", name: str = "Job") -> Job:
    return Job("t", job_id, name, status, NOW, NOW)


def endpoint(
    endpoint_id: str = "ep-1",
    job_id: str = "job-1",
    name: str | None = None,
    **kw: Any,
) -> Endpoint:
    return Endpoint(
        "t", endpoint_id, job_id, name or endpoint_id, "https://x.test", NOW, NOW, NOW, **kw
    )


def run(
    at: datetime,
    status: str = "success",
    endpoint_id: str = "ep-1",
    duration_ms: int | None = 100,
    source: str | None = "baseline-interval",
) -> Run:
    return Run(
        endpoint_id=endpoint_id,
        id=f"run_{next(_seq):06d}",
        tenant_id="t",
        job_id="job-1",
        # `timeout` is a legacy status the entity type no longer names.
        status=cast(RunStatus, status),
        started_at=at,
        duration_ms=duration_ms,
        source=cast(Any, source),
    )


def session(at: datetime, endpoint_id: str = "ep-1", tokens: int | None = 10) -> AnalysisSession:
    return AnalysisSession(
        endpoint_id=endpoint_id,
        id=f"session_{next(_seq):06d}",
        tenant_id="t",
        job_id="job-1",
        analyzed_at=at,
        reasoning="ok",
        token_usage=tokens,
    )


def catalog(*endpoints: Endpoint, jobs: Iterable[Job] = (job(),)) -> Catalog:
    return Catalog.of(jobs, endpoints or (endpoint(),))


def stats_query(start: datetime, end: datetime, **kw: Any) -> DashboardStatsQuery:
    return DashboardStatsQuery(start_date=start, end_date=end, **kw)


# --- 213: bucket table -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(0), BucketSize("hour", 1)),
        (D, BucketSize("hour", 1)),
        (2 * D, BucketSize("hour", 2)),
        (3 * D, BucketSize("hour", 3)),
        (4 * D, BucketSize("hour", 4)),
        (5 * D, BucketSize("hour", 4)),
        (7 * D, BucketSize("hour", 6)),
        (10 * D, BucketSize("hour", 8)),
        (14 * D, BucketSize("hour", 12)),
        (14 * D + H, BucketSize("day", 1)),
        (30 * D, BucketSize("day", 1)),
        (36 * D, BucketSize("day", 1)),
        (50 * D, BucketSize("day", 2)),
        (90 * D, BucketSize("day", 3)),
        (200 * D, BucketSize("day", 7)),
        (288 * D, BucketSize("day", 7)),
        (365 * D, BucketSize("day", 14)),
    ],
)
def test_bucket_size_table(span: timedelta, expected: BucketSize) -> None:
    assert dashboard.bucket_size(span) == expected


def test_24h_window_has_hourly_buckets_aligned_to_the_hour() -> None:
    start = datetime(2025, 1, 1, 10, 30, tzinfo=UTC)
    grid = dashboard.grid(start, start + D)
    labels = grid.labels()
    assert grid.size == BucketSize("hour", 1)
    assert labels[0] == "2025-01-01 10:00:00"
    assert labels[-1] == "2025-01-02 10:00:00"
    assert len(labels) == 25


def test_7_day_window_has_29_six_hour_buckets() -> None:
    labels = dashboard.grid(NOW - 7 * D, NOW).labels()
    assert len(labels) == 29
    assert labels[:3] == ["2024-12-25 12:00:00", "2024-12-25 18:00:00", "2024-12-26 00:00:00"]
    assert labels[-1] == "2025-01-01 12:00:00"


def test_30_day_window_has_daily_buckets_from_the_utc_midnight() -> None:
    labels = dashboard.grid(NOW - 30 * D, NOW).labels()
    assert len(labels) == 31
    assert labels[0] == "2024-12-02"
    assert labels[-1] == "2025-01-01"


def test_multi_day_buckets_step_from_the_start_day() -> None:
    labels = dashboard.grid(NOW - 90 * D, NOW).labels()
    assert labels[:2] == ["2024-10-03", "2024-10-06"]
    assert len(labels) == 31


# --- 216: zero-filled, chronological, aggregated ---------------------------------------------


def test_run_series_is_zero_filled_chronological_and_aggregated() -> None:
    start = NOW - D
    grid = dashboard.grid(start, NOW)
    runs = [
        run(start + timedelta(minutes=5)),
        run(start + timedelta(minutes=55), "failed"),
        run(start + timedelta(minutes=59), "timeout"),
        run(start + 3 * H, "running"),
        run(NOW),
    ]
    series = dashboard.run_series(grid, runs)
    assert [p.date for p in series] == grid.labels()
    assert [(p.success, p.failure) for p in series[:4]] == [(1, 2), (0, 0), (0, 0), (0, 0)]
    assert (series[-1].success, series[-1].failure) == (1, 0)
    assert sum(p.success + p.failure for p in series) == 4


def test_run_series_without_runs_is_all_zero_buckets() -> None:
    grid = dashboard.grid(NOW - 2 * D, NOW)
    series = dashboard.run_series(grid, [])
    assert len(series) == 25
    assert all(p.success == 0 and p.failure == 0 for p in series)


def test_multi_hour_buckets_aggregate_every_hour_inside_them() -> None:
    start = NOW - 2 * D  # two-hour buckets
    grid = dashboard.grid(start, NOW)
    series = dashboard.run_series(grid, [run(start), run(start + H), run(start + 2 * H)])
    assert [p.success for p in series[:3]] == [2, 1, 0]


def test_endpoint_series_uses_the_run_buckets_and_zero_fills_each_endpoint() -> None:
    start = NOW - D
    grid = dashboard.grid(start, NOW)
    cat = catalog(endpoint("ep-1", name="A"), endpoint("ep-2", name="B"))
    runs = [
        run(start, endpoint_id="ep-1", duration_ms=100),
        run(start + timedelta(minutes=1), "failed", endpoint_id="ep-1", duration_ms=None),
        run(start + 2 * H, endpoint_id="ep-2", duration_ms=40),
    ]
    series = dashboard.endpoint_series(grid, runs, cat, limit=20)
    assert len(series) == 25 * 2
    assert [p.date for p in series[::2]] == grid.labels()
    first = {p.endpoint_id: p for p in series[:2]}
    assert (first["ep-1"].success, first["ep-1"].failure) == (1, 1)
    assert first["ep-1"].total_duration_ms == 100
    assert (first["ep-2"].success, first["ep-2"].failure) == (0, 0)
    third = {p.endpoint_id: p for p in series[4:6]}
    assert third["ep-2"].success == 1 and third["ep-2"].total_duration_ms == 40


def test_endpoint_series_keeps_the_top_endpoints_by_run_count() -> None:
    grid = dashboard.grid(NOW - D, NOW)
    cat = catalog(endpoint("ep-1"), endpoint("ep-2"), endpoint("ep-3"))
    runs = [run(NOW, endpoint_id="ep-2")] * 3 + [run(NOW, endpoint_id="ep-3")] * 2
    runs.append(run(NOW, endpoint_id="ep-1"))
    series = dashboard.endpoint_series(grid, runs, cat, limit=2)
    assert [p.endpoint_id for p in series[:2]] == ["ep-2", "ep-3"]
    assert {p.endpoint_id for p in series} == {"ep-2", "ep-3"}


def test_endpoint_and_session_series_are_empty_without_data() -> None:
    grid = dashboard.grid(NOW - D, NOW)
    assert dashboard.endpoint_series(grid, [], catalog(), 20) == []
    assert dashboard.session_series(grid, [], catalog(), 20) == []


def test_session_series_counts_sessions_and_tokens_per_bucket() -> None:
    start = NOW - D
    grid = dashboard.grid(start, NOW)
    sessions = [session(start, tokens=10), session(start, tokens=None), session(start + H)]
    series = dashboard.session_series(grid, sessions, catalog(), 20)
    assert [p.date for p in series] == grid.labels()
    assert (series[0].session_count, series[0].total_tokens) == (2, 10)
    assert (series[1].session_count, series[1].total_tokens) == (1, 10)
    assert series[2].session_count == 0


# --- 217: max stacked ------------------------------------------------------------------------


def test_max_stacked_is_the_largest_per_date_sum_plus_ten_percent() -> None:
    points = [("d1", 4), ("d1", 5), ("d2", 7), ("d2", 0)]
    assert dashboard.max_stacked(points) == 9.9


@pytest.mark.parametrize(("value", "expected"), [(1, 1.1), (3, 3.3), (7, 7.7), (100, 110.0)])
def test_max_stacked_carries_no_float_noise(value: int, expected: float) -> None:
    assert dashboard.max_stacked([("d", value)]) == expected


def test_max_stacked_is_zero_without_points() -> None:
    assert dashboard.max_stacked([]) == 0


# --- 214: success rate and trend -------------------------------------------------------------


def outcomes(successes: int, failures: int, at: datetime) -> list[Run]:
    return [run(at) for _ in range(successes)] + [run(at, "failed") for _ in range(failures)]


@pytest.mark.parametrize(
    ("now_ok", "now_bad", "before_ok", "before_bad", "overall", "trend"),
    [
        (9, 1, 8, 2, 90.0, "up"),
        (7, 3, 9, 1, 70.0, "down"),
        (90, 10, 91, 9, 90.0, "stable"),
        (0, 0, 0, 0, 0.0, "stable"),
        (0, 5, 0, 0, 0.0, "stable"),
        (0, 10, 10, 0, 0.0, "down"),
        (2, 1, 0, 0, 66.7, "up"),
        (1, 15, 0, 16, 6.3, "up"),
    ],
)
def test_success_rate_and_trend(
    now_ok: int, now_bad: int, before_ok: int, before_bad: int, overall: float, trend: str
) -> None:
    runs = outcomes(now_ok, now_bad, NOW - D) + outcomes(before_ok, before_bad, NOW - 8 * D)
    rate = dashboard.success_rate(runs, NOW, days=7)
    assert (rate.overall, rate.trend) == (overall, trend)


def test_previous_period_excludes_the_current_one() -> None:
    # The reference measures "previous" over both periods: 197/200 = 98.5 against 100 would be
    # stable. Over the preceding period alone it is 97, three points down from 100: up.
    runs = outcomes(100, 0, NOW - D) + outcomes(97, 3, NOW - 10 * D)
    assert dashboard.success_rate(runs, NOW, days=7).trend == "up"


def test_runs_older_than_both_periods_and_running_runs_are_ignored() -> None:
    runs = outcomes(1, 0, NOW - H) + outcomes(0, 50, NOW - 15 * D) + [run(NOW, "running")]
    rate = dashboard.success_rate(runs, NOW, days=7)
    assert (rate.overall, rate.trend) == (100.0, "up")


def test_period_boundary_instant_belongs_to_the_current_period() -> None:
    rate = dashboard.success_rate(outcomes(0, 1, NOW - 7 * D), NOW, days=7)
    assert (rate.overall, rate.trend) == (0.0, "stable")
    rate = dashboard.success_rate(outcomes(1, 0, NOW - 7 * D - timedelta(milliseconds=1)), NOW, 7)
    assert (rate.overall, rate.trend) == (0.0, "down")


@pytest.mark.parametrize(
    ("span", "days"), [(timedelta(0), 1), (H, 1), (D, 1), (D + H, 2), (7 * D, 7)]
)
def test_trend_period_is_the_span_rounded_up_to_days(span: timedelta, days: int) -> None:
    assert dashboard.trend_days(span) == days


# --- 215: recent activity --------------------------------------------------------------------


def test_recent_activity_counts_the_last_24h_and_timeout_as_failure() -> None:
    runs = [
        run(NOW - H),
        run(NOW - 2 * H, "failed"),
        run(NOW - 3 * H, "timeout"),
        run(NOW - 4 * H, "running"),
        run(NOW - D),
        run(NOW - D - timedelta(milliseconds=1), "failed"),
    ]
    recent = dashboard.recent_activity(runs, NOW)
    assert (recent.runs24h, recent.success24h, recent.failure24h) == (5, 2, 2)


# --- 82: archived jobs and endpoints ---------------------------------------------------------


def test_archived_jobs_and_endpoints_and_orphans_are_not_live() -> None:
    cat = Catalog.of(
        [job("job-1"), job("job-2", "archived"), job("job-3", "paused")],
        [
            endpoint("live", "job-1"),
            endpoint("archived", "job-1", archived_at=NOW),
            endpoint("in-archived-job", "job-2"),
            endpoint("in-paused-job", "job-3"),
            endpoint("no-job", "job-9"),
        ],
    )
    assert cat.live("live") is not None
    assert cat.live("in-paused-job") is not None
    for gone in ("archived", "in-archived-job", "no-job", "deleted"):
        assert cat.live(gone) is None


def test_endpoint_counts_cover_non_archived_endpoints_of_active_jobs() -> None:
    cat = Catalog.of(
        [job("job-1"), job("job-2", "paused"), job("job-3", "archived")],
        [
            endpoint("a", "job-1"),
            endpoint("b", "job-1", paused_until=NOW + H),
            endpoint("c", "job-1", paused_until=NOW),
            endpoint("d", "job-1", archived_at=NOW),
            endpoint("e", "job-2"),
            endpoint("f", "job-3"),
        ],
    )
    counts = dashboard.endpoint_counts(cat, NOW)
    assert (counts.total, counts.active, counts.paused) == (3, 2, 1)
    assert dashboard.job_counts(cat).total == 1


def test_stats_leave_out_archived_rows_everywhere() -> None:
    cat = Catalog.of(
        [job("job-1", name="Live"), job("job-2", "archived", name="Gone")],
        [
            endpoint("ep-1", "job-1"),
            endpoint("old", "job-1", archived_at=NOW),
            endpoint("x", "job-2"),
        ],
    )
    runs = [run(NOW - H, endpoint_id=e) for e in ("ep-1", "old", "x", "deleted")]
    sessions = [session(NOW - H, endpoint_id=e) for e in ("ep-1", "old", "x")]
    out = dashboard.stats(cat, runs, sessions, stats_query(NOW - D, NOW), NOW)
    assert out.filtered_metrics.total_runs == 1
    assert out.recent_activity.runs24h == 1
    assert [(h.job_id, h.success_count) for h in out.job_health] == [("job-1", 1)]
    assert [(s.source, s.count) for s in out.source_distribution] == [("baseline-interval", 1)]
    assert sum(p.success for p in out.run_time_series) == 1
    assert {p.endpoint_id for p in out.endpoint_time_series} == {"ep-1"}
    assert {p.endpoint_id for p in out.ai_session_time_series} == {"ep-1"}
    assert out.endpoints.total == 1


def test_stats_source_filter_spares_the_source_distribution() -> None:
    runs = [run(NOW - H, source="ai-interval"), run(NOW - H, "failed", source="baseline-cron")]
    query = stats_query(NOW - D, NOW, source="ai-interval")
    out = dashboard.stats(catalog(), runs, [], query, NOW)
    assert (out.filtered_metrics.total_runs, out.filtered_metrics.failure_count) == (1, 0)
    assert sum(p.failure for p in out.run_time_series) == 0
    assert {s.source for s in out.source_distribution} == {"ai-interval", "baseline-cron"}


def test_stats_window_excludes_runs_outside_it_but_the_trend_sees_them() -> None:
    runs = [run(NOW - 3 * D, "failed"), run(NOW - H)]
    out = dashboard.stats(catalog(), runs, [], stats_query(NOW - D, NOW), NOW)
    assert out.filtered_metrics.total_runs == 1
    assert out.success_rate.overall == 100.0
    out = dashboard.stats(catalog(), runs, [], stats_query(NOW - 3 * D, NOW), NOW)
    assert out.success_rate.overall == 50.0


def test_filtered_metrics_average_ignores_missing_durations() -> None:
    metrics = dashboard.filtered_metrics([run(NOW, duration_ms=100), run(NOW, duration_ms=None)])
    assert metrics.avg_duration_ms == 100
    assert dashboard.filtered_metrics([]).avg_duration_ms is None


def test_merge_intervals_reads_overlapping_ranges_once() -> None:
    merged = dashboard.merge_intervals([(NOW - D, NOW), (NOW - 2 * D, NOW - H), (NOW + D, NOW + D)])
    assert merged == [(NOW - 2 * D, NOW), (NOW + D, NOW + D)]


# --- 218: activity ---------------------------------------------------------------------------


def activity_query(**kw: Any) -> DashboardActivityQuery:
    return DashboardActivityQuery(start_date=NOW - D, end_date=NOW, **kw)


def test_activity_merges_newest_first_then_pages() -> None:
    runs = [run(NOW - 3 * H), run(NOW - H, "failed"), run(NOW - 5 * H)]
    sessions = [session(NOW - 2 * H), session(NOW - 4 * H)]
    page = dashboard.activity(catalog(), runs, sessions, activity_query(limit=2, offset=1))
    assert [(e.type, e.timestamp) for e in page.events] == [
        ("session", NOW - 2 * H),
        ("run", NOW - 3 * H),
    ]
    assert page.total == 5
    assert (page.summary.runs_count, page.summary.sessions_count) == (1, 1)
    assert page.summary.success_rate == 100.0


def test_activity_summary_rate_is_of_the_page_runs_only() -> None:
    runs = [run(NOW - H), run(NOW - 2 * H, "failed"), run(NOW - 3 * H, "failed")]
    page = dashboard.activity(catalog(), runs, [], activity_query())
    assert page.summary.success_rate == 33.3


def test_activity_event_type_selects_runs_or_sessions() -> None:
    runs, sessions = [run(NOW - H)], [session(NOW - H)]
    only_runs = dashboard.activity(catalog(), runs, sessions, activity_query(event_type="runs"))
    assert [e.type for e in only_runs.events] == ["run"] and only_runs.total == 1
    only = dashboard.activity(catalog(), runs, sessions, activity_query(event_type="sessions"))
    assert [e.type for e in only.events] == ["session"] and only.total == 1


def test_activity_filters_by_job_and_window() -> None:
    cat = Catalog.of([job("job-1"), job("job-2")], [endpoint("ep-1"), endpoint("ep-2", "job-2")])
    runs = [run(NOW - H), run(NOW - H, endpoint_id="ep-2"), run(NOW - 2 * D)]
    page = dashboard.activity(cat, runs, [], activity_query(job_id="job-2"))
    assert [e.endpoint_id for e in page.events] == ["ep-2"]


# --- query parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T10:00:00", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("2025-01-01T10:00:00Z", datetime(2025, 1, 1, 10, tzinfo=UTC)),
        ("2025-01-01T10:00:00.250Z", datetime(2025, 1, 1, 10, 0, 0, 250_000, tzinfo=UTC)),
        ("2025-01-01T10:00:00+02:00", datetime(2025, 1, 1, 8, tzinfo=UTC)),
        ("2025-01-01T10:00:00 02:00", datetime(2025, 1, 1, 8, tzinfo=UTC)),
    ],
)
def test_query_dates_are_lenient(text: str, expected: datetime) -> None:
    assert dashboard.parse_query_instant(text) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"endDate": "2025-01-01"}, "startDate"),
        ({"startDate": "yesterday", "endDate": "2025-01-01"}, "startDate"),
        ({"startDate": "9999-12-31T23:00:00-05:00", "endDate": "2025-01-01"}, "startDate"),
        (
            {"startDate": "2024-12-01", "endDate": "2025-01-01", "endpointLimit": "0"},
            "endpointLimit",
        ),
        ({"startDate": "2024-12-01", "endDate": "2025-01-01", "source": "cron"}, "source"),
    ],
)
def test_stats_query_errors_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(DashboardStatsQuery, params)
    assert [d["field"] for d in caught.value.details] == [field]


def test_a_reversed_window_is_read_in_order() -> None:
    # Two parameters no schema can relate: lenient rather than a 400 the document cannot show.
    query = parse(DashboardStatsQuery, {"startDate": "2025-01-02", "endDate": "2025-01-01"})
    assert (query.start_date, query.end_date) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
    )


def test_a_window_over_366_days_is_the_366_days_ending_at_end_date() -> None:
    query = parse(DashboardStatsQuery, {"startDate": "2000-01-01", "endDate": "2025-01-02"})
    assert query.end_date == datetime(2025, 1, 2, tzinfo=UTC)
    assert query.end_date - query.start_date == timedelta(days=366)


def test_a_366_day_window_is_allowed() -> None:
    query = parse(DashboardStatsQuery, {"startDate": "2024-01-01", "endDate": "2025-01-01"})
    assert query.end_date - query.start_date == timedelta(days=366)
