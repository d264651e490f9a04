"""Dashboard views: query and response models, bucket choice, time series, success rate and
trend, the activity timeline. Pure: callers load the tenant's rows, these functions count them.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from chalicelib.domain.entities import AnalysisSession, Endpoint, Job, Run, RunSource
from chalicelib.domain.responses import AiUsage, Iso, Out, ToolCallOut, WarningOut
from chalicelib.domain.schemas import Query

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_SPAN = timedelta(days=366)
TARGET_POINTS = 24
RECENT_WINDOW = timedelta(hours=24)
TREND_STABLE_POINTS = 2.0
STACK_HEADROOM = 1.1
# `timeout` is never written any more, but legacy rows carry it and it is a failure.
FAILURE_STATUSES = frozenset({"failed", "timeout"})

# Hourly for spans up to two weeks, daily beyond: (largest ideal bucket, bucket size).
HOURLY_STEPS: tuple[tuple[float, int], ...] = ((1, 1), (2, 2), (3, 3), (5, 4), (7, 6), (10, 8))
HOURLY_MAX = 12
DAILY_STEPS: tuple[tuple[float, int], ...] = ((1.5, 1), (2.5, 2), (5, 3), (12, 7))
DAILY_MAX = 14

Granularity = Literal["hour", "day"]
Trend = Literal["up", "down", "stable"]
EventType = Literal["all", "runs", "sessions"]

# ---------------------------------------------------------------------------------------------
# Query models
# ---------------------------------------------------------------------------------------------

# An unencoded `+` in a query string arrives as a space: `...T10:00:00 02:00` meant `+02:00`.
_SPACE_OFFSET = re.compile(r"^(.+T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


def parse_query_instant(value: Any) -> datetime:
    """Lenient query-string instant: ISO date or date-time; no zone means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = _SPACE_OFFSET.sub(r"\1+\2", value.strip())
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be an ISO-8601 date (2025-01-01) or date-time (2025-01-01T00:00:00Z)"
            ) from None
    else:
        raise ValueError("must be an ISO-8601 date or date-time string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past the last representable instant
        raise ValueError("is outside the supported range of dates") from None


QueryInstant = Annotated[datetime, BeforeValidator(parse_query_instant)]
JobIdParam = Annotated[str, Field(min_length=1, max_length=128)]


class WindowQuery(Query):
    """A [startDate, endDate] window of at most 366 days, optionally one job."""

    start_date: QueryInstant = Field(description="ISO date or date-time; no zone means UTC")
    end_date: QueryInstant = Field(description="ISO date or date-time; no zone means UTC")
    job_id: JobIdParam | None = Field(None, description="Only this job (404 if not yours)")

    @model_validator(mode="after")
    def _window(self) -> WindowQuery:
        # Lenient where two parameters disagree (no schema can say so, and the dashboard only
        # reads): a reversed window is read in order, and one longer than the maximum is the
        # MAX_SPAN ending at endDate.
        if self.end_date < self.start_date:
            self.start_date, self.end_date = self.end_date, self.start_date
        if self.end_date - self.start_date > MAX_SPAN:
            self.start_date = self.end_date - MAX_SPAN
        return self


class DashboardStatsQuery(WindowQuery):
    source: RunSource | None = Field(None, description="Only runs scheduled by this source")
    endpoint_limit: int = Field(20, ge=1, le=100, description="Endpoints in the time series")


class DashboardActivityQuery(WindowQuery):
    event_type: EventType = "all"
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0, le=100_000)


# ---------------------------------------------------------------------------------------------
# Response models
# ---------------------------------------------------------------------------------------------


class DashboardJobCounts(Out):
    total: int = Field(description="Active jobs")


class DashboardEndpointCounts(Out):
    total: int = Field(description="Non-archived endpoints of active jobs")
    active: int
    paused: int = Field(description="pausedUntil is in the future")


class DashboardSuccessRate(Out):
    overall: float = Field(description="Percent over the last ceil(span) days, 1 decimal")
    trend: Trend = Field(description="Against the preceding equal period; +-2 points is stable")


class DashboardRecentActivity(Out):
    # Explicit aliases: the camelCase generator would write `runs24H`.
    runs24h: int = Field(alias="runs24h")
    success24h: int = Field(alias="success24h")
    failure24h: int = Field(alias="failure24h")


class DashboardJobHealth(Out):
    job_id: str
    job_name: str
    success_count: int
    failure_count: int


class DashboardFilteredMetrics(Out):
    total_runs: int
    success_count: int
    failure_count: int
    avg_duration_ms: float | None

    always = ("avgDurationMs",)


