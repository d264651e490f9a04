"""What each page shows, read through the same services and repositories as the REST API,
always scoped to the signed-in tenant (another tenant's id is NotFound, as in the API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.deps import Deps
from chalicelib.domain.entities import AnalysisSession, Endpoint, Job, Reflex, Run, Tenant
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.forecast import upcoming
from chalicelib.domain.reflex_rules import to_json
from chalicelib.domain.responses import (
    EndpointResponse,
    SessionDetail,
    SigningKeyInfo,
    reflexes_set,
)
from chalicelib.domain.schemas import RunsQuery, SessionsQuery, parse
from chalicelib.services import accounts, jobs, observe, reflexes, signing_keys
from chalicelib.services.ai_usage import ai_usage
from chalicelib.services.endpoints import get_endpoint
from chalicelib.web.charts import interval_chart, sparkline

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
FEED_LIMIT = 30
# With a job filter, the newest runs of the whole tenant read to find the job's.
FEED_SCAN = 200
NEXT_RUNS = 10
RUNS_PAGE = 20
CHART_RUNS = 100
# How far back a job page looks for each endpoint's last run (one read for the whole job).
LAST_RUN_LOOKBACK = timedelta(days=7)
CAUSES = (
    "baseline",
    "backoff",
    "interval-hint",
    "oneshot-hint",
    "reflex",
    "clamp",
    "pause-ended",
    "resumed",
    "manual-test",
)


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str = ""
    tone: str = "neutral"  # neutral | good | warn | bad


@dataclass(frozen=True)
class FeedItem:
    at: datetime
    kind: str  # run | session | hint | reflex
    title: str
    detail: str
    href: str | None
    tone: str = "neutral"


@dataclass
class EndpointRow:
    endpoint: Endpoint
    status: str
    last_run: Run | None = None
    hint: str | None = None
    reflexes: list[Reflex] = field(default_factory=list)


def endpoint_status(endpoint: Endpoint, job: Job, now: datetime) -> str:
    """The badge: archived, paused, running, failing, new or ok."""
    if endpoint.archived_at is not None or job.status == "archived":
        return "archived"
    if job.status == "paused" or endpoint.paused_at(now):
        return "paused"
    if endpoint.locked_until is not None and endpoint.locked_until > now:
        return "running"
    if endpoint.failure_count > 0:
        return "failing"
    return "new" if endpoint.last_run_at is None else "ok"


def hint_text(endpoint: Endpoint, now: datetime) -> str | None:
    """The active hint in words, or None."""
    if not endpoint.hints_fresh(now):
        return None
    parts = []
    if endpoint.ai_hint_interval_ms:
        parts.append(f"every {endpoint.ai_hint_interval_ms / 1000:g} s")
    if endpoint.ai_hint_next_run_at is not None:
        parts.append("one run at " + endpoint.ai_hint_next_run_at.strftime("%H:%M:%S UTC"))
    by = endpoint.ai_hint_set_by
    who = f" (set by {by.type} {by.id})" if by else ""
    return ", ".join(parts) + who if parts else None


# --- overview ---------------------------------------------------------------------------


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_counts(deps: Deps, tenant: Tenant, now: datetime) -> tuple[int, int, int]:
    """(runs, finished, succeeded) over the last 24 h, remembered for a minute per tenant."""
    cached = deps.dashboard_counts.get(tenant.id, now)
    if cached is not None:
        return cached
    day = deps.runs.for_tenant(tenant.id, now - WINDOWS["24h"], now, now)
    finished = [r for r in day if r.status != "running"]
    counts = (len(day), len(finished), sum(1 for r in finished if r.status == "success"))
    deps.dashboard_counts.put(tenant.id, counts, now)
    return counts


def tiles(deps: Deps, tenant: Tenant, now: datetime, endpoints: list[Endpoint]) -> list[Tile]:
    """The overview's tiles, in order. New tiles (e.g. open incidents) are added here."""
    total, finished, ok = day_counts(deps, tenant, now)
    rate = f"{100 * ok / finished:.1f}%" if finished else "—"
    failing = [e for e in endpoints if e.archived_at is None and e.failure_count > 0]
    usage = ai_usage(deps, tenant)
    sessions = deps.sessions.for_tenant(tenant.id, _month_start(now), now, now)
    budget = f"{usage.tokens_used:,} of {usage.tokens_limit:,} tokens"
    return [
        Tile("Runs, last 24 h", f"{total:,}", f"{finished - ok} failed"),
        Tile(
            "Success rate, 24 h",
            rate,
            f"{ok} of {finished} finished",
            "neutral" if not finished else ("good" if ok == finished else "warn"),
        ),
        Tile(
            "Failing endpoints",
            str(len(failing)),
            ", ".join(e.name for e in failing[:3]) or "none",
            "bad" if failing else "good",
        ),
        _incidents_tile(deps, tenant, endpoints),
        Tile(
            "Planner this month",
            f"{len(sessions)} session{'' if len(sessions) == 1 else 's'}",
            budget + (" (over budget)" if usage.over_budget else ""),
            "bad" if usage.over_budget else "neutral",
        ),
    ]


