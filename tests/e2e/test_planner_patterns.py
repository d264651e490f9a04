"""The seed's coordination patterns, played by the AI planner end to end on the local stack.

One stack (`python -m chalicelib.local`) runs the real planner (analysis tick, analysis queue and
poller, the real `openai` client) against a loopback OpenAI-compatible server
(tests/e2e/planner_helpers.py: `Provider`) that answers each endpoint's sessions from a scripted
model (`RuleModel`: step 1 reads the latest response, the last finished one and the siblings'
bodies; step 2 calls what the endpoint's rule below decides, and submits). Targets are loopback
servers whose JSON bodies the scenarios change while the stack runs. Everything is checked
through the REST API: runs, sessions (tool calls with arguments and results, reasoning, tokens)
and endpoint state (hints, pause, next run).

The planner analyses an endpoint at most once a minute (MIN_GAP) and its tick runs at least
10 s apart, so a scenario needing two sessions of an endpoint takes a little over a minute. To
keep within the time budget every scenario plays at once, each in a thread and jobs of its own,
with endpoint names no other scenario uses (the provider routes sessions, and injected faults,
by name). Each test waits for its scenario and re-raises what it found. Waits are
deadline-bounded polls of the API for what the test expects, never sleeps; where a scenario
turns a state over near the end of an endpoint's minute (`near_gap_end`), it polls for that
endpoint's runs to get there.

Monitors whose body other endpoints read (traffic monitor, extract, system health monitor) run
when the scenario changes what they report (a one-shot through the API) rather than every few
seconds: the planner reads each sibling's newest run, and a run still in flight has no body yet,
so a monitor caught mid-run would read as unknown (see `RuleModel`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from bench.scenarios.scripted import Call, Observation, Rule
from chalicelib.domain.analysis import MIN_GAP, MIN_NEXT_ANALYSIS
from chalicelib.domain.timeutil import iso, parse_instant
from chalicelib.planner.model import Completion, ToolChoice
from chalicelib.planner.session import CONTEXT_READS
from tests.e2e.conftest import Stack, pid_alive, start_stack
from tests.e2e.planner_helpers import (
    Api,
    Provider,
    RuleModel,
    Targets,
    completion,
    model_steps,
    ms,
    until,
)
from tests.support.openai_server import FakeOpenAI, Fault

DISPATCH_PERIOD_S = 2
ANALYSIS_PERIOD_S = 10  # the analysis tick; the shortest the settings allow
AI_TIMEOUT_S = 3  # one model call
AI_RETRY_BUDGET_S = 10  # retries of one step
FIRST_SESSION_S = 40  # deadline: an endpoint's first run and the session it starts
DEFERRED_S = 100  # deadline: a session the one-a-minute rule deferred
EXTRA_LOOKS = 3  # looks a check lets pass before the one it waits for (each acting on nothing)
SCENARIO_S = 240  # deadline: a whole scenario (they all take about 80 s)
POLL_S = 1.0  # between two polls of the API by one scenario (a dozen poll at once)
AT_ONCE_MS = 10_000  # "at once": a run within this of the session that asked for it
HOUR_MS = 3_600_000
RARELY_MS = 300_000  # monitors that run when the scenario changes what they report
QUERY_TOOLS = ("get_latest_response", "get_response_history", "get_sibling_latest_responses")
LOG_FAILURES = (" ERROR ", "Traceback", "will retry", "lock lost")


def now_iso(plus: timedelta = timedelta(0)) -> str:
    return iso(datetime.now(UTC) + plus)


# --- the rules the scripted model plays (what a model reads in the descriptions) -------------


def decide(reasoning: str, *actions: Call) -> list[Call]:
    """The actions, then submit_analysis with this reasoning."""
    submit = {
        "reasoning": reasoning,
        "actions_taken": [name for name, _ in actions],
        "confidence": "high",
        "next_analysis_in_ms": 300_000,
    }
    return [*actions, ("submit_analysis", submit)]


def body(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_HINTED_INTERVAL = re.compile(r"^- Active hints: interval (\d+)ms", re.MULTILINE)
_PAUSED = re.compile(r"^- Status: Paused until ", re.MULTILINE)
_PRIORITY = re.compile(r"^- Rules \(description\): Priority: ([A-Z]+)", re.MULTILINE)
_TIER = re.compile(r"^\[([A-Z]+)\]")


def hinted_interval(o: Observation) -> int | None:
    found = _HINTED_INTERVAL.search(o.prompt)
    return int(found.group(1)) if found else None


def paused(o: Observation) -> bool:
    return _PAUSED.search(o.prompt) is not None


def pause(until: str, reason: str) -> Call:
    return ("pause_until", {"untilIso": until, "reason": reason})


def resume(reason: str) -> Call:
    return ("pause_until", {"untilIso": None, "reason": reason})


def run_now(o: Observation, reason: str) -> Call:
    return ("propose_next_time", {"nextRunAtIso": iso(o.now), "reason": reason})


def unreadable(o: Observation, sibling: str) -> list[Call] | None:
    """No decision on a sibling whose body could not be read (missing, or read mid-run)."""
    if o.siblings.get(sibling) is None:
        return decide(f"{sibling} has no readable response right now: no change")
    return None


# 1. Automated recovery (the seed's, verbatim: the health check polls faster while degraded;
# the recovery runs at once when it asks, and its 5 min minimum keeps it from running again)
TIGHT_MS = 10_000


def health_check_rule(o: Observation) -> list[Call]:
    if o.latest is None:
        return decide("No answer yet: nothing to adapt")
    latest = body(o.latest)
    degraded = latest.get("status") != "healthy" or latest.get("error_count", 0) > 0
    hinted = hinted_interval(o)
    if degraded and hinted is None:
        reason = f"status {latest.get('status')}, {latest.get('error_count')} errors: poll faster"
        interval = {"intervalMs": TIGHT_MS, "ttlMinutes": 30, "reason": reason}
        return decide(f"Degraded: {reason}", ("propose_interval", interval))
    if not degraded and hinted is not None:
        return decide("Healthy again: back to the baseline", ("clear_hints", {"reason": "healthy"}))
    return decide("Nothing new: the current schedule fits the health status")


def trigger_recovery_rule(health: str) -> Rule:
    """Runs the recovery when the health check asks for it; the minimum interval (5 min from
    the last run) is what keeps a second request from running it again too soon."""

    def rule(o: Observation) -> list[Call]:
        if body(o.siblings.get(health)).get("needs_recovery") is not True:
            return decide("The health check does not ask for recovery: hourly baseline")
        return decide(
            "Health check reports needs_recovery: running the recovery now",
            run_now(o, "health check needs recovery"),
        )

    return rule


def recovery_reflex_rule(health: str) -> Rule:
    """What a model makes of the recovery's description: a reflex on the health check's answer,
    set at its first look, renewed by nothing here (the scenario is short)."""

    def rule(o: Observation) -> list[Call]:
        if "(yours)" in o.prompt:
            return decide("The recovery reflex is in place")
        reflex = {
            "when": {
                "endpoint": o.sibling_ids[health],
                "path": "body.needs_recovery",
                "op": "==",
                "value": True,
            },
            "do": {"action": "run_now"},
            "cooldownMs": 300_000,
            "reason": "Run immediately when the health check asks for recovery",
        }
        return decide("Set the recovery as a reflex", ("manage_reflexes", {"set": [reflex]}))

    return rule


def load_reflex_rule(upstream: str) -> Rule:
    """The ETL hand-off as a reflex: run when the upstream reports a new batch, ready."""

    def rule(o: Observation) -> list[Call]:
        if "(yours)" in o.prompt:
            return decide("The hand-off reflex is in place")
        target = o.sibling_ids[upstream]
        reflex = {
            "when": {
                "all": [
                    {"endpoint": target, "path": "body.ready_for_load", "op": "==", "value": True},
                    {"endpoint": target, "path": "body.batch_id", "op": "changed"},
                ]
            },
            "do": {"action": "run_now"},
            "cooldownMs": 0,
            "reason": "Load each new batch as soon as it is ready",
        }
        return decide("Set the hand-off as a reflex", ("manage_reflexes", {"set": [reflex]}))

    return rule


# 2. Volume-based sync
SYNC_MIN_MS, SYNC_BASELINE_MS, SYNC_MAX_MS = 2000, 4000, 12_000


def sync_rule(o: Observation) -> list[Call]:
    pending = body(o.latest).get("records_pending")
    hinted = hinted_interval(o)
    if isinstance(pending, int) and pending > 1000 and hinted != SYNC_MIN_MS:
        reason = f"{pending} records pending: sync as often as allowed"
        return decide(reason, ("propose_interval", {"intervalMs": SYNC_MIN_MS, "reason": reason}))
    if isinstance(pending, int) and pending < 100 and hinted != SYNC_MAX_MS:
        reason = f"caught up ({pending} pending): slow down"
        return decide(reason, ("propose_interval", {"intervalMs": SYNC_MAX_MS, "reason": reason}))
    return decide(f"{pending} pending: the current interval fits")


# 3. Flash sale load management; the priority is in the description ("Priority: LOW. ...")
def flash_sale_rule(o: Observation) -> list[Call]:
    found = _PRIORITY.search(o.prompt)
    tier = found.group(1) if found else "NORMAL"
    if tier == "CRITICAL":
        return decide("Critical work keeps running whatever the load")
    if (unknown := unreadable(o, "Traffic Monitor")) is not None:
        return unknown
    traffic = body(o.siblings["Traffic Monitor"])
    advice = body(traffic.get("recommendations"))
    should_pause = (tier == "LOW" and advice.get("pause_low_priority") is True) or (
        tier == "NORMAL" and traffic.get("load_status") == "critical"
    )
    if should_pause and not paused(o):
        until = advice.get("pause_until") or iso(o.now + timedelta(minutes=10))
        reason = "Flash sale traffic spike - pausing low-priority work"
        return decide(reason, pause(until, reason))
    if not should_pause and paused(o):
        return decide("Load normalized - resuming", resume("Load normalized - resuming"))
    return decide(f"{tier} priority, load {traffic.get('load_status')}: no change")


# 4. ETL hand-off
def pipeline_stage_rule(upstream: str, ready_flag: str) -> Rule:
    def rule(o: Observation) -> list[Call]:
        source = body(o.siblings.get(upstream))
        batch, done = source.get("batch_id"), body(o.latest).get("batch_id")
        if source.get(ready_flag) is True and batch and batch != done:
            reason = f"New batch {batch} ready (last processed: {done})"
            return decide(reason, run_now(o, reason))
        return decide(f"No new batch (upstream {batch}, processed {done})")

    return rule


# 5. Cache warming with a cooldown
def cache_rule(o: Observation) -> list[Call]:
    latest = body(o.latest)
    if latest.get("warm_cache_needed") is not True:
        return decide(f"Cache {latest.get('status')}: nothing to warm")
    elapsed = (o.now - parse_instant(latest["last_warm_at"])) / timedelta(minutes=1)
    cooldown = latest.get("cooldown_minutes", 60)
    if elapsed >= cooldown:
        reason = f"Cache hit rate dropped to {latest.get('cache_hit_rate_pct')}%, cooldown elapsed"
        return decide(f"{reason} ({elapsed:.0f} of {cooldown} min)", run_now(o, reason))
    return decide(
        f"Cache warming needed but cooldown active - {elapsed:.0f} min elapsed of "
        f"{cooldown} min required"
    )


# 6. Tiered priority; the tier is in the name ("[LOW] Analytics Updater")
def tier_rule(o: Observation) -> list[Call]:
    found = _TIER.match(o.endpoint_name)
    tier = found.group(1) if found else "NORMAL"
    if tier == "CRITICAL":
        return decide("Critical tier: never paused")
    if (unknown := unreadable(o, "System Health Monitor")) is not None:
        return unknown
    advice = body(body(o.siblings["System Health Monitor"]).get("recommendations"))
    paused_levels = advice.get("paused_priority_levels") or []
    if tier in paused_levels and not paused(o):
        reason = f"System load high - {tier} tier paused"
        return decide(reason, pause(iso(o.now + timedelta(minutes=10)), reason))
    if tier not in paused_levels and paused(o):
        reason = f"{tier} tier active again"
        return decide(reason, resume(reason))
    return decide(f"{tier} tier: no change (paused levels {paused_levels})")


# 7. Cross-job status embedded in the response
CONSUMER_PAUSE = timedelta(seconds=20)


def consumer_rule(o: Observation) -> list[Call]:
    upstream = body(body(o.latest).get("upstream_health")).get("status")
    if upstream == "unavailable" and not paused(o):
        reason = "Upstream service unavailable"
        return decide(reason, pause(iso(o.now + CONSUMER_PAUSE), reason))
    return decide(f"Upstream {upstream}: keep processing")


RULES: dict[str, Rule] = {
    "Health Check": health_check_rule,
    "Trigger Recovery": trigger_recovery_rule("Health Check"),
    "Health Check (degraded from the start)": health_check_rule,
    "Trigger Recovery (degraded from the start)": trigger_recovery_rule(
        "Health Check (degraded from the start)"
    ),
    "Health Check (reflex)": health_check_rule,
    "Trigger Recovery (reflex)": recovery_reflex_rule("Health Check (reflex)"),
    "Load Batches (reflex)": load_reflex_rule("Extract Batches (reflex)"),
    "Sync Pending Records": sync_rule,
    "Order Processor": flash_sale_rule,
    "Inventory Sync": flash_sale_rule,
    "Analytics Updater": flash_sale_rule,
    "Transform Customer Data": pipeline_stage_rule("Extract Customer Data", "ready_for_transform"),
    "Load to Database": pipeline_stage_rule("Transform Customer Data", "ready_for_load"),
    "Cache Monitor (eu)": cache_rule,
    "Cache Monitor (us)": cache_rule,
    "[CRITICAL] Payment Processor": tier_rule,
    "[NORMAL] Inventory Sync": tier_rule,
    "[LOW] Analytics Updater": tier_rule,
    "Data Processor": consumer_rule,
}


# --- models that misbehave -------------------------------------------------------------------


class GarbledModel:
    """Step 1: a good call, malformed JSON arguments, an unknown tool and an invalid argument;
    step 2: submit."""

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        if model_steps(messages) == 0:
            return completion(
                [
                    ("get_latest_response", "{}"),
                    ("propose_interval", '{"intervalMs": 1000,'),
                    ("restart_the_world", "{}"),
                    ("pause_until", '{"untilIso": "next tuesday"}'),
                ]
            )
        return completion([("submit_analysis", '{"reasoning": "Nothing to change after all"}')])


class SilentModel:
    """Never submits: chats once, then reads the latest response at every step, even the last
    one where submit_analysis is forced."""

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        if model_steps(messages) == 0:
            return completion([], content="Everything looks fine to me.")
        return completion([("get_latest_response", "{}")])


# --- scenario plumbing -----------------------------------------------------------------------


@dataclass
class Scene:
    """What a scenario plays with: its own API client, the shared targets and provider."""

    api: Api
    targets: Targets
    provider: Provider

    def run_now(self, endpoint: dict[str, Any]) -> None:
        """Have the endpoint run at once (a one-shot through the API)."""
        self.api.post(f"/endpoints/{endpoint['id']}/hints/oneshot", {"nextRunInMs": 0}, 204)

    def expect(
        self, endpoint: dict[str, Any], session: dict[str, Any], names: list[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        """Assert the session's action calls are `names`, none failed; their (tool, args)."""
        found = actions(session)
        failed = [c for c in session["toolCalls"] if "error" in body(c["result"])]
        assert [t for t, _ in found] == names and failed == [], self.show(endpoint, session)
        return found

    def show(self, endpoint: dict[str, Any], session: dict[str, Any]) -> str:
        """A session, a line per call, and its prompt's schedule lines (assertion messages)."""
        lines = [f"session {session['analyzedAt']} {session['status']}: {session['reasoning']!r}"]
        for c in session["toolCalls"]:
            args, result = json.dumps(c["args"])[:150], json.dumps(c["result"])[:400]
            lines.append(f"  {c['tool']}({args}) -> {result}")
        for prompt in self.provider.prompts(endpoint["name"])[-3:]:
            section = prompt[prompt.index("# This endpoint") : prompt.index("# Health")]
            lines.append("  prompt: " + section.replace("\n", " | "))
        return "\n".join(lines)


