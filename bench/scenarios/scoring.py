"""Scoring a simulation: runs per endpoint and phase, reaction latencies, wasted runs,
constraint violations and what the planner cost. Pure."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bench.scenarios.spec import ACCEPTS, Expect, History, Scenario
from bench.scenarios.trace import RunRecord, SessionRecord, StateRecord, Trace, state_before

# Slots become visible on whole seconds (SQS delays), so a run may start up to a second late.
DELIVERY = timedelta(seconds=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Violations:
    """Runs that broke a rule the engine promises; every count must be 0."""

    early: int = 0  # started before its slot
    duplicate: int = 0  # two runs of one slot
    min_gap: int = 0  # closer than minIntervalMs to the previous run
    paused: int = 0  # started while the endpoint was paused
    max_gap: int = 0  # a gap over maxIntervalMs while not paused (start and end included)
    details: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.early + self.duplicate + self.min_gap + self.paused + self.max_gap


@dataclass(frozen=True)
class Reaction:
    """One expectation: when its signal appeared, was seen (the source ran), decided on (a
    matching session) and took effect."""

    expect: Expect
    at: timedelta | None
    seen: timedelta | None
    decided: timedelta | None
    effect: timedelta | None
    ok: bool

    @property
    def latency(self) -> timedelta | None:
        if self.at is None or self.effect is None:
            return None
        return self.effect - self.at


@dataclass(frozen=True)
class Cost:
    sessions: int
    failed: int
    unexpected: int  # sessions whose actions no expectation asked for
    tokens_mean: float
    tokens_p50: float
    tokens_max: int
    per_endpoint_day: float
    reasons: dict[str, int]
    messages: dict[str, int]


@dataclass(frozen=True)
class Score:
    scenario: Scenario
    policy: str
    runs: dict[str, list[int]]  # endpoint key -> runs per phase
    wasted: dict[str, list[int]]  # endpoint key -> wasted runs per phase
    reactions: list[Reaction]
    violations: Violations
    cost: Cost
    checks: list[tuple[str, bool]]
    wall_s: float
    max_lateness_ms: int

    @property
    def total_runs(self) -> int:
        return sum(sum(v) for v in self.runs.values())

    @property
    def total_wasted(self) -> int:
        return sum(sum(v) for v in self.wasted.values())

    def wasted_by_endpoint(self) -> dict[str, int]:
        return {key: sum(v) for key, v in self.wasted.items()}

    @property
    def reactions_ok(self) -> int:
        return sum(1 for r in self.reactions if r.ok)


def score(trace: Trace) -> Score:
    scenario = trace.scenario
    history = trace.history()
    runs: dict[str, list[int]] = {}
    wasted: dict[str, list[int]] = {}
    for spec in scenario.endpoints:
        mine = history.get(spec.key, ())
        runs[spec.key] = [sum(1 for r in mine if p.holds(r.at)) for p in scenario.phases]
        waste = [r for r in mine if scenario.wasted(spec.key, r, history)]
        wasted[spec.key] = [sum(1 for r in waste if p.holds(r.at)) for p in scenario.phases]
    return Score(
        scenario=scenario,
        policy=trace.policy,
        runs=runs,
        wasted=wasted,
        reactions=reactions(trace, history),
        violations=violations(trace),
        cost=cost(trace, history),
        checks=[(c.label, c.holds(history)) for c in scenario.checks],
        wall_s=trace.wall_s,
        max_lateness_ms=max(trace.lateness_ms, default=0),
    )


# Violations --------------------------------------------------------------------------------


def _paused_between(
    states: list[StateRecord], key: str, first: int, last: int, start: timedelta, end: timedelta
) -> bool:
    """Whether a pause of `key`, in force at states[first] or saved up to states[last],
    overlaps (start, end)."""
    window = [s for s in states[first:last] if s.key == key]
    before = state_before(states, key, first)
    if before is not None:
        window.insert(0, before)
    return any(
        s.paused_until is not None
        and s.paused_until > s.at
        and s.at < end
        and s.paused_until > start
        for s in window
    )


def violations(trace: Trace) -> Violations:
    scenario = trace.scenario
    found: Counter[str] = Counter()
    details: list[str] = []
    end = scenario.duration

    def flag(kind: str, text: str) -> None:
        found[kind] += 1
        if len(details) < 20:
            details.append(f"{kind}: {text}")

    for spec in scenario.endpoints:
        mine = trace.runs_of(spec.key)
        for run in mine:
            if run.at < run.slot:
                flag("early", f"{spec.key} at {run.at} before its slot {run.slot}")
            state = state_before(trace.states, spec.key, run.states)
            if state is not None and state.paused(run.at):
                flag("paused", f"{spec.key} ran at {run.at} while paused")
        for slot, count in Counter(r.slot for r in mine).items():
            if count > 1:
                flag("duplicate", f"{spec.key} slot {slot} ran {count} times")
        for a, b in itertools.pairwise(mine):
            if spec.min_ms and b.at - a.at < timedelta(milliseconds=spec.min_ms):
                flag("min_gap", f"{spec.key} ran {b.at - a.at} apart at {b.at}")
        if spec.max_ms:
            _max_gaps(trace, spec.key, spec.paused, timedelta(milliseconds=spec.max_ms), end, flag)
    return Violations(
        early=found["early"],
        duplicate=found["duplicate"],
        min_gap=found["min_gap"],
        paused=found["paused"],
        max_gap=found["max_gap"],
        details=tuple(details),
    )


def _max_gaps(
    trace: Trace,
    key: str,
    paused: bool,
    limit: timedelta,
    end: timedelta,
    flag: Callable[[str, str], None],
) -> None:
    mine = trace.runs_of(key)
    bounds: list[tuple[timedelta, int]] = [] if paused else [(timedelta(0), 0)]
    bounds += [(r.at, r.states) for r in mine]
    bounds.append((end, len(trace.states)))
    for (a, ia), (b, ib) in itertools.pairwise(bounds):
        if b - a <= limit + DELIVERY:
            continue
        if not _paused_between(trace.states, key, ia, ib, a, b):
            flag("max_gap", f"{key} went {b - a} without a run from {a}")


# Reactions ---------------------------------------------------------------------------------


def _windows(scenario: Scenario, history: History) -> list[tuple[Expect, timedelta, timedelta]]:
    """Each expectation with the time span it stays in force on its endpoint."""
    timed = [(e, e.when(history)) for e in scenario.expects]
    spans = []
    for e, at in timed:
        if at is None:
            continue
        later = [t for f, t in timed if f.endpoint == e.endpoint and t is not None and t > at]
        end = e.ends(history) or min(later, default=scenario.duration)
        spans.append((e, at, end))
    return spans


def _first_after(runs: list[RunRecord], key: str, index: int) -> list[RunRecord]:
    """Runs of `key` recorded after position `index` in the run list."""
    return [r for r in runs[index + 1 :] if r.key == key]


def _effect(trace: Trace, e: Expect, at: timedelta, seen_index: int) -> timedelta | None:
    later = _first_after(trace.runs, e.endpoint, seen_index)
    if e.action in ("run", "resume"):
        return later[0].at if later else None
    if e.action == "pause":
        for state in trace.states:
            if state.key == e.endpoint and state.at >= at and state.paused(state.at):
                return state.at
        return None
    mine = trace.runs_of(e.endpoint)
    gap = e.gap or timedelta(0)
    if e.action == "tighten":
        # The first run that came at the tighter cadence: under a tight enough interval hint
        # (the first such run may follow a longer gap), or simply close to the one before.
        after = {id(r) for r in later}
        for prev, cur in itertools.pairwise(mine):
            if id(cur) not in after:
                continue
            planned = state_before(trace.states, e.endpoint, cur.states)
            hinted = (
                planned is not None
                and planned.hint_interval_ms is not None
                and planned.hint_interval_ms <= gap / timedelta(milliseconds=1)
                and planned.hint_expires is not None
                and planned.hint_expires > cur.at
            )
            if hinted or cur.at - prev.at <= gap + DELIVERY:
                return cur.at
        return None
    if e.action == "relax":
        # From the last run before the decision on: a wide gap that opens right away (clearing
        # hints re-plans from the last run) counts from the decision.
        before = [r for r in trace.runs[: seen_index + 1] if r.key == e.endpoint]
        candidates = before[-1:] + later
        for i, cur in enumerate(candidates):
            following = candidates[i + 1].at if i + 1 < len(candidates) else trace.scenario.duration
            if following - cur.at >= gap - DELIVERY and following > at:
                return max(cur.at, at)
        return None
    return None


def _decided(
    sessions: list[SessionRecord], e: Expect, at: timedelta, end: timedelta
) -> timedelta | None:
    accepted = ACCEPTS[e.action]
    for s in sessions:
        if at <= s.at < end and accepted.intersection(s.decisions):
            return s.at
    return None


def reactions(trace: Trace, history: History) -> list[Reaction]:
    found = []
    spans = {id(e): (at, end) for e, at, end in _windows(trace.scenario, history)}
    for e in trace.scenario.expects:
        if id(e) not in spans:
            found.append(Reaction(e, None, None, None, None, ok=False))
            continue
        at, end = spans[id(e)]
        seen_index = -1
        seen: timedelta | None = at
        if e.source is not None:
            seen = None
            for index, run in enumerate(trace.runs):
                if run.key == e.source and run.at >= at:
                    seen_index, seen = index, run.at
                    break
        else:
            seen_index = next((i for i, r in enumerate(trace.runs) if r.at >= at), len(trace.runs))
            seen_index -= 1
        sessions = trace.sessions_of(e.endpoint)
        if e.action == "none":
            acted = [s for s in sessions if at <= s.at < end and set(s.decisions) - {"keep"}]
            found.append(Reaction(e, at, seen, None, None, ok=not acted))
            continue
        decided = _decided(sessions, e, at, end)
        effect = _effect(trace, e, at, seen_index) if seen is not None else None
        ok = effect is not None and effect - at <= e.within
        found.append(Reaction(e, at, seen, decided, effect, ok))
    return found


# Cost --------------------------------------------------------------------------------------


def unexpected(trace: Trace, history: History) -> list[SessionRecord]:
    """Sessions that acted where no expectation asked for any of their actions."""
    spans = _windows(trace.scenario, history)
    odd = []
    for s in trace.sessions:
        acted = set(s.decisions) - {"keep"}
        if not acted:
            continue
        fitting = [e for e, at, end in spans if e.endpoint == s.key and at <= s.at < end]
        if not any(ACCEPTS[e.action] & acted for e in fitting):
            odd.append(s)
    return odd


def cost(trace: Trace, history: History) -> Cost:
    tokens = [s.tokens for s in trace.sessions]
    days = trace.scenario.duration / DAY
    endpoints = len(trace.scenario.endpoints)
    return Cost(
        sessions=len(trace.sessions),
        failed=sum(1 for s in trace.sessions if s.status != "success"),
        unexpected=len(unexpected(trace, history)),
        tokens_mean=statistics.fmean(tokens) if tokens else 0.0,
        tokens_p50=statistics.median(tokens) if tokens else 0.0,
        tokens_max=max(tokens, default=0),
        per_endpoint_day=len(trace.sessions) / (endpoints * days) if endpoints else 0.0,
        reasons=dict(Counter(s.reason or "-" for s in trace.sessions)),
        messages=dict(Counter(m.origin for m in trace.messages)),
    )