def _incidents_tile(deps: Deps, tenant: Tenant, endpoints: list[Endpoint]) -> Tile:
    """Open incidents (failure streaks and late slots) from the tenant's open marks."""
    names = {e.id: e.name for e in endpoints}
    marks = deps.incidents.open_marks(tenant.id)
    where = sorted({names.get(endpoint_id, endpoint_id) for endpoint_id, _ in marks})
    return Tile(
        "Open incidents",
        str(len(marks)),
        ", ".join(where[:3]) or "none",
        "bad" if marks else "good",
    )


def _feed_runs(runs: list[Run], names: dict[str, str]) -> list[FeedItem]:
    items = []
    for run in runs:
        cause = run.cause.kind if run.cause else (run.source or "run")
        code = f"HTTP {run.status_code}" if run.status_code else (run.error_kind or run.status)
        items.append(
            FeedItem(
                run.started_at,
                "run",
                f"{names.get(run.endpoint_id, run.endpoint_id)}: {run.status}",
                f"{code} · {cause}",
                f"/runs/{run.id}",
                {"success": "good", "failed": "bad"}.get(run.status, "neutral"),
            )
        )
    return items


def _feed_sessions(sessions: list[AnalysisSession], names: dict[str, str]) -> list[FeedItem]:
    return [
        FeedItem(
            s.analyzed_at,
            "session",
            f"Planner looked at {names.get(s.endpoint_id, s.endpoint_id)}",
            (s.reasoning or s.status)[:160],
            f"/sessions/{s.id}",
            "bad" if s.status != "success" else "neutral",
        )
        for s in sessions
    ]


def _feed_hints(endpoints: list[Endpoint], now: datetime, start: datetime) -> list[FeedItem]:
    # A hint's set time is not kept; the endpoint's last change is when it was written.
    items = []
    for e in endpoints:
        text = hint_text(e, now)
        if text and e.updated_at >= start:
            reason = f" — {e.ai_hint_reason}" if e.ai_hint_reason else ""
            items.append(
                FeedItem(
                    e.updated_at, "hint", f"Hint on {e.name}", text + reason, f"/endpoints/{e.id}"
                )
            )
    return items


def _feed_reflexes(found: list[Reflex], names: dict[str, str], start: datetime) -> list[FeedItem]:
    items = []
    for r in found:
        if r.last_fired_at is not None and r.last_fired_at >= start:
            href = f"/runs/{r.last_fired_run_id}" if r.last_fired_run_id else None
            action = to_json(r.spec)["do"].get("action", "act")
            items.append(
                FeedItem(
                    r.last_fired_at,
                    "reflex",
                    f"Reflex fired on {names.get(r.endpoint_id, r.endpoint_id)}",
                    f"{action} · {r.spec.reason}",
                    href,
                )
            )
    return items