Scenario = Callable[[Scene], str]


def actions(session: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The session's action calls (tool, args), in order."""
    return [
        (c["tool"], c["args"])
        for c in session["toolCalls"]
        if c["tool"] not in (*QUERY_TOOLS, "submit_analysis")
    ]


def result_of(session: dict[str, Any], tool: str) -> Any:
    """The result of the session's first call of `tool`."""
    for call in session["toolCalls"]:
        if call["tool"] == tool:
            return call["result"]
    raise AssertionError(f"{tool} was not called: {session['toolsCalled']}")


def sibling_body(session: dict[str, Any], name: str) -> dict[str, Any]:
    """The body of sibling `name` as the session read it."""
    for sibling in result_of(session, "get_sibling_latest_responses")["siblings"]:
        if sibling["endpointName"] == name:
            return body(sibling.get("responseBody"))
    raise AssertionError(f"{name} not among the siblings the session read")


def own_body(session: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's own newest finished body, as the session's model went by it."""
    latest = result_of(session, "get_latest_response")
    return body(latest.get("responseBody")) if latest.get("found") else {}


def setup_look(session: dict[str, Any]) -> bool:
    """The look a new endpoint gets when created, before it has answered: nothing of its own to
    read (its rule may still set reflexes from its description)."""
    if session.get("trigger") != "first_analysis":
        return False
    latest = [c for c in session["toolCalls"] if c["tool"] == "get_latest_response"]
    return bool(latest) and body(latest[0]["result"]).get("found") is False


def looks(api: Api, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The endpoint's sessions after its setup look (which must not have acted), oldest first."""
    sessions = api.sessions(endpoint)
    if sessions and setup_look(sessions[0]):
        assert actions(sessions[0]) == [], sessions[0]
        return sessions[1:]
    return sessions


def nth_look(api: Api, endpoint: dict[str, Any], n: int, deadline_s: float) -> dict[str, Any]:
    """Wait for the endpoint's n-th session (1-based) after its setup look and return it."""

    def check() -> dict[str, Any] | None:
        found = looks(api, endpoint)
        return found[n - 1] if len(found) >= n else None

    return until(check, deadline_s, f"session {n} of {endpoint['name']}", POLL_S)


def look_that(
    s: Scene,
    endpoint: dict[str, Any],
    n: int,
    deadline_s: float,
    wanted: Callable[[dict[str, Any]], bool],
    earlier: str,
) -> tuple[int, dict[str, Any]]:
    """The endpoint's first look from its n-th on that is `wanted`, with its number.

    Sessions are one model step, so the endpoint's own runs and its siblings' first answers
    can wake it before the news a check waits for: every look before the wanted one must have
    acted on nothing and said `earlier` in its reasoning.
    """
    for k in range(n, n + EXTRA_LOOKS + 1):
        look = nth_look(s.api, endpoint, k, deadline_s)
        if wanted(look):
            return k, look
        assert not actions(look) and earlier in look["reasoning"], s.show(endpoint, look)
    raise AssertionError(f"no wanted look of {endpoint['name']} among looks {n}-{k}")


def acting(look: dict[str, Any]) -> bool:
    return bool(actions(look))


def nth_session(api: Api, endpoint: dict[str, Any], n: int, deadline_s: float) -> dict[str, Any]:
    """Wait for the endpoint's n-th session (1-based) and return it."""

    def check() -> dict[str, Any] | None:
        sessions = api.sessions(endpoint)
        return sessions[n - 1] if len(sessions) >= n else None

    return until(check, deadline_s, f"session {n} of {endpoint['name']}", POLL_S)


def wait_runs(
    api: Api,
    endpoint: dict[str, Any],
    n: int,
    deadline_s: float,
    where: Callable[[dict[str, Any]], bool] = lambda r: True,
) -> list[dict[str, Any]]:
    """Wait until at least n finished runs match `where`; all finished runs, oldest first."""

    def check() -> list[dict[str, Any]] | None:
        runs = api.runs(endpoint)
        return runs if sum(1 for r in runs if where(r)) >= n else None

    return until(check, deadline_s, f"{n} matching runs of {endpoint['name']}", POLL_S)


def after(instant_ms: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: ms(r["startedAt"]) > instant_ms


def between(start_ms: int, end_ms: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: start_ms < ms(r["startedAt"]) < end_ms


def done(session: dict[str, Any]) -> int:
    """When the session ended (analyzedAt), in epoch ms."""
    return ms(session["analyzedAt"])


def opened(session: dict[str, Any]) -> int:
    """When the session began, in epoch ms: its actions (and the runs they cause) come before
    it ends."""
    return done(session) - int(session["durationMs"])


# A state change in the last seconds of an endpoint's minute after a session (MIN_GAP) makes the
# analyzer send a follow-up message for the moment the minute ends, rather than leave the next
# session to the analysis tick (up to 10 s late).
FOLLOW_UP_LEAD_MS = 9000


def near_gap_end(api: Api, endpoint: dict[str, Any], session: dict[str, Any]) -> list[Any]:
    """Wait for the endpoint's first run in those last seconds; its finished runs."""
    lead_from = done(session) + MIN_GAP // timedelta(milliseconds=1) - FOLLOW_UP_LEAD_MS
    return wait_runs(api, endpoint, 1, 90, after(lead_from))


def assert_untouched(s: Scene, endpoint: dict[str, Any]) -> None:
    """Analysed, never acted on, and carrying no hint or pause."""
    sessions = s.api.sessions(endpoint)
    assert sessions, f"{endpoint['name']} was never analysed"
    for session in sessions:
        s.expect(endpoint, session, [])
    state = s.api.endpoint(endpoint)
    hints = ("aiHintIntervalMs", "aiHintNextRunAt", "aiHintExpiresAt", "pausedUntil")
    assert all(state.get(k) is None for k in hints), state


def assert_cadence(runs: list[dict[str, Any]], interval_ms: int) -> None:
    """Each run's slot is the previous run's start plus the interval, or, when the previous run
    outlasted that, its end plus the interval (domain/afterrun.py)."""
    for previous, run in pairwise(runs):
        slot, planned = ms(run["slotAt"]), ms(previous["startedAt"]) + interval_ms
        after_end = ms(previous["finishedAt"]) + interval_ms
        assert slot == planned or after_end <= slot <= after_end + 5000, (previous, run)


def seconds(start: str, end: str) -> float:
    return (ms(end) - ms(start)) / 1000


# --- 1. automated recovery, the seed's settings verbatim --------------------------------------

HEALTH_CHECK = {
    "name": "Health Check",
    "method": "GET",
    "baselineIntervalMs": 60000,
    "minIntervalMs": 10000,
    "maxIntervalMs": 300000,
    "timeoutMs": 10000,
    "description": "Monitors service health. When status is degraded or error_count > 0, poll "
    "faster. When errors detected, trigger-recovery should run immediately.",
}
TRIGGER_RECOVERY = {
    "name": "Trigger Recovery",
    "method": "POST",
    "baselineIntervalMs": 3600000,
    "minIntervalMs": 300000,
    "timeoutMs": 30000,
    "description": "Recovery action that restarts the service. Only run when health-check shows "
    "errors. After triggering, wait at least 5 minutes before another attempt. When service "
    "recovers, return to hourly baseline.",
}
RECOVERY_MIN_MS = 300_000
HEALTHY = {"status": "healthy", "error_count": 0, "latency_ms": 45}
NEEDS_RECOVERY = {
    "status": "degraded",
    "error_count": 15,
    "error_rate_pct": 12.5,
    "latency_ms": 2500,
    "needs_recovery": True,
}


@dataclass
class Service:
    """The seed's service on the loopback targets: its health answer and its restart action."""

    s: Scene
    key: str
    suffix: str
    state: dict[str, Any]
    job: str = ""
    health: dict[str, Any] = field(default_factory=dict)
    recovery: dict[str, Any] = field(default_factory=dict)

    def create(self) -> None:
        api, targets = self.s.api, self.s.targets
        self.job = api.create_job(f"Service Recovery Workflow{self.suffix}")
        health_url = targets.serve(
            f"/{self.key}/health", lambda: {**self.state, "last_check": now_iso()}
        )
        restart_url = targets.serve(
            f"/{self.key}/restart",
            lambda: {
                "action": "restart",
                "triggered_at": now_iso(),
                "status": "initiated",
                "cooldown_until": now_iso(timedelta(minutes=5)),
            },
        )
        self.health = api.create_endpoint(
            self.job, {**HEALTH_CHECK, "name": f"Health Check{self.suffix}", "url": health_url}
        )
        self.recovery = api.create_endpoint(
            self.job,
            {**TRIGGER_RECOVERY, "name": f"Trigger Recovery{self.suffix}", "url": restart_url},
        )

    def report(self, state: dict[str, Any]) -> None:
        self.state = dict(state)

    def check(self, n: int) -> dict[str, Any]:
        """Have the health check answer now (within its 10 s minimum); its n-th run."""
        self.s.run_now(self.health)
        return wait_runs(self.s.api, self.health, n, 30)[n - 1]

    def setup_looks(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each endpoint's first look, right after it was created (before the health check's
        first run, a minute away)."""
        api = self.s.api
        looked = [nth_session(api, e, 1, FIRST_SESSION_S) for e in (self.health, self.recovery)]
        for endpoint, session in zip((self.health, self.recovery), looked, strict=True):
            assert session["trigger"] == "first_analysis", self.s.show(endpoint, session)
            assert ms(session["analyzedAt"]) - ms(endpoint["createdAt"]) < 60_000
        assert api.runs(self.health) == []
        return looked[0], looked[1]

    def restarts(self) -> int:
        return len(self.s.targets.hits(f"/{self.key}/restart"))


def status_of(run: dict[str, Any]) -> Any:
    return body(run.get("responseBody")).get("status")


def recovered_at_once(svc: Service, alarm: dict[str, Any], deadline_s: float) -> dict[str, Any]:
    """The recovery's one run after the alarm, asked for by a session, and run at once: it never
    ran before, so its minimum does not hold it back."""
    api = svc.s.api
    (restart,) = wait_runs(api, svc.recovery, 1, deadline_s)
    assert restart["status"] == "success" and restart["source"] == "ai-oneshot", restart
    cause = restart["cause"]
    assert cause["kind"] == "oneshot-hint" and cause["by"]["type"] == "session", restart
    session = next(x for x in api.sessions(svc.recovery) if x["id"] == cause["by"]["id"])
    svc.s.expect(svc.recovery, session, ["propose_next_time"])
    assert sibling_body(session, svc.health["name"])["needs_recovery"] is True
    assert ms(restart["startedAt"]) - done(session) < AT_ONCE_MS, (session, restart)
    assert ms(restart["startedAt"]) > ms(alarm["startedAt"])
    assert svc.restarts() == 1
    # Hourly again, or, when its next session already asked again (its own first answer is news
    # and the health check still asks), held to 5 minutes after this run by its minimum.
    settled = api.endpoint(svc.recovery)
    waits = ms(settled["nextRunAt"]) - ms(restart["startedAt"])
    assert (waits, settled["nextRunCause"]["kind"]) in (
        (HOUR_MS, "baseline"),
        (RECOVERY_MIN_MS, "clamp"),
    ), settled
    return restart


def automated_recovery(s: Scene) -> str:
    """Healthy first, then degraded: the recovery runs once, at once, and a second request
    within its 5 minutes waits for the minimum."""
    svc = Service(s, "recovery", "", dict(HEALTHY))
    svc.create()
    svc.setup_looks()
    api = s.api

    svc.check(1)  # healthy: nothing for the recovery to do
    r1 = nth_look(api, svc.recovery, 1, DEFERRED_S)
    s.expect(svc.recovery, r1, [])

    svc.report(NEEDS_RECOVERY)
    alarm = svc.check(2)
    restart = recovered_at_once(svc, alarm, DEFERRED_S)
    h = nth_look(api, svc.health, 2, DEFERRED_S)
    assert [t for t, _ in actions(h)] == ["propose_interval"], s.show(svc.health, h)

    # Worse, before the recovery's 5 minutes are up: its session asks again, and its minimum,
    # counted from its last run, holds the run to the fifth minute.
    svc.report({**NEEDS_RECOVERY, "status": "critical", "error_count": 40})
    # The health check polls every 10 s now (tightened): its next answer says so.
    critical = wait_runs(api, svc.health, 1, DEFERRED_S, lambda r: status_of(r) == "critical")
    since = ms(critical[-1]["startedAt"])

    def asked_again() -> dict[str, Any] | None:
        later = [x for x in looks(api, svc.recovery) if done(x) > since]
        return later[0] if later else None

    asked = until(asked_again, DEFERRED_S, "the recovery's session after the critical answer")
    s.expect(svc.recovery, asked, ["propose_next_time"])
    held = api.endpoint(svc.recovery)
    assert ms(held["nextRunAt"]) == ms(restart["startedAt"]) + RECOVERY_MIN_MS, held
    assert held["nextRunCause"]["kind"] == "clamp", held
    assert len(api.runs(svc.recovery)) == 1 and svc.restarts() == 1
    return (
        f"recovery ran {seconds(alarm['startedAt'], restart['startedAt']):.1f} s after the "
        f"alarm; asked again {seconds(restart['startedAt'], asked['analyzedAt']):.0f} s later, "
        "held to its 5 min minimum"
    )


def recovery_degraded_from_the_start(s: Scene) -> str:
    """Set up while the service is already degraded: the health check's very first answer is
    news to the recovery, which runs once, at once."""
    svc = Service(s, "degraded-first", " (degraded from the start)", dict(NEEDS_RECOVERY))
    svc.create()
    svc.setup_looks()
    alarm = svc.check(1)
    restart = recovered_at_once(svc, alarm, DEFERRED_S)
    reaction = seconds(alarm["startedAt"], restart["startedAt"])
    return f"recovery ran {reaction:.1f} s after the first answer"


def reflexes_of(api: Api, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(f"/endpoints/{endpoint['id']}/reflexes")["reflexes"]
    return found


def wait_reflex(api: Api, endpoint: dict[str, Any]) -> dict[str, Any]:
    """The reflex the endpoint's first look set from its description."""

    def first() -> dict[str, Any] | None:
        found = reflexes_of(api, endpoint)
        return found[0] if found else None

    return until(first, FIRST_SESSION_S, f"a reflex on {endpoint['name']}", POLL_S)


def reacted(
    api: Api, endpoint: dict[str, Any], signal: dict[str, Any], reflex: dict[str, Any]
) -> dict[str, Any]:
    """The endpoint's run the reflex caused on `signal`'s answer, with no session between."""
    run = wait_runs(api, endpoint, 1, 30, after(ms(signal["startedAt"])))[-1]
    assert run["cause"]["kind"] == "reflex" and run["cause"]["by"]["id"] == reflex["id"], run
    assert ms(run["startedAt"]) - ms(signal["finishedAt"]) < AT_ONCE_MS, (signal, run)
    # Sessions run on their own schedule: one that changed nothing may end in between; one
    # that acted could have caused the run instead of the reflex.
    between_them = [
        x
        for x in api.sessions(endpoint)
        if ms(signal["finishedAt"]) < done(x) < ms(run["startedAt"]) and acting(x)
    ]
    assert between_them == []
    return run


def recovery_by_reflex(s: Scene) -> str:
    """The recovery's first look turns its description into a reflex; the health check's
    answer then runs it within a second, and the cooldown and minimum hold a second one."""
    svc = Service(s, "reflex-recovery", " (reflex)", dict(HEALTHY))
    svc.create()
    api = s.api
    reflex = wait_reflex(api, svc.recovery)
    assert reflex["createdBy"]["type"] == "session" and reflex["cooldownMs"] == 300_000
    assert reflex["when"]["endpoint"] == svc.health["id"] and reflex["active"] is True

    svc.check(1)  # healthy: the reflex does not hold
    svc.report(NEEDS_RECOVERY)
    alarm = svc.check(2)
    restart = reacted(api, svc.recovery, alarm, reflex)
    fired = reflexes_of(api, svc.recovery)[0]
    assert fired["fireCount"] == 1 and fired["lastFiredRunId"] == alarm["id"], fired

    svc.report({**NEEDS_RECOVERY, "error_count": 40})
    svc.check(3)  # still asking: within the cooldown, nothing fires
    assert reflexes_of(api, svc.recovery)[0]["fireCount"] == 1
    assert len(api.runs(svc.recovery)) == 1 and svc.restarts() == 1
    return (
        f"recovery ran {seconds(alarm['finishedAt'], restart['startedAt']):.2f} s after the "
        "alarm's answer, by reflex"
    )


def etl_by_reflex(s: Scene) -> str:
    """The load stage's first look sets a reflex on its upstream's batch id: each new batch
    that is ready runs it at once, a repeated or unready one does not."""
    api = s.api
    state = {"batch_id": "b1", "ready_for_load": True}
    job = api.create_job("ETL by reflex")
    extract = api.create_endpoint(
        job,
        {
            "name": "Extract Batches (reflex)",
            "url": s.targets.serve("/reflex-etl/extract", lambda: dict(state)),
            "baselineIntervalMs": HOUR_MS,
            "description": "Extracts a batch; reports batch_id and ready_for_load.",
        },
    )
    load = api.create_endpoint(
        job,
        {
            "name": "Load Batches (reflex)",
            "method": "POST",
            "url": s.targets.serve("/reflex-etl/load", lambda: {"loaded": state["batch_id"]}),
            "baselineIntervalMs": HOUR_MS,
            "description": "Loads a batch. Run as soon as Extract Batches reports a new batch "
            "that is ready_for_load.",
        },
    )
    reflex = wait_reflex(api, load)
    answers = [("b1", True), ("b2", True), ("b2", True), ("b3", False), ("b4", True)]
    loaded: list[str] = []
    for n, (batch, ready) in enumerate(answers, start=1):
        state.update(batch_id=batch, ready_for_load=ready)
        s.run_now(extract)
        signal = wait_runs(api, extract, n, 30)[n - 1]
        if batch in ("b2", "b4") and (batch, ready) != answers[n - 2]:
            reacted(api, load, signal, reflex)
            loaded.append(batch)
    runs = api.runs(load)
    assert [r["responseBody"]["loaded"] for r in runs] == ["b2", "b4"], runs
    assert reflexes_of(api, load)[0]["fireCount"] == 2
    return f"loaded {loaded} by reflex, each within a second of its batch"


# --- 2. volume-based sync --------------------------------------------------------------------

SYNC_PENDING = {
    "name": "Sync Pending Records",
    "method": "GET",
    "baselineIntervalMs": SYNC_BASELINE_MS,
    "minIntervalMs": SYNC_MIN_MS,
    "maxIntervalMs": SYNC_MAX_MS,
    "description": "Syncs pending records from external source. Poll frequently when "
    "records_pending is high (>1000). Slow down when caught up (<100 pending). Volume in "
    "response body drives frequency.",
}


def volume_based_sync(s: Scene) -> str:
    api = s.api
    pending = {"records": 5000}

    def sync() -> dict[str, Any]:
        records = pending["records"]
        syncing = {"estimated_completion_minutes": 33, "status": "syncing"}
        return {
            "records_pending": records,
            "records_synced_this_run": min(records, 500),
            "sync_rate_per_minute": 150,
            **(syncing if records > 100 else {"status": "caught_up"}),
        }

    job = api.create_job("Data Sync")
    endpoint = api.create_endpoint(
        job, {**SYNC_PENDING, "url": s.targets.serve("/sync/pending", sync)}
    )

    # 5000 pending: tightened to the minimum interval.
    s1 = nth_look(api, endpoint, 1, FIRST_SESSION_S)
    ((_, faster),) = s.expect(endpoint, s1, ["propose_interval"])
    assert faster["intervalMs"] == SYNC_MIN_MS and own_body(s1)["records_pending"] == 5000
    runs = wait_runs(api, endpoint, 3, 30, lambda r: r["source"] == "ai-interval")
    fast = [r for r in runs if r["source"] == "ai-interval"]
    assert_cadence(fast, SYNC_MIN_MS)

    # Caught up (near the end of its minute): relaxed to the maximum interval. Under load the
    # test may see that run late, so the look at the minute's end can still read 5000 pending;
    # such a look must leave the tightened interval alone.
    near_gap_end(api, endpoint, s1)
    pending["records"] = 45
    _, s2 = look_that(s, endpoint, 2, DEFERRED_S, acting, "pending: the current interval fits")
    ((_, slower),) = s.expect(endpoint, s2, ["propose_interval"])
    assert slower["intervalMs"] == SYNC_MAX_MS and own_body(s2)["status"] == "caught_up"

    def relaxed() -> dict[str, Any] | None:
        state = api.endpoint(endpoint)
        ran = state.get("lastRunAt") and ms(state["lastRunAt"]) > ms(s2["analyzedAt"])
        return state if ran else None

    state = until(relaxed, 20, "a sync run after relaxing")
    assert state["aiHintIntervalMs"] == SYNC_MAX_MS
    assert ms(state["nextRunAt"]) == ms(state["lastRunAt"]) + SYNC_MAX_MS
    return f"{len(fast)} runs at {SYNC_MIN_MS} ms, then every {SYNC_MAX_MS} ms once caught up"


# --- 3. flash sale load management -----------------------------------------------------------


def flash_sale(s: Scene) -> str:
    api = s.api
    load = {"high": True}

    def traffic() -> dict[str, Any]:
        if load["high"]:
            advice = {"pause_low_priority": True, "pause_until": now_iso(timedelta(minutes=10))}
            return {
                "visitors_per_min": 5000,
                "load_status": "high",
                "flash_sale_active": True,
                "recommendations": advice,
            }
        return {
            "visitors_per_min": 800,
            "load_status": "normal",
            "flash_sale_active": False,
            "recommendations": {"pause_low_priority": False},
        }

    def work() -> dict[str, Any]:
        return {"last_update_at": now_iso(), "records_processed": 1500, "status": "active"}

    job = api.create_job("Flash Sale Management")

    def endpoint(name: str, path: str, interval_ms: int, description: str) -> dict[str, Any]:
        url = s.targets.serve(path, traffic if path.endswith("traffic") else work)
        spec = {"name": name, "url": url, "baselineIntervalMs": interval_ms}
        return api.create_endpoint(job, {**spec, "description": description})

    monitor = endpoint(
        "Traffic Monitor", "/flash/traffic", RARELY_MS, "Reports load for the other endpoints."
    )
    orders = endpoint(
        "Order Processor",
        "/flash/orders",
        3000,
        "Priority: CRITICAL. Processes orders; must keep running.",
    )
    inventory = endpoint(
        "Inventory Sync",
        "/flash/inventory",
        4000,
        "Priority: NORMAL. Syncs inventory to the warehouse; can pause when load is critical.",
    )
    analytics = endpoint(
        "Analytics Updater",
        "/flash/analytics",
        4000,
        "Priority: LOW. Updates dashboards; pause while the Traffic Monitor recommends pausing "
        "low-priority work.",
    )
    s.run_now(monitor)  # the spike is on before the others first run

    # The spike: analytics pauses until the monitor's pause_until; the others go on.
    a1 = nth_look(api, analytics, 1, FIRST_SESSION_S)
    ((_, paused_args),) = s.expect(analytics, a1, ["pause_until"])
    assert sibling_body(a1, "Traffic Monitor")["load_status"] == "high"
    state = api.endpoint(analytics)
    assert ms(state["pausedUntil"]) == ms(paused_args["untilIso"]) == ms(state["nextRunAt"])
    s.expect(orders, nth_look(api, orders, 1, FIRST_SESSION_S), [])
    s.expect(inventory, nth_look(api, inventory, 1, FIRST_SESSION_S), [])
    wait_runs(api, orders, 3, 30, after(done(a1)))  # orders keep coming

    # The spike ends: analytics resumes at its next session and runs at once.
    load["high"] = False
    s.run_now(monitor)
    cleared = wait_runs(api, monitor, 2, 20)[1]
    # A look woken before the monitor's new answer still sees the spike and must leave the
    # pause as it is; the one after it resumes.
    _, a2 = look_that(s, analytics, 2, DEFERRED_S, acting, "LOW priority, load high: no change")
    ((_, resumed_args),) = s.expect(analytics, a2, ["pause_until"])
    assert resumed_args == {"untilIso": None, "reason": "Load normalized - resuming"}
    assert sibling_body(a2, "Traffic Monitor")["load_status"] == "normal"
    runs = wait_runs(api, analytics, 1, 15, after(opened(a2)))
    resumed = next(r for r in runs if after(opened(a2))(r))
    assert ms(resumed["startedAt"]) - opened(a2) < AT_ONCE_MS, resumed
    assert api.endpoint(analytics).get("pausedUntil") is None
    assert [r for r in runs if between(done(a1), opened(a2))(r)] == []

    # Critical and normal work went on untouched, orders on their cadence throughout.
    assert_untouched(s, orders)
    assert_untouched(s, inventory)
    during = [r for r in api.runs(orders) if between(done(a1), done(a2))(r)]
    assert len(during) >= seconds(a1["analyzedAt"], a2["analyzedAt"]) // 6  # even if late
    assert_cadence(during, 3000)
    return (
        f"analytics paused {seconds(a1['analyzedAt'], a2['analyzedAt']):.0f} s, resumed "
        f"{seconds(cleared['startedAt'], a2['analyzedAt']):.0f} s after the spike ended; "
        f"{len(during)} order runs meanwhile"
    )


# --- 4. ETL batch hand-off -------------------------------------------------------------------


def etl_pipeline(s: Scene) -> str:
    api = s.api
    batches = {"extracted": "2025-11-01", "transformed": "", "loaded": ""}

    def extract() -> dict[str, Any]:
        return {
            "stage": "extract",
            "batch_id": batches["extracted"],
            "extracted_count": 5000,
            "ready_for_transform": True,
            "status": "success",
        }

    def transform() -> dict[str, Any]:
        batches["transformed"] = batches["extracted"]
        return {
            "stage": "transform",
            "batch_id": batches["transformed"],
            "transformed_count": 5000,
            "ready_for_load": True,
            "status": "success",
        }

    def load() -> dict[str, Any]:
        batches["loaded"] = batches["transformed"]
        return {"stage": "load", "batch_id": batches["loaded"], "pipeline_complete": True}

    job = api.create_job("Customer Data Pipeline")
    url = s.targets.serve
    # Extract runs daily at 2 AM (the seed's cron); the scenario plays those runs with
    # one-shots. Transform and load wait for their upstream: only the planner runs them.
    extract_ep = api.create_endpoint(
        job,
        {
            "name": "Extract Customer Data",
            "url": url("/etl/extract", extract),
            "baselineCron": "0 2 * * *",
            "description": "Pulls data from the external API; reports batch_id.",
        },
    )
    transform_ep = api.create_endpoint(
        job,
        {
            "name": "Transform Customer Data",
            "method": "POST",
            "url": url("/etl/transform", transform),
            "baselineIntervalMs": HOUR_MS,
            "description": "Run when Extract reports a batch_id not transformed yet "
            "(ready_for_transform).",
        },
    )
    load_ep = api.create_endpoint(
        job,
        {
            "name": "Load to Database",
            "method": "POST",
            "url": url("/etl/load", load),
            "baselineIntervalMs": HOUR_MS,
            "description": "Run when Transform reports a batch_id not loaded yet (ready_for_load).",
        },
    )
    # Yesterday: batch 2025-11-01 was extracted and transformed.
    s.run_now(transform_ep)
    t0 = nth_look(api, transform_ep, 1, FIRST_SESSION_S)
    s.expect(transform_ep, t0, [])
    assert own_body(t0)["batch_id"] == "2025-11-01"
    s.run_now(extract_ep)
    # Transform's first answer may already have woken extract before extract answered: its
    # first look at its own answer is the one that counts here.
    e1 = until(
        lambda: next((x for x in looks(api, extract_ep) if own_body(x)), None),
        FIRST_SESSION_S,
        "extract's look at its own answer",
        POLL_S,
    )
    assert own_body(e1)["batch_id"] == "2025-11-01"

    # Today's extract reports a new batch.
    batches["extracted"] = "2025-11-02"
    s.run_now(extract_ep)
    announced = wait_runs(api, extract_ep, 2, 20)[1]
    assert announced["responseBody"]["batch_id"] == "2025-11-02"
    # Load, never run, first loads what transform holds (yesterday's batch).
    l1 = nth_look(api, load_ep, 1, 30)
    s.expect(load_ep, l1, ["propose_next_time"])
    assert "2025-11-01" in l1["reasoning"]

    # Transform runs for the new batch at its next acting session, and load follows. Extract's
    # first answer can wake transform before the new batch: such a look finds no new batch.
    _, t1 = look_that(s, transform_ep, 2, DEFERRED_S, acting, "No new batch")
    s.expect(transform_ep, t1, ["propose_next_time"])
    assert "2025-11-02" in t1["reasoning"]
    assert sibling_body(t1, "Extract Customer Data")["batch_id"] == "2025-11-02"
    # A load session in the same analysis as t1 still reads yesterday's transform (its run
    # for the new batch is only starting); the run's new batch_id then wakes load again.
    # Load's own run can wake it once more before then: every look until the acting one must
    # have found no new batch.
    _, l2 = look_that(s, load_ep, 2, DEFERRED_S, acting, "No new batch")
    s.expect(load_ep, l2, ["propose_next_time"])
    assert "2025-11-02" in l2["reasoning"]
    loads = wait_runs(api, load_ep, 2, 15)
    transforms = api.runs(transform_ep)
    assert [r["responseBody"]["batch_id"] for r in transforms] == ["2025-11-01", "2025-11-02"]
    assert [r["responseBody"]["batch_id"] for r in loads] == ["2025-11-01", "2025-11-02"]
    assert all(r["source"] == "ai-oneshot" and r["status"] == "success" for r in transforms + loads)
    # Each stage ran after its upstream reported the batch, at once after its session.
    assert ms(announced["startedAt"]) < opened(t1) < ms(transforms[1]["startedAt"])
    assert ms(transforms[1]["startedAt"]) < opened(l2) < ms(loads[1]["startedAt"])
    assert ms(transforms[1]["startedAt"]) - opened(t1) < AT_ONCE_MS
    assert ms(loads[1]["startedAt"]) - opened(l2) < AT_ONCE_MS
    assert batches["loaded"] == "2025-11-02"
    # Extract stays on its daily cron.
    assert api.endpoint(extract_ep)["nextRunAt"].endswith("T02:00:00.000Z")
    return (
        f"batch 2025-11-02 transformed "
        f"{seconds(announced['startedAt'], transforms[1]['startedAt']):.0f} s after extract "
        f"reported it, loaded {seconds(transforms[1]['startedAt'], loads[1]['startedAt']):.0f} s "
        "later"
    )


# --- 5. cache warming with a cooldown --------------------------------------------------------

CACHE_MS = 20_000  # longer than a session can be late: only the planner runs it sooner


def cache_cooldown(s: Scene) -> str:
    api = s.api

    def monitor(warmed_ago: timedelta, allowed: bool) -> Callable[[], dict[str, Any]]:
        """Degraded until a run allowed to warm the cache comes (the eu monitor's second run,
        which only the planner brings forward); that run warms it."""
        calls = itertools.count()
        warm = {"last": now_iso(-warmed_ago)}

        def answer() -> dict[str, Any]:
            if allowed and next(calls) > 0:
                warm.setdefault("now", now_iso())
                return {
                    "cache_hit_rate_pct": 94.8,
                    "cache_size_mb": 512,
                    "status": "healthy",
                    "last_warm_at": warm["now"],
                    "cache_warmed": True,
                }
            return {
                "cache_hit_rate_pct": 65.2,
                "cache_size_mb": 512,
                "status": "degraded",
                "last_warm_at": warm["last"],
                "warm_cache_needed": True,
                "cooldown_minutes": 60,
            }

        return answer

    description = (
        "Monitors the cache hit rate and warms the cache when it drops; run at once when "
        "warm_cache_needed, but never more than once per cooldown_minutes after last_warm_at."
    )
    # Two jobs: a warming run of one monitor must not wake the other's planner.
    due = api.create_endpoint(
        api.create_job("Cache Management (eu)"),
        {
            "name": "Cache Monitor (eu)",
            "url": s.targets.serve("/cache/eu", monitor(timedelta(minutes=75), allowed=True)),
            "baselineIntervalMs": CACHE_MS,
            "description": description,
        },
    )
    cooling = api.create_endpoint(
        api.create_job("Cache Management (us)"),
        {
            "name": "Cache Monitor (us)",
            "url": s.targets.serve("/cache/us", monitor(timedelta(minutes=30), allowed=False)),
            "baselineIntervalMs": CACHE_MS,
            "description": description,
        },
    )

    # Warmed 75 min ago, cooldown 60 min: run at once, which warms the cache.
    c1 = nth_look(api, due, 1, FIRST_SESSION_S)
    ((_, args),) = s.expect(due, c1, ["propose_next_time"])
    assert "cooldown elapsed" in args["reason"]
    first, warm = wait_runs(api, due, 2, 20)[:2]
    assert warm["source"] == "ai-oneshot" and warm["responseBody"]["cache_warmed"] is True
    assert 0 < ms(warm["startedAt"]) - opened(c1) < AT_ONCE_MS
    assert ms(warm["startedAt"]) < ms(first["startedAt"]) + CACHE_MS  # before its baseline slot

    # Warmed 30 min ago: warming is needed but the cooldown holds; it stays on its baseline.
    c2 = nth_look(api, cooling, 1, FIRST_SESSION_S)
    s.expect(cooling, c2, [])
    assert "cooldown active - 30 min elapsed of 60" in c2["reasoning"]
    runs = wait_runs(api, cooling, 2, 30)
    assert [r["source"] for r in runs[:2]] == ["baseline-interval"] * 2
    assert_cadence(runs[:2], CACHE_MS)
    assert all(r["responseBody"]["warm_cache_needed"] for r in runs)
    return (
        f"eu warmed {seconds(first['startedAt'], warm['startedAt']):.1f} s after its first run; "
        "us left in its cooldown"
    )


# --- 6. tiered priority ----------------------------------------------------------------------


def tiered_priority(s: Scene) -> str:
    api = s.api
    paused_levels = ["LOW", "NORMAL"]

    def monitor() -> dict[str, Any]:
        load = 95 if "NORMAL" in paused_levels else 70
        active = [t for t in ("CRITICAL", "NORMAL", "LOW") if t not in paused_levels]
        return {
            "system_load_pct": load,
            "recommendations": {
                "active_priority_levels": active,
                "paused_priority_levels": list(paused_levels),
                "reason": f"System load at {load}%",
            },
        }

    job = api.create_job("Tiered Monitoring")
    health = api.create_endpoint(
        job,
        {
            "name": "System Health Monitor",
            "url": s.targets.serve("/tiers/monitor", monitor),
            "baselineIntervalMs": RARELY_MS,
            "description": "Checks system load; recommends which priority levels to pause.",
        },
    )

    def tier(name: str, path: str) -> dict[str, Any]:
        url = s.targets.serve(path, lambda: {"processed": 10, "status": "ok"})
        description = (
            "Pause while the System Health Monitor lists this endpoint's priority (in its name) "
            "among paused_priority_levels."
        )
        spec = {"name": name, "url": url, "baselineIntervalMs": 3000}
        return api.create_endpoint(job, {**spec, "description": description})

    critical = tier("[CRITICAL] Payment Processor", "/tiers/payments")
    normal = tier("[NORMAL] Inventory Sync", "/tiers/inventory")
    low = tier("[LOW] Analytics Updater", "/tiers/analytics")
    s.run_now(health)

    # 95% load, LOW and NORMAL paused: both pause at their first session that reads the
    # monitor's answer (a sibling's first answer may wake them before it); CRITICAL does not.
    unread = "System Health Monitor has no readable response"
    k, n1 = look_that(s, normal, 1, FIRST_SESSION_S, acting, unread)
    j, w1 = look_that(s, low, 1, FIRST_SESSION_S, acting, unread)
    s.expect(normal, n1, ["pause_until"])
    s.expect(low, w1, ["pause_until"])
    s.expect(critical, nth_look(api, critical, 1, FIRST_SESSION_S), [])
    wait_runs(api, critical, 3, 30, after(max(done(n1), done(w1))))

    # 70%: NORMAL is active again and resumes; LOW stays paused. Looks woken before the
    # monitor's new answer still read 95% and change nothing.
    paused_levels.remove("NORMAL")
    s.run_now(health)
    _, n2 = look_that(s, normal, k + 1, DEFERRED_S, acting, "NORMAL tier: no change")
    ((_, resumed_args),) = s.expect(normal, n2, ["pause_until"])
    assert resumed_args["untilIso"] is None
    normal_runs = wait_runs(api, normal, 1, 15, after(opened(n2)))

    def read_70(look: dict[str, Any]) -> bool:
        advice = body(sibling_body(look, "System Health Monitor").get("recommendations"))
        return bool(advice.get("paused_priority_levels") == ["LOW"])

    _, w2 = look_that(s, low, j + 1, DEFERRED_S, read_70, "LOW tier: no change")
    s.expect(low, w2, [])
    assert "LOW tier: no change" in w2["reasoning"]
    low_state = api.endpoint(low)
    assert low_state.get("pausedUntil") and ms(low_state["pausedUntil"]) > ms(now_iso())
    assert [r for r in api.runs(low) if after(done(w1))(r)] == []
    assert [r for r in normal_runs if between(done(n1), opened(n2))(r)] == []
    assert_untouched(s, critical)
    return (
        f"NORMAL paused {seconds(n1['analyzedAt'], n2['analyzedAt']):.0f} s, LOW still paused, "
        "CRITICAL untouched"
    )


# --- 7. cross-job status embedded in a response ----------------------------------------------


def cross_job_status(s: Scene) -> str:
    api = s.api
    upstream = {"status": "unavailable"}

    def processor() -> dict[str, Any]:
        # The consumer checks the upstream itself and embeds what it found.
        up = upstream["status"] == "healthy"
        answer: dict[str, Any] = {
            "processed_count": 100 if up else 0,
            "upstream_health": {"status": upstream["status"], "checked_at": now_iso()},
        }
        return answer if up else {**answer, "error": "Upstream service unavailable"}

    upstream_job = api.create_job("Upstream Service")
    checker = api.create_endpoint(
        upstream_job,
        {
            "name": "Upstream Health Check",
            "url": s.targets.serve(
                "/cross/health",
                lambda: {"service_status": upstream["status"], "last_check": now_iso()},
            ),
            "baselineIntervalMs": 3000,
        },
    )
    consumer = api.create_endpoint(
        api.create_job("Downstream Consumers"),
        {
            "name": "Data Processor",
            "url": s.targets.serve("/cross/processor", processor),
            "baselineIntervalMs": 3000,
            "description": "Processes upstream data; pause while upstream_health.status is "
            "unavailable.",
        },
    )

    # Upstream down: the consumer pauses on its own response (no sibling reports it).
    d1 = nth_look(api, consumer, 1, FIRST_SESSION_S)
    ((_, args),) = s.expect(consumer, d1, ["pause_until"])
    assert args["reason"] == "Upstream service unavailable"
    assert result_of(d1, "get_sibling_latest_responses")["count"] == 0
    until_ms = ms(args["untilIso"])
    assert until_ms - ms(d1["analyzedAt"]) <= CONSUMER_PAUSE / timedelta(milliseconds=1)
    assert ms(api.endpoint(consumer)["pausedUntil"]) == until_ms

    # Upstream back during the pause: the consumer runs again when the pause ends, not before.
    upstream["status"] = "healthy"
    runs = wait_runs(api, consumer, 1, 40, after(done(d1)))
    back = next(r for r in runs if after(done(d1))(r))
    assert ms(back["slotAt"]) == until_ms and ms(back["startedAt"]) >= until_ms, back
    assert back["responseBody"]["upstream_health"]["status"] == "healthy"
    d2 = nth_look(api, consumer, 2, DEFERRED_S)
    s.expect(consumer, d2, [])
    assert ms(api.endpoint(consumer)["pausedUntil"]) == until_ms < ms(d2["analyzedAt"])  # over
    assert_untouched(s, checker)  # the upstream's own job
    return f"consumer paused {(until_ms - ms(d1['analyzedAt'])) / 1000:.0f} s while upstream down"


# --- robustness: the provider and the model misbehave ----------------------------------------

PROBE_MS = 5000
CONTEXT = [tool for tool, _ in CONTEXT_READS]
PROBE = {"baselineIntervalMs": PROBE_MS, "description": "A probe: nothing to adapt."}


def first_session_requests(fake: FakeOpenAI) -> list[dict[str, Any]]:
    """The requests of the first session the provider saw: those sent with its prompt."""
    prompt = fake.requests[0]["messages"][0]["content"]
    return [r for r in fake.requests if r["messages"][0]["content"] == prompt]


def probe(s: Scene, name: str, path: str) -> dict[str, Any]:
    job = s.api.create_job(f"{name} job")
    url = s.targets.serve(path, lambda: {"status": "ok", "checked_at": now_iso()})
    return s.api.create_endpoint(job, {**PROBE, "name": name, "url": url})


def provider_hiccups(s: Scene) -> str:
    """A stall (client timeout), a 500 and a 429 with Retry-After, then answers."""
    name = "Flaky Provider Probe"
    fake = s.provider.route(name)
    stall, error = Fault(delay_s=AI_TIMEOUT_S + 1), Fault(500)
    fake.faults.extend([stall, error, Fault(429, headers={"Retry-After": "1"})])
    endpoint = probe(s, name, "/robust/flaky")
    session = nth_session(s.api, endpoint, 1, FIRST_SESSION_S)
    assert session["status"] == "success" and session["warnings"] == [], s.show(endpoint, session)
    # The context reads are made before the model is asked; it submits on its first step.
    assert session["toolsCalled"] == [*CONTEXT, "submit_analysis"]
    assert session["tokenUsage"] > 0 and session.get("errorMessage") is None
    # 3 failed attempts of the first step, then it (a later session may have begun since).
    assert len(first_session_requests(fake)) == 4
    # Backoff: the timeout, then 1 s, 2 s, and the server's Retry-After (1 s).
    assert session["durationMs"] >= (AI_TIMEOUT_S + 1 + 2 + 1) * 1000 - 200, session
    return f"session succeeded after {session['durationMs'] / 1000:.1f} s of retries"


def provider_outage(s: Scene) -> str:
    """Every call answers 500, for longer than the retry budget."""
    name = "Provider Outage Probe"
    fake = s.provider.route(name)
    fake.faults.extend(Fault(500) for _ in range(50))
    endpoint = probe(s, name, "/robust/outage")
    session = nth_session(s.api, endpoint, 1, FIRST_SESSION_S)
    assert session["status"] == "failed" and session["toolsCalled"] == CONTEXT, session
    assert session["errorMessage"].startswith("gave up after 4 attempts: InternalServerError (500)")
    assert session["reasoning"].startswith("Analysis failed: gave up after 4 attempts")
    (warning,) = session["warnings"]
    assert warning["code"] == "provider_error"
    assert warning["meta"] == {"transient": True, "attempts": 4, "step": 1}
    # Waits of 1, 2 and 4 s; the next (8 s) passes the budget.
    assert len(first_session_requests(fake)) == 4
    assert session["tokenUsage"] == 0
    # Re-analysis is scheduled 5 minutes later.
    scheduled = ms(session["nextAnalysisAt"]) - ms(session["analyzedAt"])
    assert scheduled == MIN_NEXT_ANALYSIS / timedelta(milliseconds=1)
    # Runs went on on the baseline, after the outage as before it.
    runs = wait_runs(s.api, endpoint, 2, 20, after(done(session)))
    assert all(r["status"] == "success" and r["source"] == "baseline-interval" for r in runs)
    assert_cadence(runs, PROBE_MS)
    state = s.api.endpoint(endpoint)
    assert state.get("aiHintExpiresAt") is None and state.get("pausedUntil") is None
    fake.faults.clear()
    return f"gave up after {session['durationMs'] / 1000:.1f} s; {len(runs)} baseline runs"


def garbled_model(s: Scene) -> str:
    name = "Garbled Model Probe"
    s.provider.route(name, GarbledModel())
    endpoint = probe(s, name, "/robust/garbled")
    session = nth_session(s.api, endpoint, 1, FIRST_SESSION_S)
    assert session["status"] == "success", s.show(endpoint, session)
    assert session["toolsCalled"][:2] == CONTEXT
    calls = session["toolCalls"][2:]  # the model's own
    assert [c["tool"] for c in calls] == [
        "get_latest_response",
        "propose_interval",
        "restart_the_world",
        "pause_until",
        "submit_analysis",
    ]
    # The good call answered (the first session may come before the probe's first run).
    assert "error" not in calls[0]["result"] and "found" in calls[0]["result"]
    assert calls[1]["args"] == '{"intervalMs": 1000,'  # recorded as sent
    assert calls[1]["result"]["error"].startswith("arguments are not valid JSON")
    assert calls[2]["result"]["error"].startswith("unknown tool 'restart_the_world'")
    assert calls[3]["args"] == {"untilIso": "next tuesday"}
    assert calls[3]["result"]["error"].startswith("invalid arguments for pause_until: untilIso")
    assert session["reasoning"] == "Nothing to change after all"
    # None of the bad calls changed anything, and the endpoint runs on.
    state = s.api.endpoint(endpoint)
    assert state.get("aiHintIntervalMs") is None and state.get("pausedUntil") is None, state
    wait_runs(s.api, endpoint, 2, 20, after(done(session)))
    return "three bad calls recorded as errors; session succeeded"


def silent_model(s: Scene) -> str:
    name = "Silent Model Probe"
    fake = s.provider.route(name, SilentModel())
    endpoint = probe(s, name, "/robust/silent")
    session = nth_session(s.api, endpoint, 1, FIRST_SESSION_S)
    assert session["status"] == "failed", s.show(endpoint, session)
    assert session["errorMessage"] == "the model did not call submit_analysis within 15 steps"
    assert [w["code"] for w in session["warnings"]] == ["missing_final_tool"]
    assert session["toolsCalled"] == [*CONTEXT, *["get_latest_response"] * 14]
    # The next session may have begun meanwhile: the first is the requests before it.
    sent = list(fake.requests)
    begun = [i for i, r in enumerate(sent) if model_steps(r["messages"]) == 0]
    assert begun[0] == 0
    first = sent[: begun[1]] if len(begun) > 1 else sent
    assert len(first) == 15
    assert first[0]["tool_choice"] == "required"
    forced = {"type": "function", "function": {"name": "submit_analysis"}}
    assert first[-1]["tool_choice"] == forced
    scheduled = ms(session["nextAnalysisAt"]) - ms(session["analyzedAt"])
    assert scheduled == MIN_NEXT_ANALYSIS / timedelta(milliseconds=1)
    wait_runs(s.api, endpoint, 2, 20, after(done(session)))
    return "15 steps without a submit: failed session, endpoint runs on"


def ai_not_configured(s: Scene) -> str:
    """On the shared e2e stack, which has no OPENAI_API_KEY."""
    api = s.api
    health = api.get("/health")
    assert health["ai"] == "not_configured" and health["aiUsage"]["planner"] == "not_configured"
    count = itertools.count()
    # Every response changes a signal field: with a planner, each run would wake it.
    url = s.targets.serve(
        "/quiet/status", lambda: {"status": ("green", "amber")[next(count) % 2], "queue": 3}
    )
    job = api.create_job("No planner here")
    endpoint = api.create_endpoint(
        job, {"name": "Unplanned Check", "url": url, "baselineIntervalMs": 2000}
    )
    runs = wait_runs(api, endpoint, 4, 40)
    assert [r["responseBody"]["status"] for r in runs[:4]] == ["green", "amber"] * 2
    assert all(r["status"] == "success" and r["source"] == "baseline-interval" for r in runs)
    assert_cadence(runs, 2000)
    listing = api.get(f"/endpoints/{endpoint['id']}/sessions")
    assert listing["total"] == 0 and listing["sessions"] == []
    assert api.endpoint(endpoint).get("aiHintExpiresAt") is None
    return f"{len(runs)} runs, no session"


SCENARIOS: dict[str, Scenario] = {
    "recovery": automated_recovery,
    "recovery_degraded": recovery_degraded_from_the_start,
    "recovery_reflex": recovery_by_reflex,
    "etl_reflex": etl_by_reflex,
    "sync": volume_based_sync,
    "flash": flash_sale,
    "etl": etl_pipeline,
    "cache": cache_cooldown,
    "tiers": tiered_priority,
    "cross_job": cross_job_status,
    "hiccups": provider_hiccups,
    "outage": provider_outage,
    "garbled": garbled_model,
    "silent": silent_model,
}


# --- the stack and the scenarios, played at once ---------------------------------------------


@dataclass
class Played:
    stack: Stack
    futures: dict[str, Future[str]] = field(default_factory=dict)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def result(self, name: str) -> str:
        """The scenario's summary; its failure, re-raised."""
        return self.futures[name].result(timeout=SCENARIO_S)


def play(
    scenario: Scenario,
    stack: Stack,
    targets: Targets,
    provider: Provider,
    endpoints: list[dict[str, Any]],
) -> str:
    """Play one scenario with an API client of its own; its jobs are paused at the end."""
    api = Api(stack)
    started = time.monotonic()
    try:
        summary = scenario(Scene(api, targets, provider))
        return f"[{time.monotonic() - started:.0f} s] {summary}"
    finally:
        endpoints.extend(api.endpoints)
        api.close()


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[Played]:
    """The planner stack with every scenario started on it, and the AI-less scenario on the
    shared e2e stack (`stack`, which later modules use too). The stacks start one after the
    other: both at once takes longer, and so do scenarios played while a stack starts."""
    targets = Targets()
    provider = Provider(RuleModel(RULES))
    planner = start_stack(
        tmp_path_factory.mktemp("planner") / "home",
        OPENAI_API_KEY="test",
        OPENAI_BASE_URL=provider.url,
        CRONPILOT_AI_MODEL="scripted",
        CRONPILOT_AI_TIMEOUT_S=str(AI_TIMEOUT_S),
        CRONPILOT_AI_RETRY_BUDGET_S=str(AI_RETRY_BUDGET_S),
        CRONPILOT_DISPATCH_PERIOD_S=str(DISPATCH_PERIOD_S),
        CRONPILOT_ANALYSIS_PERIOD_S=str(ANALYSIS_PERIOD_S),
        CRONPILOT_RATE_LIMIT_MUTATIONS_PER_MIN="100000",
        CRONPILOT_RATE_LIMIT_READS_PER_MIN="100000",
    )
    pool = ThreadPoolExecutor(max_workers=len(SCENARIOS) + 1, thread_name_prefix="scenario")
    try:
        result = Played(planner)
        for name, scenario in SCENARIOS.items():
            result.futures[name] = pool.submit(
                play, scenario, planner, targets, provider, result.endpoints
            )
        result.futures["not_configured"] = pool.submit(
            play, ai_not_configured, stack, targets, provider, []
        )
        yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        code = planner.stop()
        if planner.store_pid is not None and pid_alive(planner.store_pid):
            os.kill(planner.store_pid, signal.SIGKILL)
        provider.close()
        targets.close()
    assert code == 0, planner.stderr()


def test_seed_recovery_healthy_then_degraded_runs_once_at_once(played: Played) -> None:
    print("\n" + played.result("recovery"))


def test_seed_recovery_degraded_from_the_first_answer_runs_once_at_once(played: Played) -> None:
    print("\n" + played.result("recovery_degraded"))


def test_a_reflex_set_from_the_description_runs_the_recovery_within_a_second(
    played: Played,
) -> None:
    print("\n" + played.result("recovery_reflex"))


def test_a_reflex_runs_the_load_stage_on_each_new_ready_batch(played: Played) -> None:
    print("\n" + played.result("etl_reflex"))


def test_volume_based_sync_tightens_on_backlog_and_relaxes_when_caught_up(played: Played) -> None:
    print("\n" + played.result("sync"))


def test_flash_sale_pauses_low_priority_work_until_the_spike_ends(played: Played) -> None:
    print("\n" + played.result("flash"))


def test_etl_stages_run_when_their_upstream_reports_a_new_batch(played: Played) -> None:
    print("\n" + played.result("etl"))


def test_cache_warming_runs_at_once_only_outside_its_cooldown(played: Played) -> None:
    print("\n" + played.result("cache"))


def test_tiered_priority_pauses_and_resumes_by_tier(played: Played) -> None:
    print("\n" + played.result("tiers"))


def test_cross_job_status_in_the_response_pauses_the_consumer(played: Played) -> None:
    print("\n" + played.result("cross_job"))


def test_provider_errors_and_stalls_are_retried_until_the_session_succeeds(played: Played) -> None:
    print("\n" + played.result("hiccups"))


def test_provider_outage_fails_the_session_and_runs_go_on(played: Played) -> None:
    print("\n" + played.result("outage"))


def test_malformed_tool_calls_are_recorded_as_errors(played: Played) -> None:
    print("\n" + played.result("garbled"))


def test_a_model_that_never_submits_fails_its_session(played: Played) -> None:
    print("\n" + played.result("silent"))


def test_without_a_provider_endpoints_run_and_no_session_is_recorded(played: Played) -> None:
    print("\n" + played.result("not_configured"))


def test_the_stack_ran_through_everything_and_counted_every_token(played: Played) -> None:
    for future in played.futures.values():
        future.exception(timeout=SCENARIO_S)  # each scenario's outcome is its own test's
    stack = played.stack
    assert stack.process.poll() is None, stack.stderr()
    api = Api(stack)
    try:
        health = api.get("/health")
        assert health["status"] == "ok" and health["ai"] == "configured", health

        def settled() -> tuple[int, int] | None:
            sessions = [x for e in played.endpoints for x in api.sessions(e)]
            total = sum(x["tokenUsage"] for x in sessions)
            used = api.get("/health")["aiUsage"]["tokensUsed"]
            return (used, len(sessions)) if used == total and sessions else None

        used, sessions = until(settled, 20, "the tenant's token count to match its sessions", 1)
    finally:
        api.close()
    log = stack.stderr().splitlines()
    assert [line for line in log if any(m in line for m in LOG_FAILURES)] == []
    print(
        f"\n{sessions} sessions, {used} tokens; every scenario done "
        f"{time.monotonic() - played.started:.0f} s after the stack started"
    )