class DashboardSourceCount(Out):
    source: str
    count: int


class DashboardRunPoint(Out):
    date: str = Field(description="Bucket start: `YYYY-MM-DD HH:00:00` (hourly) or `YYYY-MM-DD`")
    success: int
    failure: int


class DashboardEndpointPoint(Out):
    date: str
    endpoint_id: str
    endpoint_name: str
    success: int
    failure: int
    total_duration_ms: int


class DashboardSessionPoint(Out):
    date: str
    endpoint_id: str
    endpoint_name: str
    session_count: int
    total_tokens: int


class DashboardStats(Out):
    jobs: DashboardJobCounts
    endpoints: DashboardEndpointCounts
    success_rate: DashboardSuccessRate
    recent_activity: DashboardRecentActivity
    job_health: list[DashboardJobHealth]
    filtered_metrics: DashboardFilteredMetrics
    source_distribution: list[DashboardSourceCount]
    run_time_series: list[DashboardRunPoint]
    endpoint_time_series: list[DashboardEndpointPoint]
    endpoint_time_series_max_stacked: float
    ai_session_time_series: list[DashboardSessionPoint]
    ai_session_time_series_max_stacked: float
    ai_usage: AiUsage | None = None


class DashboardEvent(Out):
    type: Literal["run", "session"]
    id: str
    endpoint_id: str
    endpoint_name: str
    timestamp: Iso
    status: str | None = None
    duration_ms: int | None = None
    source: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    token_usage: int | None = None
    warnings: list[WarningOut] | None = None


class DashboardActivitySummary(Out):
    runs_count: int
    sessions_count: int
    success_rate: float = Field(description="Percent of the page's runs that succeeded, 1 decimal")


class DashboardActivity(Out):
    events: list[DashboardEvent]
    total: int = Field(description="All matching runs plus sessions in the window")
    summary: DashboardActivitySummary


# ---------------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketSize:
    granularity: Granularity
    size: int

    @property
    def width(self) -> timedelta:
        """The duration one bucket covers."""
        return (HOUR if self.granularity == "hour" else DAY) * self.size


def bucket_size(span: timedelta) -> BucketSize:
    """Bucket width aiming at ~24 points: 1-12 h up to 14 days, 1-14 days beyond."""
    hours = span / HOUR
    if hours <= 14 * 24:
        ideal = hours / TARGET_POINTS
        size = next((s for limit, s in HOURLY_STEPS if ideal <= limit), HOURLY_MAX)
        return BucketSize("hour", size)
    ideal = hours / 24 / TARGET_POINTS
    size = next((s for limit, s in DAILY_STEPS if ideal <= limit), DAILY_MAX)
    return BucketSize("day", size)


def _floor(instant: datetime, granularity: Granularity) -> datetime:
    utc = instant.astimezone(UTC)
    if granularity == "hour":
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Grid:
    """Consecutive buckets from the start's hour (or UTC day) through the end's, inclusive."""

    size: BucketSize
    origin: datetime
    count: int

    def index(self, instant: datetime) -> int | None:
        """The bucket holding `instant`, or None outside the grid."""
        offset = instant - self.origin
        if offset < timedelta(0):
            return None
        slot = offset // self.size.width
        return slot if slot < self.count else None

    def labels(self) -> list[str]:
        """Bucket start labels, chronological."""
        fmt = "%Y-%m-%d %H:00:00" if self.size.granularity == "hour" else "%Y-%m-%d"
        return [(self.origin + self.size.width * i).strftime(fmt) for i in range(self.count)]


