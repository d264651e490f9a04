"""Pausing lower priorities under load: the seed's flash-sale load management (pattern 1, on
the reference's 40-minute metric timeline) and its tiered priority system (pattern 4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bench.scenarios import rules as r
from bench.scenarios.scripted import Call, Observation, Rule
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
from bench.scenarios.timeline import DURATION, PHASES, load_status, sample
from chalicelib.domain.timeutil import iso, parse_instant

MONITOR = "Traffic Monitor"
SPIKE = (minutes(9), minutes(21))  # the monitor recommends pausing low-priority work
CRITICAL = (minutes(13), minutes(21))  # load_status is critical
RECOMMENDED_END = minutes(30)


def _monitor(m: Moment) -> dict[str, Any]:
    values = sample(m.minute)
    status = load_status(values["pageLoadMs"])
    busy = status in ("high", "critical")
    start = m.now - m.at
    return {
        "visitors_per_min": values["traffic"],
        "load_status": status,
        "flash_sale_active": 5 <= m.minute < 21,
        "recommendations": {
            "pause_low_priority": busy,
            "pause_until": iso(start + RECOMMENDED_END) if busy else None,
        },
    }


def _orders(m: Moment) -> dict[str, Any]:
    orders = sample(m.minute)["orders"]
    return {"orders_processed": orders // 2, "queue_depth": orders // 10, "status": "processing"}


def _inventory(m: Moment) -> dict[str, Any]:
    return {"items_synced": 120, "status": "synced", "last_sync_at": iso(m.now)}


def _analytics(m: Moment) -> dict[str, Any]:
    return {"last_update_at": iso(m.now), "records_processed": 1500, "status": "active"}


def _monitor_rule(o: Observation) -> list[Call]:
    status = r.get(o.latest, "load_status")
    if status is None:
        return r.finish([], r.INCIDENT)
    if status != "normal":
        return r.finish(r.retune(o, 20_000, f"load {status}", minutes(30)), r.INCIDENT)
    calls = [r.clear("load back to normal")] if r.hint_interval(o) else []
    return r.finish(calls, r.CALM)


def _critical_rule(o: Observation) -> list[Call]:
    return r.finish([], r.CALM, "Critical endpoint: keeps running whatever the load")


def _inventory_rule(o: Observation) -> list[Call]:
    critical = r.sibling(o, MONITOR, "load_status") == "critical"
    calls: list[Call] = []
    if critical and not r.paused(o):
        calls = [r.pause_until(o.now + timedelta(hours=1), "load critical")]
    elif not critical and r.paused(o):
        calls = [r.resume("load no longer critical")]
    return r.finish(calls, r.INCIDENT if critical else r.CALM)


def _analytics_rule(o: Observation) -> list[Call]:
    pause = r.sibling(o, MONITOR, "recommendations", "pause_low_priority") is True
    until = r.sibling(o, MONITOR, "recommendations", "pause_until")
    calls: list[Call] = []
    if pause and not r.paused(o) and isinstance(until, str) and parse_instant(until) > o.now:
        calls = [r.pause_until(parse_instant(until), "flash sale: pausing low-priority work")]
    elif not pause and r.paused(o):
        calls = [r.resume("load normalized")]
    return r.finish(calls, r.INCIDENT if pause else r.CALM)


def _monitor_reflexes(o: Observation) -> list[Call]:
    """Poll every 20 s while load is not normal (refreshed every 20 min, the hint lasting
    30), back to the baseline on the first normal answer after one."""
    wanted = [
        r.reflex(
            r.when("body.load_status", "!=", "normal"),
            {"action": "set_interval", "intervalMs": 20_000, "forMinutes": 30},
            "load not normal: poll faster",
            minutes(20),
        ),
        r.reflex(
            r.every(
                r.when("body.load_status", "changed"), r.when("body.load_status", "==", "normal")
            ),
            {"action": "clear_hints"},
            "load normal again: back to the baseline",
            timedelta(0),
        ),
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _switch(
    o: Observation, source: str, path: str, on: dict[str, Any], off: dict[str, Any]
) -> list[Call]:
    """Pause when the source's `path` changes to match `on`, resume when it changes to match
    `off`: on changes only, so a steady answer never fires (each firing costs a session)."""
    monitor = o.sibling_ids.get(source)
    if monitor is None:
        return r.finish([], r.INCIDENT, f"{source} is not in this job yet")
    moved = r.when(path, "changed", endpoint=monitor)
    wanted = [
        r.reflex(r.every(moved, {**on, "endpoint": monitor}), _PAUSE, f"pause: {path}", _NOW),
        r.reflex(r.every(moved, {**off, "endpoint": monitor}), _RESUME, f"resume: {path}", _NOW),
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


_PAUSE: dict[str, Any] = {"action": "pause", "forMinutes": 60}
_RESUME: dict[str, Any] = {"action": "resume"}
_NOW = timedelta(0)


def _inventory_reflexes(o: Observation) -> list[Call]:
    status = "body.load_status"
    critical = r.when(status, "==", "critical")
    return _switch(o, MONITOR, status, critical, r.when(status, "!=", "critical"))


def _analytics_reflexes(o: Observation) -> list[Call]:
    # The rule pauses until the monitor's pause_until, which a reflex cannot read: it pauses
    # for an hour and resumes when the recommendation is withdrawn.
    flag = "body.recommendations.pause_low_priority"
    return _switch(o, MONITOR, flag, r.when(flag, "==", True), r.when(flag, "==", False))


def _inside(span: tuple[timedelta, timedelta], at: timedelta) -> bool:
    return span[0] <= at < span[1]


def _load_wasted(key: str, run: Response, history: History) -> bool:
    """A low-priority run while the monitor recommended pausing it, or an inventory sync
    while load was critical."""
    if key == "analytics":
        return _inside(SPIKE, run.at)
    return key == "inventory" and _inside(CRITICAL, run.at)


def load_management() -> Scenario:
    """Seed pattern 1: a traffic monitor coordinates; low priority pauses during the spike."""
    endpoints = (
        EndpointSpec(
            "traffic",
            MONITOR,
            _monitor,
            "Coordinator. Reports visitors_per_min, load_status (normal, elevated, high, "
            "critical) and recommendations for lower-priority work. Poll every 20 s while "
            "load_status is not normal; back to the 60 s baseline when it is normal.",
            interval_ms=60_000,
            min_ms=20_000,
            max_ms=300_000,
            tier="coordinator",
        ),
        EndpointSpec(
            "orders",
            "Order Processor",
            _orders,
            "Priority: CRITICAL. Processes customer orders every 30 s. Must keep running "
            "through traffic spikes: never pause or slow it down.",
            interval_ms=30_000,
            method="POST",
            tier="critical",
        ),
        EndpointSpec(
            "inventory",
            "Inventory Sync",
            _inventory,
            "Priority: NORMAL. Syncs inventory to the warehouse. Can pause while the Traffic "
            "Monitor's load_status is critical; resume as soon as it is not.",
            interval_ms=300_000,
            method="POST",
            tier="normal",
        ),
        EndpointSpec(
            "analytics",
            "Analytics Updater",
            _analytics,
            "Priority: LOW. Updates dashboards. Pause while the Traffic Monitor recommends "
            "pausing low-priority work, until its recommended pause_until; resume when the "
            "recommendation is withdrawn.",
            interval_ms=600_000,
            method="POST",
            tier="low",
        ),
    )
    rules: dict[str, Rule] = {
        MONITOR: _monitor_rule,
        "Order Processor": _critical_rule,
        "Inventory Sync": _inventory_rule,
        "Analytics Updater": _analytics_rule,
    }
    expects = (
        Expect(
            "traffic", "tighten", minutes(5), minutes(1), "load elevated", "traffic", seconds(20)
        ),
        Expect("traffic", "relax", minutes(21), minutes(2), "load normal", "traffic", seconds(50)),
        Expect("orders", "none", minutes(0), DURATION, "any load (critical work)", "traffic"),
        Expect("analytics", "pause", SPIKE[0], minutes(1), "pause_low_priority", "traffic"),
        Expect("analytics", "resume", SPIKE[1], minutes(1), "recommendation withdrawn", "traffic"),
        Expect("inventory", "pause", CRITICAL[0], minutes(1), "load critical", "traffic"),
        Expect("inventory", "resume", CRITICAL[1], minutes(1), "load not critical", "traffic"),
    )
    return Scenario(
        key="flash_sale_load",
        title="Flash sale load management (seed pattern 1)",
        summary="coordinator + critical, normal and low priority work on the reference's "
        "40-minute timeline; low priority pauses from minute 9, normal at 13, both resume at 21",
        duration=DURATION,
        jobs=(
            JobSpec(
                "main",
                "Flash Sale Management",
                "The Traffic Monitor coordinates: pause low-priority work during traffic "
                "spikes, never critical work.",
            ),
        ),
        endpoints=endpoints,
        phases=PHASES,
        rules=rules,
        reflex_rules={
            MONITOR: _monitor_reflexes,
            "Inventory Sync": _inventory_reflexes,
            "Analytics Updater": _analytics_reflexes,
        },
        reflex_notes=(
            "Reflexes pause and resume on the monitor's own answer, as the sessions already "
            "did here (the monitor runs on the signal's minute and its change is urgent), so "
            "reactions match; the saving is in sessions: Inventory Sync and Analytics Updater "
            "are no longer woken by every change of the monitor they watch, only by firings.",
        ),
        expects=expects,
        wasted=_load_wasted,
        wasted_means="an Analytics Updater run while the monitor recommended pausing low "
        "priority (minutes 9-21), an Inventory Sync run while load was critical (13-21)",
    )


# Tiered priority -------------------------------------------------------------------------

HEALTH = "System Health Monitor"
LEVELS = ("CRITICAL", "NORMAL", "LOW")
# start, system load %, paused priority levels
TIERS: tuple[tuple[timedelta, int, tuple[str, ...]], ...] = (
    (timedelta(0), 40, ()),
    (minutes(30.5), 85, ("LOW",)),
    (minutes(70.5), 95, ("LOW", "NORMAL")),
    (minutes(100.5), 50, ()),
)
TIERED_DURATION = timedelta(hours=3)


def _tier_at(at: timedelta) -> tuple[int, tuple[str, ...]]:
    _, load, paused = next(row for row in reversed(TIERS) if row[0] <= at)
    return load, paused


def _health(m: Moment) -> dict[str, Any]:
    load, paused = _tier_at(m.at)
    return {
        "system_load_pct": load + m.minute % 3,
        "recommendations": {
            "active_priority_levels": [lvl for lvl in LEVELS if lvl not in paused],
            "paused_priority_levels": list(paused),
            "reason": f"System load high - pausing {', '.join(paused)} work"
            if paused
            else "System load normal",
        },
    }


def _worker(kind: str) -> Body:
    def body(m: Moment) -> dict[str, Any]:
        return {"worker": kind, "status": "ok", "finished_at": iso(m.now)}

    return body


def _level(name: str) -> str | None:
    return next((lvl for lvl in LEVELS if name.startswith(f"[{lvl}]")), None)


def _tier_rule(o: Observation) -> list[Call]:
    level = _level(o.endpoint_name)
    paused_levels = r.sibling(o, HEALTH, "recommendations", "paused_priority_levels")
    if level is None or level == "CRITICAL" or not isinstance(paused_levels, list):
        return r.finish([], r.CALM)
    calls: list[Call] = []
    if level in paused_levels and not r.paused(o):
        calls = [r.pause_until(o.now + timedelta(hours=2), f"system load high: {level} paused")]
    elif level not in paused_levels and r.paused(o):
        calls = [r.resume(f"{level} work active again")]
    return r.finish(calls, r.WATCH if paused_levels else r.CALM)


PAUSED_LEVELS = "body.recommendations.paused_priority_levels"


def _lists(level: str) -> dict[str, Any]:
    """The monitor's paused levels include `level` (no reflex op tests membership, so each
    of the at most three places is compared)."""
    return r.some(*(r.when(f"{PAUSED_LEVELS}.{i}", "==", level) for i in range(len(LEVELS))))


def _omits(level: str) -> dict[str, Any]:
    """None of the monitor's paused levels is `level`. A list that is gone omits it too, so no
    `exists` clause: with `changed` beside it that keeps the group at four items, the most a
    reflex condition allows."""
    places = (f"{PAUSED_LEVELS}.{i}" for i in range(len(LEVELS)))
    return r.every(*(r.some(r.when(p, "exists", False), r.when(p, "!=", level)) for p in places))


def _tier_reflexes(o: Observation) -> list[Call]:
    level = _level(o.endpoint_name)
    if level is None or level == "CRITICAL":
        return r.finish([], r.CALM)
    monitor = o.sibling_ids.get(HEALTH)
    if monitor is None:
        return r.finish([], r.INCIDENT, f"{HEALTH} is not in this job yet")
    moved = r.when(PAUSED_LEVELS, "changed", endpoint=monitor)

    def on_monitor(condition: dict[str, Any]) -> dict[str, Any]:
        return _retarget(condition, monitor)

    wanted = [
        r.reflex(
            r.every(moved, on_monitor(_lists(level))),
            {"action": "pause", "forMinutes": 120},
            f"system load high: {level} paused",
            _NOW,
        ),
        r.reflex(
            # Flattened into one `all`: reflex conditions nest at most two groups deep.
            r.every(moved, *on_monitor(_omits(level))["all"]),
            _RESUME,
            f"{level} work active again",
            _NOW,
        ),
    ]
    return r.finish(r.keep_reflexes(o, wanted), r.CALM)


def _retarget(condition: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The condition with every clause reading `endpoint`."""
    for group in ("all", "any"):
        if group in condition:
            return {group: [_retarget(c, endpoint) for c in condition[group]]}
    return {**condition, "endpoint": endpoint}


