"""What a simulation recorded: runs, planner sessions, schedule states and analysis messages.

Times are offsets from the scenario's start. Pure; the scoring reads it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bench.scenarios.spec import Decision, History, Response, Scenario
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.timeutil import parse_instant

Origin = Literal["urgent", "tick", "follow-up"]


@dataclass(frozen=True)
class RunRecord:
    """A run; `states` counts the states saved before it (calls take no virtual time, so
    order, not time, says what came first)."""

    key: str
    at: timedelta
    slot: timedelta
    source: str | None
    ok: bool
    body: Any
    states: int


@dataclass(frozen=True)
class SessionRecord:
    key: str
    at: timedelta
    reason: str | None
    status: str
    tokens: int
    tools: tuple[str, ...]
    decisions: tuple[Decision, ...]
    errors: int
    states: int


@dataclass(frozen=True)
class StateRecord:
    """An endpoint as saved: when it runs next, whether it is paused, its interval hint."""

    key: str
    at: timedelta
    next_run: timedelta
    paused_until: timedelta | None
    hint_interval_ms: int | None
    hint_expires: timedelta | None

    def paused(self, at: timedelta) -> bool:
        return self.paused_until is not None and self.paused_until > at


@dataclass(frozen=True)
class Message:
    at: timedelta
    origin: Origin
    delay_s: int


@dataclass
class Trace:
    scenario: Scenario
    policy: str
    runs: list[RunRecord] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    states: list[StateRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    lateness_ms: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def runs_of(self, key: str) -> list[RunRecord]:
        return [r for r in self.runs if r.key == key]

    def sessions_of(self, key: str) -> list[SessionRecord]:
        return [s for s in self.sessions if s.key == key]

    def states_of(self, key: str) -> list[StateRecord]:
        return [s for s in self.states if s.key == key]

    def history(self) -> History:
        found: dict[str, list[Response]] = defaultdict(list)
        for run in self.runs:
            found[run.key].append(Response(run.at, run.body))
        return dict(found)


def state_before(states: list[StateRecord], key: str, index: int) -> StateRecord | None:
    """The last state of `key` among the first `index` states saved."""
    for i in range(min(index, len(states)) - 1, -1, -1):
        if states[i].key == key:
            return states[i]
    return None


def effective_interval_ms(endpoint: Endpoint, now: datetime) -> int | None:
    if endpoint.hints_fresh(now) and endpoint.ai_hint_interval_ms:
        return endpoint.ai_hint_interval_ms
    return endpoint.baseline_interval_ms


def classify(tool: str, args: Any, result: Any, before: Endpoint, now: datetime) -> Decision | None:
    """What an action did to the endpoint's cadence; None for reads and failed calls."""
    if isinstance(result, dict) and "error" in result:
        return None
    arguments = args if isinstance(args, dict) else {}
    current = effective_interval_ms(before, now)
    if tool == "propose_next_time":
        return "run"
    if tool == "pause_until":
        until = arguments.get("untilIso")
        if isinstance(until, str) and parse_instant(until) > now:
            return "pause"
        return "resume"
    if tool == "propose_interval":
        wanted = arguments.get("intervalMs")
        if not isinstance(wanted, int | float) or current is None:
            return "tighten"
        return "tighten" if wanted < current else "relax" if wanted > current else "keep"
    if tool == "clear_hints":
        hinted = before.ai_hint_interval_ms if before.hints_fresh(now) else None
        base = before.baseline_interval_ms
        if hinted is None or base is None or hinted == base:
            return "keep"
        return "relax" if hinted < base else "tighten"
    return None