def grid(start: datetime, end: datetime) -> Grid:
    """The bucket grid for the window [start, end]."""
    size = bucket_size(end - start)
    origin = _floor(start, size.granularity)
    last = _floor(end, size.granularity)
    return Grid(size, origin, (last - origin) // size.width + 1)


# ---------------------------------------------------------------------------------------------
# What counts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """A tenant's jobs and endpoints: the names, and what is live for aggregates."""

    jobs: Mapping[str, Job]
    endpoints: Mapping[str, Endpoint]

    @classmethod
    def of(cls, jobs: Iterable[Job], endpoints: Iterable[Endpoint]) -> Catalog:
        """Index the tenant's jobs and endpoints by id."""
        return cls({j.id: j for j in jobs}, {e.id: e for e in endpoints})

    def live(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint unless it, or its job, is archived or gone."""
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.archived_at is not None:
            return None
        job = self.jobs.get(endpoint.job_id)
        if job is None or job.status == "archived":
            return None
        return endpoint

    def in_scope(self, endpoint_id: str, job_id: str | None) -> Endpoint | None:
        """The live endpoint, provided it belongs to `job_id` when one is given."""
        endpoint = self.live(endpoint_id)
        if endpoint is None or (job_id is not None and endpoint.job_id != job_id):
            return None
        return endpoint


def is_success(status: str) -> bool:
    """Only `success` counts as a success."""
    return status == "success"


def is_failure(status: str) -> bool:
    """Failed, or the legacy `timeout` status."""
    return status in FAILURE_STATUSES


def _between(instant: datetime, start: datetime, end: datetime) -> bool:
    return start <= instant <= end


def round1(value: float) -> float:
    """One decimal, halves rounded up (as clients computing `Math.round(x*10)/10` expect)."""
    return math.floor(value * 10 + 0.5) / 10


def rate(runs: Iterable[Run]) -> float:
    """Success percentage over finished runs (success + failure), 0 when there are none."""
    statuses = [r.status for r in runs]
    success = sum(1 for s in statuses if is_success(s))
    failure = sum(1 for s in statuses if is_failure(s))
    return success / (success + failure) * 100 if success + failure else 0.0


def trend_of(current: float, previous: float) -> Trend:
    """`up`/`down` when the rate moved more than 2 points, else `stable`."""
    diff = current - previous
    if diff > TREND_STABLE_POINTS:
        return "up"
    if diff < -TREND_STABLE_POINTS:
        return "down"
    return "stable"


def trend_days(span: timedelta) -> int:
    """Length of each trend period: the window's span in whole days, rounded up, at least 1."""
    return max(1, math.ceil(span / DAY))


def success_rate(runs: Iterable[Run], now: datetime, days: int) -> DashboardSuccessRate:
    """Rate over [now - days, now] against the preceding period [now - 2*days, now - days)."""
    period = DAY * days
    current = [r for r in runs if _between(r.started_at, now - period, now)]
    previous = [r for r in runs if now - 2 * period <= r.started_at < now - period]
    now_rate = rate(current)
    return DashboardSuccessRate(overall=round1(now_rate), trend=trend_of(now_rate, rate(previous)))


def trend_window(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The runs the success rate needs: both trend periods, ending now."""
    return now - 2 * DAY * trend_days(end - start), now


def merge_intervals(
    intervals: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals joined, so each run is read once."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def job_counts(catalog: Catalog) -> DashboardJobCounts:
    """Jobs with status `active`."""
    return DashboardJobCounts(total=sum(1 for j in catalog.jobs.values() if j.status == "active"))


def endpoint_counts(catalog: Catalog, now: datetime) -> DashboardEndpointCounts:
    """Non-archived endpoints of active jobs; paused while pausedUntil is in the future."""
    counted = [
        e
        for e in catalog.endpoints.values()
        if e.archived_at is None
        and (job := catalog.jobs.get(e.job_id)) is not None
        and job.status == "active"
    ]
    paused = sum(1 for e in counted if e.paused_at(now))
    return DashboardEndpointCounts(total=len(counted), active=len(counted) - paused, paused=paused)


def recent_activity(runs: Iterable[Run], now: datetime) -> DashboardRecentActivity:
    """Runs started in the last 24 h (running ones count toward the total only)."""
    recent = [r for r in runs if _between(r.started_at, now - RECENT_WINDOW, now)]
    return DashboardRecentActivity(
        runs24h=len(recent),
        success24h=sum(1 for r in recent if is_success(r.status)),
        failure24h=sum(1 for r in recent if is_failure(r.status)),
    )


def job_health(catalog: Catalog, runs: Iterable[Run]) -> list[DashboardJobHealth]:
    """Every non-archived job, oldest first, with its live runs' outcomes (zeros included)."""
    success: Counter[str] = Counter()
    failure: Counter[str] = Counter()
    for run in runs:
        endpoint = catalog.live(run.endpoint_id)
        if endpoint is None:
            continue
        if is_success(run.status):
            success[endpoint.job_id] += 1
        elif is_failure(run.status):
            failure[endpoint.job_id] += 1
    jobs = sorted(
        (j for j in catalog.jobs.values() if j.status != "archived"),
        key=lambda j: (j.created_at, j.id),
    )
    return [
        DashboardJobHealth(
            job_id=j.id, job_name=j.name, success_count=success[j.id], failure_count=failure[j.id]
        )
        for j in jobs
    ]


def filtered_metrics(runs: Sequence[Run]) -> DashboardFilteredMetrics:
    """Counts and mean duration (of runs that have one, else null) of already-filtered runs."""
    durations = [r.duration_ms for r in runs if r.duration_ms is not None]
    return DashboardFilteredMetrics(
        total_runs=len(runs),
        success_count=sum(1 for r in runs if is_success(r.status)),
        failure_count=sum(1 for r in runs if is_failure(r.status)),
        avg_duration_ms=sum(durations) / len(durations) if durations else None,
    )


def source_distribution(runs: Iterable[Run]) -> list[DashboardSourceCount]:
    """Runs per scheduling source, most frequent first; runs without a source are left out."""
    counts = Counter(r.source for r in runs if r.source is not None)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [DashboardSourceCount(source=source, count=count) for source, count in ordered]


def run_series(window: Grid, runs: Iterable[Run]) -> list[DashboardRunPoint]:
    """Successes and failures per bucket, every bucket present, chronological."""
    success = [0] * window.count
    failure = [0] * window.count
    for run in runs:
        slot = window.index(run.started_at)
        if slot is None:
            continue
        if is_success(run.status):
            success[slot] += 1
        elif is_failure(run.status):
            failure[slot] += 1
    return [
        DashboardRunPoint(date=label, success=success[i], failure=failure[i])
        for i, label in enumerate(window.labels())
    ]


def _top(counts: Counter[str], catalog: Catalog, limit: int) -> list[Endpoint]:
    """The `limit` endpoints with the most rows (ties by name, then id)."""
    ranked = sorted(counts, key=lambda eid: (-counts[eid], catalog.endpoints[eid].name, eid))
    return [catalog.endpoints[eid] for eid in ranked[:limit]]


def endpoint_series(
    window: Grid, runs: Iterable[Run], catalog: Catalog, limit: int
) -> list[DashboardEndpointPoint]:
    """Per bucket, one point per top-`limit` endpoint by run count; empty without runs."""
    cells: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    counts: Counter[str] = Counter()
    for run in runs:
        slot = window.index(run.started_at)
        if slot is None or catalog.live(run.endpoint_id) is None:
            continue
        counts[run.endpoint_id] += 1
        cell = cells[(slot, run.endpoint_id)]
        if is_success(run.status):
            cell[0] += 1
        elif is_failure(run.status):
            cell[1] += 1
        cell[2] += run.duration_ms or 0
    top = _top(counts, catalog, limit)
    points: list[DashboardEndpointPoint] = []
    for slot, label in enumerate(window.labels()):
        for endpoint in top:
            success, failure, duration = cells.get((slot, endpoint.id), (0, 0, 0))
            points.append(
                DashboardEndpointPoint(
                    date=label,
                    endpoint_id=endpoint.id,
                    endpoint_name=endpoint.name,
                    success=success,
                    failure=failure,
                    total_duration_ms=duration,
                )
            )
    return points


def session_series(
    window: Grid, sessions: Iterable[AnalysisSession], catalog: Catalog, limit: int
) -> list[DashboardSessionPoint]:
    """Per bucket, sessions and tokens of the top-`limit` endpoints by session count."""
    cells: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    counts: Counter[str] = Counter()
    for session in sessions:
        slot = window.index(session.analyzed_at)
        if slot is None or catalog.live(session.endpoint_id) is None:
            continue
        counts[session.endpoint_id] += 1
        cell = cells[(slot, session.endpoint_id)]
        cell[0] += 1
        cell[1] += session.token_usage or 0
    top = _top(counts, catalog, limit)
    points: list[DashboardSessionPoint] = []
    for slot, label in enumerate(window.labels()):
        for endpoint in top:
            count, tokens = cells.get((slot, endpoint.id), (0, 0))
            points.append(
                DashboardSessionPoint(
                    date=label,
                    endpoint_id=endpoint.id,
                    endpoint_name=endpoint.name,
                    session_count=count,
                    total_tokens=tokens,
                )
            )
    return points


def max_stacked(points: Iterable[tuple[str, int]]) -> float:
    """Largest per-date sum with 10% headroom for a chart's y axis; 0 without points."""
    per_date: Counter[str] = Counter()
    for date, value in points:
        per_date[date] += value
    if not per_date:
        return 0.0
    # Rounded so 9 gives 9.9, not 9.900000000000002.
    return round(max(per_date.values()) * STACK_HEADROOM, 6)


def stats(
    catalog: Catalog,
    runs: Iterable[Run],
    sessions: Iterable[AnalysisSession],
    query: DashboardStatsQuery,
    now: datetime,
) -> DashboardStats:
    """All of `GET /dashboard/stats` from the tenant's rows (may include rows outside the window).

    Stat cards (jobs, endpoints, success rate, 24 h activity, job health) cover the whole tenant;
    the charts and filtered metrics honour jobId, and all but the source distribution honour
    source.
    """
    start, end = query.start_date, query.end_date
    live_runs = [r for r in runs if catalog.live(r.endpoint_id) is not None]
    in_window = [r for r in live_runs if _between(r.started_at, start, end)]
    in_job = [r for r in in_window if catalog.in_scope(r.endpoint_id, query.job_id) is not None]
    filtered = [r for r in in_job if query.source is None or r.source == query.source]
    job_sessions = [
        s
        for s in sessions
        if _between(s.analyzed_at, start, end)
        and catalog.in_scope(s.endpoint_id, query.job_id) is not None
    ]
    window = grid(start, end)
    endpoint_points = endpoint_series(window, filtered, catalog, query.endpoint_limit)
    session_points = session_series(window, job_sessions, catalog, query.endpoint_limit)
    return DashboardStats(
        jobs=job_counts(catalog),
        endpoints=endpoint_counts(catalog, now),
        success_rate=success_rate(live_runs, now, trend_days(end - start)),
        recent_activity=recent_activity(live_runs, now),
        job_health=job_health(catalog, in_window),
        filtered_metrics=filtered_metrics(filtered),
        source_distribution=source_distribution(in_job),
        run_time_series=run_series(window, filtered),
        endpoint_time_series=endpoint_points,
        endpoint_time_series_max_stacked=max_stacked(
            (p.date, p.success + p.failure) for p in endpoint_points
        ),
        ai_session_time_series=session_points,
        ai_session_time_series_max_stacked=max_stacked(
            (p.date, p.session_count) for p in session_points
        ),
    )


# ---------------------------------------------------------------------------------------------
# Activity timeline
# ---------------------------------------------------------------------------------------------


def _run_event(run: Run, endpoint: Endpoint) -> DashboardEvent:
    return DashboardEvent(
        type="run",
        id=run.id,
        endpoint_id=run.endpoint_id,
        endpoint_name=endpoint.name,
        timestamp=run.started_at,
        status=run.status,
        duration_ms=run.duration_ms,
        source=run.source,
    )


def _session_event(session: AnalysisSession, endpoint: Endpoint) -> DashboardEvent:
    return DashboardEvent(
        type="session",
        id=session.id,
        endpoint_id=session.endpoint_id,
        endpoint_name=endpoint.name,
        timestamp=session.analyzed_at,
        reasoning=session.reasoning,
        tool_calls=[
            ToolCallOut(tool=c.tool, args=c.args, result=c.result) for c in session.tool_calls
        ],
        token_usage=session.token_usage,
        warnings=[WarningOut(code=w.code, message=w.message, meta=w.meta) for w in session.warnings]
        or None,
    )


def activity(
    catalog: Catalog,
    runs: Iterable[Run],
    sessions: Iterable[AnalysisSession],
    query: DashboardActivityQuery,
) -> DashboardActivity:
    """Runs and sessions in the window merged newest first, then paged; summary of the page."""
    start, end = query.start_date, query.end_date
    events: list[DashboardEvent] = []
    if query.event_type in ("all", "runs"):
        for run in runs:
            endpoint = catalog.in_scope(run.endpoint_id, query.job_id)
            if endpoint is not None and _between(run.started_at, start, end):
                events.append(_run_event(run, endpoint))
    if query.event_type in ("all", "sessions"):
        for session in sessions:
            endpoint = catalog.in_scope(session.endpoint_id, query.job_id)
            if endpoint is not None and _between(session.analyzed_at, start, end):
                events.append(_session_event(session, endpoint))
    # Ids sort by time too, so ties on the millisecond still come out in a stable order.
    events.sort(key=lambda e: (e.timestamp, e.id), reverse=True)
    page = events[query.offset : query.offset + query.limit]
    page_runs = [e for e in page if e.type == "run"]
    successes = sum(1 for e in page_runs if e.status is not None and is_success(e.status))
    return DashboardActivity(
        events=page,
        total=len(events),
        summary=DashboardActivitySummary(
            runs_count=len(page_runs),
            sessions_count=len(page) - len(page_runs),
            success_rate=round1(successes / len(page_runs) * 100) if page_runs else 0.0,
        ),
    )
