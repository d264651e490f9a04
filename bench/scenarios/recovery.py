"""Reacting to health: the seed's automated recovery, cache warming with a cooldown
(pattern 3) and a dependency's status embedded in a response across jobs (pattern 5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.scenarios import rules as r
from bench.scenarios.scripted import Call, Observation
from bench.scenarios.spec import (
    Body,
    EndpointSpec,
    Expect,
    History,
    JobSpec,
    Moment,
    Phase,
    Response,
    Scenario,
    minutes,
    seconds,
)
from chalicelib.domain.timeutil import iso, parse_instant

Found = Callable[[History], timedelta | None]

# Automated recovery ----------------------------------------------------------------------

HEALTH = "Health Check"
RECOVERY = "Trigger Recovery"
# incident start, restarts it takes to fix; a restart takes effect 2 minutes after it runs
INCIDENTS: tuple[tuple[timedelta, int], ...] = (
    (minutes(20) + seconds(20), 1),
    (minutes(95) + seconds(40), 2),
)
RESTART_TAKES = minutes(2)
RECOVERY_DURATION = minutes(150)


def _fixed_at(start: timedelta, needed: int, history: History) -> timedelta | None:
    restarts = [run.at for run in history.get("recovery", ()) if run.at >= start]
    return restarts[needed - 1] + RESTART_TAKES if len(restarts) >= needed else None


def degraded(at: timedelta, history: History) -> bool:
    """Whether the service is down at `at`: an incident has begun and is not fixed yet."""
    for start, needed in reversed(INCIDENTS):
        if start <= at:
            fixed = _fixed_at(start, needed, history)
            return fixed is None or at < fixed
    return False


def _health(m: Moment) -> dict[str, Any]:
    if degraded(m.at, m.history):
        return {
            "status": "degraded",
            "error_count": 15,
            "error_rate_pct": 12.5,
            "latency_ms": 2500,
            "last_check": iso(m.now),
            "needs_recovery": True,
        }
    return {"status": "healthy", "error_count": 0, "latency_ms": 45, "last_check": iso(m.now)}


def _restart(m: Moment) -> dict[str, Any]:
    return {
        "action": "restart",
        "triggered_at": iso(m.now),
        "status": "initiated",
        "cooldown_until": iso(m.now + minutes(5)),
    }


def _health_rule(o: Observation) -> list[Call]:
    down = r.get(o.latest, "status") == "degraded" or (r.get(o.latest, "error_count") or 0) > 0
    if down:
        return r.finish(r.retune(o, 10_000, "degraded: poll faster", minutes(30)), r.INCIDENT)
    calls = [r.clear("healthy again")] if r.hint_interval(o) else []
    return r.finish(calls, r.CALM)


def _recovery_rule(o: Observation) -> list[Call]:
    needed = r.sibling(o, HEALTH, "needs_recovery") is True
    until = r.get(o.latest, "cooldown_until")
    cooling = isinstance(until, str) and parse_instant(until) > o.now
    if needed and not cooling:
        return r.finish([r.run_now(o, "health check shows errors")], r.INCIDENT)
    if needed:
        wait = parse_instant(str(until)) - o.now
        return r.finish([], max(wait, r.INCIDENT), "Errors persist but the cooldown is active")
    return r.finish([], r.CALM)


def _health_reflexes(o: Observation) -> list[Call]:
    """Tighten on a degraded answer (again every 20 min while it lasts, the hint lasting 30),
    back to the baseline on the first healthy answer after one."""
    degraded_now = r.some(
        r.when("body.status", "==", "degraded"), r.when("body.error_count", ">", 0)
    )
    wanted = [
        r.reflex(
            degraded_now,
            {"action": "set_interval", "intervalMs": 10_000, "forMinutes": 30},
            "degraded: poll faster",
            minutes(20),
        ),
        r.reflex(
            r.every(r.when("body.status", "changed"), r.when("body.status", "==", "healthy")),
            {"action": "clear_hints"},
            "healthy again: back to the baseline",
            timedelta(0),
        ),
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _recovery_reflexes(o: Observation) -> list[Call]:
    """Restart as soon as the health check asks for it, at most once per 5-minute cooldown."""
    health = o.sibling_ids.get(HEALTH)
    if health is None:
        return r.finish([], r.INCIDENT, "The health check is not in this job yet")
    wanted = [
        r.reflex(
            r.when("body.needs_recovery", "==", True, endpoint=health),
            {"action": "run_now"},
            "health check shows errors: restart",
            minutes(5),
        )
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _restart_at(incident: int, nth: int) -> Found:
    """When the nth restart of an incident ran (a dynamic signal time)."""

    def find(history: History) -> timedelta | None:
        start = INCIDENTS[incident][0]
        restarts = [run.at for run in history.get("recovery", ()) if run.at >= start]
        return restarts[nth - 1] if len(restarts) >= nth else None

    return find


def _plus(timing: Found, delta: timedelta) -> Found:
    def shifted(history: History) -> timedelta | None:
        base = timing(history)
        return None if base is None else base + delta

    return shifted


def _recovery_wasted(key: str, run: Response, history: History) -> bool:
    """A restart while the service was healthy."""
    return key == "recovery" and not degraded(run.at, history)


def automated_recovery() -> Scenario:
    """The seed's complete example: a degraded health check triggers a restart."""
    first, second = INCIDENTS[0][0], INCIDENTS[1][0]
    endpoints = (
        EndpointSpec(
            "health",
            HEALTH,
            _health,
            "Monitors service health. When status is degraded or error_count > 0, poll "
            "faster. When errors detected, trigger-recovery should run immediately.",
            interval_ms=60_000,
            min_ms=10_000,
            max_ms=300_000,
        ),
        EndpointSpec(
            "recovery",
            RECOVERY,
            _restart,
            "Recovery action that restarts the service. Only run when health-check shows "
            "errors. After triggering, wait at least 5 minutes before another attempt. When "
            "service recovers, return to hourly baseline.",
            interval_ms=3_600_000,
            min_ms=300_000,
            method="POST",
        ),
    )
    healthy_again = _plus(_restart_at(0, 1), RESTART_TAKES)
    fixed_again = _plus(_restart_at(1, 2), RESTART_TAKES)
    expects = (
        Expect("health", "tighten", first, minutes(2), "status degraded", "health", seconds(10)),
        # The bound dates from when minIntervalMs clamped from now (5 minutes out); kept as is.
        Expect("recovery", "run", first, minutes(7), "needs_recovery", "health"),
        Expect("health", "relax", healthy_again, minutes(3), "healthy", "health", seconds(50)),
        Expect("health", "tighten", second, minutes(2), "status degraded", "health", seconds(10)),
        Expect("recovery", "run", second, minutes(7), "needs_recovery", "health"),
        Expect(
            "recovery",
            "run",
            _plus(_restart_at(1, 1), minutes(5)),
            minutes(3),
            "cooldown over, still degraded",
        ),
        Expect("health", "relax", fixed_again, minutes(3), "healthy", "health", seconds(50)),
    )
    phases = (
        Phase("healthy", timedelta(0), first),
        Phase("incident 1", first, minutes(50)),
        Phase("healthy", minutes(50), second),
        Phase("incident 2", second, RECOVERY_DURATION),
    )
    return Scenario(
        key="automated_recovery",
        title="Automated recovery (seed complete example)",
        summary="health check + restart action; incidents at 20m20s (one restart fixes it) "
        "and 95m40s (two restarts needed); 2.5 h",
        duration=RECOVERY_DURATION,
        jobs=(JobSpec("main", "Service Recovery Workflow"),),
        endpoints=endpoints,
        phases=phases,
        rules={HEALTH: _health_rule, RECOVERY: _recovery_rule},
        reflex_rules={HEALTH: _health_reflexes, RECOVERY: _recovery_reflexes},
        reflex_notes=(
            "With reflexes the restart runs on the health check's own degraded answer (seen = "
            "took effect), and the 5-minute cooldown gives incident 2 its second restart on "
            "time, which the session-only policy misses. Sessions are fewer (the health "
            "check's changes no longer wake Trigger Recovery) but each is larger: the prompt "
            "lists the reflexes and the first session sets them.",
        ),
        expects=expects,
        wasted=_recovery_wasted,
        wasted_means="a restart while the service was healthy (the hourly baseline)",
        notes=(
            "Trigger Recovery keeps the seed's minIntervalMs of 5 min; the limits count from "
            "the last run, so a restart long after the previous one runs at once.",
            "The second restart of incident 2 never comes: after the first, the session asks "
            "to look again when the cooldown ends, but an endpoint that has not run since its "
            "last session is only analysed again when its own or a sibling's signal changes "
            "(domain/analysis.py verdict), and the health check stays degraded without "
            "changing. The service stays down until the hourly baseline restart.",
        ),
    )