def overview(deps: Deps, tenant: Tenant, window: str, job_id: str | None) -> dict[str, Any]:
    """Tiles, next runs, runs in flight and the activity feed."""
    now = deps.clock.now()
    if window not in WINDOWS:
        raise ValidationFailed.field("window", "must be one of 24h, 7d, 30d")
    job_list = deps.jobs.list(tenant.id)
    job_by_id = {j.id: j for j in job_list}
    if job_id is not None:
        jobs.get_job(deps, tenant, job_id)
    all_endpoints = deps.endpoints.list_by_tenant(tenant.id)
    live = [e for e in all_endpoints if e.archived_at is None and e.job_id in job_by_id]
    names = {e.id: e.name for e in all_endpoints}
    start = now - WINDOWS[window]
    shown = [e for e in live if job_id is None or e.job_id == job_id]
    shown_ids = {e.id for e in shown} | ({e.id for e in all_endpoints} if job_id is None else set())
    # The feed shows the newest few: one page of the by-tenant index, whatever the volume.
    wanted = FEED_LIMIT if job_id is None else FEED_SCAN
    newest = deps.runs.newest_for_tenant(tenant.id, start, now, now, wanted)
    runs = [r for r in newest if r.endpoint_id in shown_ids]
    sessions = [
        s
        for s in deps.sessions.for_tenant(tenant.id, start, now, now)
        if s.endpoint_id in shown_ids
    ]
    found: list[Reflex] = []
    for job in job_list:
        if job_id is None or job.id == job_id:
            found.extend(deps.reflexes.list_by_job(tenant.id, job.id))
    feed = _feed_runs(runs, names) + _feed_sessions(sessions, names)
    feed += _feed_hints(shown, now, start) + _feed_reflexes(found, names, start)
    feed.sort(key=lambda item: item.at, reverse=True)
    scheduled = [e for e in shown if job_by_id[e.job_id].schedulable and not e.paused_at(now)]
    scheduled.sort(key=lambda e: e.next_run_at)
    return {
        "tiles": tiles(deps, tenant, now, live),
        "next_runs": scheduled[:NEXT_RUNS],
        "in_flight": _in_flight(deps, shown, runs),
        "feed": feed[:FEED_LIMIT],
        "feed_more": len(feed) > FEED_LIMIT or len(newest) == wanted,
        "jobs": [j for j in job_list if j.status != "archived"],
        "job_names": {j.id: j.name for j in job_list},
        "names": names,
        "window": window,
        "windows": list(WINDOWS),
        "job_id": job_id,
        "now": now,
    }


def _in_flight(deps: Deps, endpoints: list[Endpoint], runs: list[Run]) -> list[Run]:
    """Runs in flight, newest first: those the endpoints' claims stand for, and any written
    `running` by the release before."""
    found = {r.id: r for r in runs if r.status == "running"}
    for endpoint in endpoints:
        run = observe.in_flight(deps, endpoint)
        if run is not None:
            found.setdefault(run.id, run)
    return sorted(found.values(), key=lambda r: r.id, reverse=True)


# --- jobs -------------------------------------------------------------------------------


def jobs_page(deps: Deps, tenant: Tenant) -> dict[str, Any]:
    """Every job with its endpoints' badges."""
    now = deps.clock.now()
    rows = jobs.list_jobs(deps, tenant, None)
    by_job: dict[str, list[Endpoint]] = {}
    for e in deps.endpoints.list_by_tenant(tenant.id):
        by_job.setdefault(e.job_id, []).append(e)
    items = []
    for job, count in rows:
        endpoints = [e for e in by_job.get(job.id, []) if e.archived_at is None]
        badges = [endpoint_status(e, job, now) for e in endpoints]
        upcoming_at = min(
            (e.next_run_at for e in endpoints if job.schedulable and not e.paused_at(now)),
            default=None,
        )
        items.append({"job": job, "count": count, "badges": badges, "next_run_at": upcoming_at})
    return {"items": items}


def _last_runs(
    deps: Deps, tenant: Tenant, endpoints: list[Endpoint], now: datetime
) -> dict[str, Run]:
    """The newest run of each endpoint, from one read of the tenant's recent runs."""
    ran = [e.last_run_at for e in endpoints if e.last_run_at is not None]
    if not ran:
        return {}
    start = max(min(ran), now - LAST_RUN_LOOKBACK) - timedelta(minutes=15)
    wanted = {e.id for e in endpoints}
    newest: dict[str, Run] = {}
    for run in deps.runs.for_tenant(tenant.id, start, now, now):
        if run.endpoint_id in wanted and run.source != "test":
            held = newest.get(run.endpoint_id)
            if held is None or run.started_at >= held.started_at:
                newest[run.endpoint_id] = run
    return newest


def job_detail(deps: Deps, tenant: Tenant, job_id: str) -> dict[str, Any]:
    """A job with every endpoint's badge, schedule, last and next run, hints and reflexes."""
    now = deps.clock.now()
    job = jobs.get_job(deps, tenant, job_id)
    endpoints = deps.endpoints.list_by_job(tenant.id, job_id)
    endpoints.sort(key=lambda e: (e.archived_at is not None, e.created_at, e.id))
    last = _last_runs(deps, tenant, endpoints, now)
    found = deps.reflexes.list_by_job(tenant.id, job_id)
    rows = [
        EndpointRow(
            e,
            endpoint_status(e, job, now),
            last.get(e.id),
            hint_text(e, now),
            [r for r in found if r.endpoint_id == e.id and r.live(now)],
        )
        for e in endpoints
    ]
    return {"job": job, "rows": rows, "now": now}