def _tier_wasted(key: str, run: Response, history: History) -> bool:
    """A run while the monitor listed its priority level as paused."""
    level = {"inventory": "NORMAL", "analytics": "LOW", "reports": "LOW"}.get(key)
    return level is not None and level in _tier_at(run.at)[1]


def tiered() -> Scenario:
    """Seed pattern 4: a health monitor names the priority levels to pause."""
    endpoints = (
        EndpointSpec(
            "health",
            HEALTH,
            _health,
            "Coordinator. Reports system_load_pct and recommendations: which priority levels "
            "stay active and which to pause.",
            interval_ms=60_000,
            tier="coordinator",
        ),
        EndpointSpec(
            "payments",
            "[CRITICAL] Payment Processor",
            _worker("payments"),
            "Priority: CRITICAL. Processes customer payments; never pause it.",
            interval_ms=60_000,
            method="POST",
            tier="critical",
        ),
        EndpointSpec(
            "inventory",
            "[NORMAL] Inventory Sync",
            _worker("inventory"),
            "Priority: NORMAL. Pause while the System Health Monitor lists NORMAL among "
            "paused_priority_levels; resume when it no longer does.",
            interval_ms=120_000,
            method="POST",
            tier="normal",
        ),
        EndpointSpec(
            "analytics",
            "[LOW] Analytics Updater",
            _worker("analytics"),
            "Priority: LOW. Pause while the System Health Monitor lists LOW among "
            "paused_priority_levels; resume when it no longer does.",
            interval_ms=300_000,
            method="POST",
            tier="low",
        ),
        EndpointSpec(
            "reports",
            "[LOW] Report Builder",
            _worker("reports"),
            "Priority: LOW. Pause while the System Health Monitor lists LOW among "
            "paused_priority_levels; resume when it no longer does.",
            interval_ms=600_000,
            method="POST",
            tier="low",
        ),
    )
    rules: dict[str, Rule] = {spec.name: _tier_rule for spec in endpoints[1:]}
    rules[HEALTH] = lambda o: r.finish([], r.CALM)
    low, normal, calm = TIERS[1][0], TIERS[2][0], TIERS[3][0]
    expects = (
        Expect("payments", "none", timedelta(0), TIERED_DURATION, "any load", "health"),
        Expect("analytics", "pause", low, minutes(2), "LOW paused", "health"),
        Expect("reports", "pause", low, minutes(2), "LOW paused", "health"),
        Expect("inventory", "pause", normal, minutes(2), "NORMAL paused", "health"),
        Expect("analytics", "resume", calm, minutes(2), "all levels active", "health"),
        Expect("reports", "resume", calm, minutes(2), "all levels active", "health"),
        Expect("inventory", "resume", calm, minutes(2), "all levels active", "health"),
    )
    phases = tuple(
        Phase(name, row[0], nxt[0] if nxt else TIERED_DURATION)
        for name, row, nxt in zip(
            ("calm", "LOW paused", "LOW+NORMAL paused", "calm again"),
            TIERS,
            (*TIERS[1:], None),
            strict=True,
        )
    )
    return Scenario(
        key="tiered_priority",
        title="Tiered priority (seed pattern 4)",
        summary="a health monitor pauses LOW at 30.5 min, LOW+NORMAL at 70.5, none from 100.5; 3 h",
        duration=TIERED_DURATION,
        jobs=(
            JobSpec(
                "main",
                "Tiered Workloads",
                "The System Health Monitor recommends which priority levels (from the "
                "endpoint names) to pause.",
            ),
        ),
        endpoints=endpoints,
        phases=phases,
        rules=rules,
        reflex_rules={spec.name: _tier_reflexes for spec in endpoints[2:]},
        expects=expects,
        wasted=_tier_wasted,
        wasted_means="a run while the monitor listed the endpoint's priority level as paused",
    )