# Cache warming with a cooldown -----------------------------------------------------------

CACHE = "Cache Monitor"
DROPS = (minutes(30) + seconds(20), minutes(65) + seconds(20), minutes(150) + seconds(20))
COOLDOWN = minutes(60)
CACHE_DURATION = timedelta(hours=3)
INITIAL_WARM = -timedelta(hours=3)


def _warms(history: History) -> list[timedelta]:
    return [run.at for run in history.get("cache", ()) if r.get(run.body, "cache_warmed") is True]


def _cache(m: Moment) -> dict[str, Any]:
    """A run warms when the previous run asked for it and the cooldown has passed; the hit
    rate is low from each drop until the next warm."""
    runs = m.runs("cache")
    warms = _warms(m.history)
    last_warm = warms[-1] if warms else INITIAL_WARM
    asked = bool(runs) and r.get(runs[-1].body, "warm_cache_needed") is True
    start = m.now - m.at
    if asked and m.at - last_warm >= COOLDOWN:
        return {
            "cache_hit_rate_pct": 94.8,
            "cache_size_mb": 512,
            "status": "healthy",
            "last_warm_at": iso(m.now),
            "cache_warmed": True,
        }
    low = any(last_warm < drop <= m.at for drop in DROPS)
    body: dict[str, Any] = {
        "cache_hit_rate_pct": 65.2 if low else 95.5,
        "cache_size_mb": 512,
        "status": "degraded" if low else "healthy",
        "last_warm_at": iso(start + last_warm),
    }
    if low:
        body.update(warm_cache_needed=True, cooldown_minutes=60)
    return body