# --- endpoint ---------------------------------------------------------------------------


def endpoint_detail(
    deps: Deps, tenant: Tenant, endpoint_id: str, params: dict[str, str]
) -> dict[str, Any]:
    """Schedule card and forecast, the interval chart, latency, filtered runs, sessions."""
    now = deps.clock.now()
    endpoint = get_endpoint(deps, tenant, endpoint_id)
    job = jobs.get_job(deps, tenant, endpoint.job_id)
    status = params.get("status") or None
    cause = params.get("cause") or None
    if cause is not None and cause not in CAUSES:
        raise ValidationFailed.field("cause", "must be one of " + ", ".join(CAUSES))
    query = parse(RunsQuery, {"status": status, "offset": params.get("offset") or 0})
    running = observe.in_flight(deps, endpoint)
    recent, total_all = deps.runs.page(tenant.id, endpoint.id, now, None, CHART_RUNS, 0, running)
    if cause is None and query.status is None and query.offset + RUNS_PAGE <= len(recent):
        # The chart's read already holds this page: no second query and count.
        shown, total = recent[query.offset : query.offset + RUNS_PAGE], total_all
    elif cause is None:
        shown, total = observe.list_runs(
            deps,
            tenant,
            endpoint.id,
            RunsQuery(status=query.status, limit=RUNS_PAGE, offset=query.offset),
        )
    else:
        # The store filters by status only; a cause filter reads the chart's window of runs.
        matching = [
            r
            for r in recent
            if (r.cause.kind if r.cause else None) == cause
            and (query.status is None or r.status == query.status)
        ]
        total = len(matching)
        shown = matching[query.offset : query.offset + RUNS_PAGE]
    finished = [r for r in reversed(recent) if r.duration_ms is not None]
    sessions, session_total = observe.list_sessions(
        deps, tenant, endpoint.id, SessionsQuery(limit=10, offset=0)
    )
    return {
        "endpoint": endpoint,
        "shown_endpoint": EndpointResponse.of(endpoint),
        "job": job,
        "status": endpoint_status(endpoint, job, now),
        "hint": hint_text(endpoint, now),
        "forecast": upcoming(endpoint, now) if job.schedulable else [],
        "chart": interval_chart(endpoint, recent),
        "latency": sparkline([float(r.duration_ms or 0) for r in finished[-60:]]),
        "latency_last": finished[-1].duration_ms if finished else None,
        "runs": shown,
        "runs_total": total,
        "runs_all": total_all,
        "offset": query.offset,
        "page_size": RUNS_PAGE,
        "filter_status": query.status or "",
        "filter_cause": cause or "",
        "causes": CAUSES,
        "sessions": sessions,
        "sessions_total": session_total,
        "reflexes": reflexes.list_reflexes(deps, tenant.id, endpoint),
        "now": now,
    }


def run_detail(deps: Deps, tenant: Tenant, run_id: str) -> dict[str, Any]:
    """A run with the request it made (headers masked) and why it ran."""
    run, endpoint = observe.get_run(deps, tenant, run_id)
    return {"run": run, "endpoint": endpoint, "request": EndpointResponse.of(endpoint)}


def session_detail(deps: Deps, tenant: Tenant, session_id: str) -> dict[str, Any]:
    """A planner session as a transcript, with what it changed."""
    session, endpoint = observe.get_session(deps, tenant, session_id)
    runs = observe.runs_caused(deps, session, reflexes_set(session))
    detail = SessionDetail.with_name(session, endpoint.name, [r.id for r in runs])
    return {"session": session, "endpoint": endpoint, "detail": detail, "runs": runs}


def keys_page(deps: Deps, tenant: Tenant) -> dict[str, Any]:
    """API keys (never raw) and the signing key's public facts."""
    now = deps.clock.now()
    return {
        "keys": accounts.list_keys(deps, tenant),
        "signing": SigningKeyInfo.of(signing_keys.get_key(deps, tenant), now),
        "now": now,
    }
