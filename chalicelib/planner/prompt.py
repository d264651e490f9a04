"""The one prompt a session starts from: rules, this endpoint, its health, the tools. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.entities import AnalysisSession, Endpoint, Job, Reflex, Run
from chalicelib.domain.health import failure_streak
from chalicelib.domain.reflex_rules import to_json
from chalicelib.domain.timeutil import iso
from chalicelib.planner.tools import ACTION_TOOLS

WINDOWS = (("1h", timedelta(hours=1)), ("4h", timedelta(hours=4)), ("24h", timedelta(hours=24)))
REASONING_CHARS = 150


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    runs: int
    success_pct: float | None


def windows(runs_newest_first: Sequence[Run], now: datetime) -> list[Window]:
    """Success rate and run count over the last 1, 4 and 24 hours (finished runs only)."""
    result = []
    for label, span in WINDOWS:
        inside = [
            r for r in runs_newest_first if r.started_at >= now - span and r.status != "running"
        ]
        ok = sum(1 for r in inside if r.status == "success")
        result.append(Window(label, len(inside), 100.0 * ok / len(inside) if inside else None))
    return result


def _ms(value: int | None) -> str:
    return f"{value}ms" if value else "none"


def _ago(then: datetime, now: datetime) -> str:
    minutes = (now - then).total_seconds() / 60
    return f"{minutes:.0f} min ago" if minutes < 60 else f"{minutes / 60:.1f}h ago"


def _status(ep: Endpoint, now: datetime) -> str:
    if ep.paused_at(now) and ep.paused_until is not None:
        return f"Paused until {iso(ep.paused_until)}"
    return "Active"


def _schedule(ep: Endpoint, now: datetime) -> list[str]:
    baseline = (
        f"cron `{ep.baseline_cron}` ({ep.timezone})"
        if ep.baseline_cron
        else f"interval {ep.baseline_interval_ms}ms"
    )
    lines = [
        f"- Baseline: {baseline}",
        f"- Last run: {iso(ep.last_run_at) if ep.last_run_at else 'Never'}",
        f"- Next run: {iso(ep.next_run_at)}",
        f"- Status: {_status(ep, now)}",
    ]
    failures = f"- Failure count: {ep.failure_count}"
    if ep.failure_count > 0:
        failures += f" ({2 ** min(ep.failure_count, 5)}x backoff)"
    lines.append(failures)
    lines.append(f"- Limits: min {_ms(ep.min_interval_ms)}, max {_ms(ep.max_interval_ms)}")
    if ep.hints_fresh(now) and ep.ai_hint_expires_at:
        parts = []
        if ep.ai_hint_interval_ms:
            parts.append(f"interval {ep.ai_hint_interval_ms}ms")
        if ep.ai_hint_next_run_at:
            parts.append(f"one-shot at {iso(ep.ai_hint_next_run_at)}")
        parts.append(f"expires {iso(ep.ai_hint_expires_at)}")
        if ep.ai_hint_reason:
            parts.append(f"reason: {ep.ai_hint_reason}")
        lines.append(f"- Active hints: {', '.join(parts)}")
    return lines


def _last_session(last: AnalysisSession | None, now: datetime) -> str:
    if last is None:
        return "- Last analysis: none (first analysis)"
    reasoning = last.reasoning or "No reasoning recorded"
    if len(reasoning) > REASONING_CHARS:
        reasoning = reasoning[:REASONING_CHARS] + "…"
    actions = [c.tool for c in last.tool_calls if c.tool in ACTION_TOOLS]
    return (
        f'- Last analysis: {_ago(last.analyzed_at, now)}: "{reasoning}" '
        f"(actions: {', '.join(actions) if actions else 'no action'})"
    )


def _reflexes(reflexes: Sequence[Reflex], now: datetime) -> str:
    live = [r for r in reflexes if r.live(now)]
    if not live:
        return "- None yet."
    lines = []
    for r in live:
        rule = to_json(r.spec)
        when = json.dumps(rule["when"], separators=(",", ":"))
        fired = (
            f"fired {r.fire_count}x, last {_ago(r.last_fired_at, now)}"
            if r.last_fired_at
            else "never fired"
        )
        expires = f"expires {iso(r.spec.expires_at)}" if r.spec.expires_at else "no expiry"
        author = "yours" if r.created_by.type == "session" else "set by a person: leave it"
        lines.append(
            f"- {r.id} ({author}): when {when} do {json.dumps(rule['do'])}, cooldown "
            f"{r.spec.cooldown_ms}ms, {expires}, {fired}. Reason: {r.spec.reason}"
        )
    return "\n".join(lines)


def build(
    endpoint: Endpoint,
    job: Job,
    siblings: Sequence[Endpoint],
    recent_runs: Sequence[Run],
    last: AnalysisSession | None,
    now: datetime,
    reflexes: Sequence[Reflex] = (),
) -> str:
    """The Markdown prompt for one endpoint; `recent_runs` are its last 24 h, newest first;
    `reflexes` are the endpoint's own."""
    names = [endpoint.name, *(s.name for s in siblings)]
    job_line = (
        f"{len(names)} endpoints [{', '.join(names)}]" if siblings else "Standalone (no siblings)"
    )
    health = windows(recent_runs, now)
    durations = [r.duration_ms for r in recent_runs if r.duration_ms is not None]
    avg = f"{sum(durations) / len(durations):.0f}ms" if durations else "N/A"
    table = "\n".join(
        f"| {w.label} | {'n/a' if w.success_pct is None else f'{w.success_pct:.0f}%'} | {w.runs} |"
        for w in health
    )
    quiet = (
        "\nNo runs in the last 24 hours: be conservative and schedule an early re-check.\n"
        if health[-1].runs == 0
        else ""
    )
    return f"""# Role
You adapt the schedule of one HTTP endpoint that Cronpilot calls, from its response bodies, its
health and its siblings in the same job, with short-lived hints and reflexes.

# Rules
- The description is your rule set: its thresholds, field names and intent come first. Without
  one, go by health and stay conservative. Prefer stability; act on clear evidence only.
- Do not act on one odd response (re-check sooner), on fewer than about 5 runs of data, on
  values in their normal range, when an active hint already covers it, or on repeated failures
  the description says nothing about (backoff handles those; tightening makes it worse).
- At most 15 steps. Keep reasoning brief and factual.

# Workflow
get_latest_response and get_sibling_latest_responses are already called for you: their results
follow this prompt. Read the description; call get_response_history for trends or borderline
values; compare with the rules and the health table; act only if justified; finish with
submit_analysis, in the same reply as your actions when you need nothing more.

# Reading response bodies
Status fields, metrics (prefer smoothed values and trends to instantaneous ones), coordination
flags (ready_for_*, needs_*, batch ids), cooldowns (last_*_at with cooldown_*), recommendations
(advice, not orders).

# Jobs
Endpoints of one job may coordinate: pipelines (a stage runs when the one before reports a new
batch), monitoring with recovery, load management (pause low-priority work under load, never
critical work).

# This endpoint
- Name: {endpoint.name}
- Rules (description): {endpoint.description or "none given"}
- Job: {job.name}: {job_line}
- Job description: {job.description or "none"}
{chr(10).join(_schedule(endpoint, now))}
{_last_session(last, now)}

# Health
| window | success | runs |
|---|---|---|
{table}
- Current failure streak: {failure_streak(recent_runs)}
- Average duration: {avg}
A healthy last hour after a poor day: recovered (consider clearing hints); every window worse:
an ongoing incident; the last hour worse than the rest: a new problem.{quiet}

# What your actions do
Precedence: pause, then the min/max limits, then your hints, then the baseline with failure
backoff (x 2^failures, at most x32; hints bypass it; cron gets none). Hints expire: pick a TTL
that covers the situation, no longer.
- propose_interval(intervalMs, ttlMinutes=60): replaces the baseline (cron too) until it
  expires. Avoid tightening during failure streaks.
- propose_next_time(nextRunAtIso, ttlMinutes=30): one extra run (the current time means now).
- pause_until(untilIso or null): null resumes.
- clear_hints(reason): back to the baseline at once.
- manage_reflexes(set, remove): see Reflexes.

# Reflexes
Turn the description's "when X, do Y" (X in this endpoint's or a sibling's answer) into a
reflex with manage_reflexes instead of watching for X: it acts within a second, you within
minutes. E.g. "run at once when health shows errors, at most every 5 min": when
{{"endpoint":"<health endpointId>","path":"body.error_count","op":">","value":0}}, do
{{"action":"run_now"}}, cooldownMs 300000. Siblings your reflexes read no longer wake you; a
firing does. Renew yours (replaceId) before they expire (24 h); remove those no longer right.
This endpoint's reflexes:
{_reflexes(reflexes, now)}

# When to look again (submit_analysis next_analysis_in_ms)
Incident: 5-15 min. Recovering: 30-60 min. Stable: 1-4 h. Very stable: 12-24 h.
Omit it to re-check after one baseline interval (cron: 5 min).

Current time: {iso(now)}. Analyse the endpoint now.
"""