def _cache_rule(o: Observation) -> list[Call]:
    needed = r.get(o.latest, "warm_cache_needed") is True
    last = r.get(o.latest, "last_warm_at")
    cooldown = timedelta(minutes=r.get(o.latest, "cooldown_minutes") or 60)
    if not needed or not isinstance(last, str):
        return r.finish([], r.CALM)
    elapsed = o.now - parse_instant(last)
    if elapsed >= cooldown:
        return r.finish([r.run_now(o, "hit rate low and the cooldown has passed")], r.WATCH)
    text = f"Warming needed but cooldown active: {elapsed.total_seconds() / 60:.0f} min of 60"
    return r.finish([], max(cooldown - elapsed, r.INCIDENT), text)


def _cache_reflexes(o: Observation) -> list[Call]:
    """Warm on the answer that asks for it, at most once per the 60-minute cooldown."""
    wanted = [
        r.reflex(
            r.when("body.warm_cache_needed", "==", True),
            {"action": "run_now"},
            "warm_cache_needed: warm now",
            COOLDOWN,
        )
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _cache_wasted(key: str, run: Response, history: History) -> bool:
    """A run less than the 5-minute baseline after the previous one that warmed nothing."""
    runs = history.get(key, ())
    index = next(i for i, x in enumerate(runs) if x is run)
    early = index > 0 and run.at - runs[index - 1].at < minutes(5) - seconds(1)
    return early and r.get(run.body, "cache_warmed") is not True


def _first_warm_after(at: timedelta) -> Found:
    def find(history: History) -> timedelta | None:
        return next((w for w in _warms(history) if w >= at), None)

    return find


def cache_warm() -> Scenario:
    """Seed pattern 3: warm at once when the hit rate drops, at most once an hour."""
    endpoint = EndpointSpec(
        "cache",
        CACHE,
        _cache,
        "Monitors the cache hit rate and warms the cache on the run after it reported "
        "warm_cache_needed. Run at once when warm_cache_needed is true and last_warm_at is at "
        "least cooldown_minutes ago; while the cooldown is active, take no action.",
        interval_ms=300_000,
    )
    first, second, third = DROPS
    expects = (
        Expect("cache", "run", first, minutes(6), "warm_cache_needed", "cache"),
        Expect(
            "cache",
            "none",
            second,
            minutes(30),
            "needed, cooldown active",
            "cache",
            until=second + minutes(29),
        ),
        Expect(
            "cache",
            "run",
            _plus(_first_warm_after(timedelta(0)), COOLDOWN),
            minutes(6),
            "cooldown over",
        ),
        Expect("cache", "run", third, minutes(6), "warm_cache_needed", "cache"),
    )
    phases = (
        Phase("warm", timedelta(0), first),
        Phase("drop 1", first, second),
        Phase("drop 2 (cooldown)", second, minutes(120)),
        Phase("warm", minutes(120), third),
        Phase("drop 3", third, CACHE_DURATION),
    )
    return Scenario(
        key="cache_warm_cooldown",
        title="Cache warm-up with a cooldown (seed pattern 3)",
        summary="hit rate drops at 30m20s, 65m20s (inside the 60 min cooldown) and 150m20s; 3 h",
        duration=CACHE_DURATION,
        jobs=(JobSpec("main", "Cache Management"),),
        endpoints=(endpoint,),
        phases=phases,
        rules={CACHE: _cache_rule},
        reflex_rules={CACHE: _cache_reflexes},
        reflex_notes=(
            "No gain here, a small loss: the reflex reads the endpoint's own answer, and an "
            "endpoint's own changes still wake its sessions (only watched siblings are "
            "silenced), so the sessions are the same in number, each a little larger (the "
            "reflex listing). The warm-ups happen on the same runs as without reflexes: the "
            "signal is only seen at the endpoint's own 5-minute runs either way.",
        ),
        expects=expects,
        wasted=_cache_wasted,
        wasted_means="an extra run (under the 5-minute baseline after the previous one) that "
        "warmed nothing",
    )


# Cross-job status ------------------------------------------------------------------------

OUTAGE = (minutes(60) + seconds(20), minutes(95) + seconds(20))
CROSS_DURATION = timedelta(hours=3)


def _down(at: timedelta) -> bool:
    return OUTAGE[0] <= at < OUTAGE[1]


def _upstream(m: Moment) -> dict[str, Any]:
    return {"service_status": "unavailable" if _down(m.at) else "healthy", "last_check": iso(m.now)}


def _consumer(processed: int) -> Body:
    def body(m: Moment) -> dict[str, Any]:
        status = "unavailable" if _down(m.at) else "healthy"
        reply: dict[str, Any] = {
            "processed_count": 0 if _down(m.at) else processed,
            "upstream_health": {"status": status, "checked_at": iso(m.now)},
        }
        if _down(m.at):
            reply["error"] = "Upstream service unavailable"
        return reply

    return body


def _consumer_rule(o: Observation) -> list[Call]:
    status = r.get(o.latest, "upstream_health", "status")
    if status == "unavailable" and not r.paused(o):
        calls = [r.pause_until(o.now + minutes(15), "upstream service unavailable")]
        return r.finish(calls, r.INCIDENT)
    return r.finish([], r.CALM)


def _consumer_reflexes(o: Observation) -> list[Call]:
    """Pause for 15 minutes on the answer that reports the upstream unavailable."""
    wanted = [
        r.reflex(
            r.when("body.upstream_health.status", "==", "unavailable"),
            {"action": "pause", "forMinutes": 15},
            "upstream service unavailable: pause",
            minutes(15),
        )
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _cross_wasted(key: str, run: Response, history: History) -> bool:
    """A downstream run while the upstream service was unavailable."""
    return key in ("processor", "pipeline") and _down(run.at)


def cross_job() -> Scenario:
    """Seed pattern 5: downstream endpoints embed the upstream's health in their bodies."""
    endpoints = (
        EndpointSpec(
            "upstream",
            "Upstream Health Check",
            _upstream,
            "Reports service_status of the upstream service.",
            interval_ms=60_000,
            job="upstream",
        ),
        EndpointSpec(
            "processor",
            "Data Processor",
            _consumer(100),
            "Processes records from the upstream service and embeds its health as "
            "upstream_health. When upstream_health.status is unavailable, pause for 15 minutes.",
            interval_ms=120_000,
            method="POST",
            job="downstream",
        ),
        EndpointSpec(
            "pipeline",
            "Analytics Pipeline",
            _consumer(40),
            "Feeds analytics from the upstream service and embeds its health as "
            "upstream_health. When upstream_health.status is unavailable, pause for 15 minutes.",
            interval_ms=300_000,
            method="POST",
            job="downstream",
        ),
    )
    down, up = OUTAGE
    expects = (
        Expect("processor", "pause", down, minutes(3), "upstream unavailable", "processor"),
        Expect("pipeline", "pause", down, minutes(6), "upstream unavailable", "pipeline"),
        Expect("processor", "run", up, minutes(16), "upstream healthy"),
        Expect("pipeline", "run", up, minutes(16), "upstream healthy"),
    )
    phases = (
        Phase("healthy", timedelta(0), down),
        Phase("outage", down, up),
        Phase("healthy", up, CROSS_DURATION),
    )
    return Scenario(
        key="cross_job_status",
        title="Cross-job status in a response (seed pattern 5)",
        summary="the upstream (another job) is unavailable from 60m20s to 95m20s; downstream "
        "endpoints see it in their own bodies; 3 h",
        duration=CROSS_DURATION,
        jobs=(
            JobSpec("upstream", "Upstream Service"),
            JobSpec("downstream", "Downstream Consumers"),
        ),
        endpoints=endpoints,
        phases=phases,
        rules={
            "Data Processor": _consumer_rule,
            "Analytics Pipeline": _consumer_rule,
            "Upstream Health Check": lambda o: r.finish([], r.CALM),
        },
        reflex_rules={
            "Data Processor": _consumer_reflexes,
            "Analytics Pipeline": _consumer_reflexes,
        },
        expects=expects,
        wasted=_cross_wasted,
        wasted_means="a downstream run while the upstream service was unavailable",
    )
