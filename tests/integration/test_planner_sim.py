"""The planner simulator on the flash sale's load management: the real engine and planner in
virtual time under the scripted policy (bench/scenarios/), on in-process moto. The first 30 of
its 40 minutes cover the spike and the recovery, and keep the test short."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from bench.scenarios import load, recovery
from bench.scenarios.scoring import Reaction, Score, score
from bench.scenarios.scripted import ScriptedModel
from bench.scenarios.simulator import simulate
from bench.scenarios.trace import Trace

DURATION = timedelta(minutes=30)


@pytest.fixture(scope="module")
def played() -> tuple[Trace, Score]:
    scenario = replace(load.load_management(), duration=DURATION)
    trace = simulate(scenario, ScriptedModel(dict(scenario.rules)))
    return trace, score(trace)


def _reaction(result: Score, endpoint: str, action: str) -> Reaction:
    found = [
        r for r in result.reactions if (r.expect.endpoint, r.expect.action) == (endpoint, action)
    ]
    assert len(found) == 1, found
    return found[0]


def test_no_constraint_is_violated(played: tuple[Trace, Score]) -> None:
    _, result = played
    assert result.violations.total == 0, result.violations.details
    assert result.max_lateness_ms <= 1000


def test_low_priority_pauses_during_the_spike_and_resumes_after(
    played: tuple[Trace, Score],
) -> None:
    trace, result = played
    for endpoint, start in (("analytics", load.SPIKE[0]), ("inventory", load.CRITICAL[0])):
        paused = _reaction(result, endpoint, "pause")
        resumed = _reaction(result, endpoint, "resume")
        assert paused.ok and resumed.ok, (paused, resumed)
        assert paused.at == start and paused.latency is not None
        assert paused.latency <= timedelta(seconds=1)  # the monitor runs on the signal's minute
        assert resumed.at == load.SPIKE[1] and resumed.latency is not None
        assert resumed.latency <= timedelta(seconds=1)  # resuming an overdue endpoint runs it
    assert result.wasted_by_endpoint() == {
        "traffic": 0,
        "orders": 0,
        "inventory": 0,
        "analytics": 0,
    }
    analytics = [r.at for r in trace.runs_of("analytics")]
    assert analytics and all(not load.SPIKE[0] <= at < load.SPIKE[1] for at in analytics)
    assert any(at >= load.SPIKE[1] for at in analytics)


def test_critical_work_is_untouched(played: tuple[Trace, Score]) -> None:
    trace, result = played
    assert _reaction(result, "orders", "none").ok
    assert all(not s.decisions for s in trace.sessions_of("orders"))
    runs = trace.runs_of("orders")
    assert {r.source for r in runs} == {"baseline-interval"}
    gaps = {b.at - a.at for a, b in itertools.pairwise(runs)}
    assert len(runs) >= 30 * 2 - 1  # every 30 s from the first at 30 s
    assert all(timedelta(seconds=30) <= gap <= timedelta(seconds=31) for gap in gaps), gaps


def test_the_monitor_polls_faster_during_the_sale(played: tuple[Trace, Score]) -> None:
    _, result = played
    # The first run at the new interval (20 s) or the last before the wider gap, give or take
    # the second a queued slot may wait for its delivery.
    for action, bound in (("tighten", 21), ("relax", 21)):
        reaction = _reaction(result, "traffic", action)
        assert reaction.latency is not None and reaction.latency <= timedelta(seconds=bound)


def test_sessions_are_recorded_with_their_cost(played: tuple[Trace, Score]) -> None:
    trace, result = played
    cost = result.cost
    assert cost.sessions == len(trace.sessions) > 0 and cost.failed == 0
    assert cost.unexpected == 0
    assert cost.tokens_mean > 0 and cost.per_endpoint_day > 0
    assert cost.messages.get("urgent", 0) > 0  # signals were reacted to, not ticks alone


def test_the_reflex_policy_recovers_in_bound_for_fewer_tokens() -> None:
    """Automated recovery with the restart and the polling as reflexes: every reaction in its
    bound (the second restart of incident 2 included), no violation, fewer planner tokens."""
    # Both incidents and their recoveries, without the quiet last 40 minutes: a shorter test.
    scenario = replace(recovery.automated_recovery(), duration=timedelta(minutes=110))
    plain = score(simulate(scenario, ScriptedModel(dict(scenario.rules))))
    rules = {**scenario.rules, **scenario.reflex_rules}
    reflexes = score(simulate(scenario, ScriptedModel(rules), "reflexes"))
    assert reflexes.violations.total == 0, reflexes.violations.details
    assert reflexes.reactions_ok == len(reflexes.reactions), reflexes.reactions
    restarts = [x for x in reflexes.reactions if x.expect.endpoint == "recovery"]
    assert restarts and all(x.latency is not None for x in restarts)
    # A reflex acts on the signal's own run: the restart starts when the health check answers.
    signalled = [x for x in restarts if x.expect.source is not None]
    assert signalled and all(
        x.seen is not None and x.effect is not None and x.effect - x.seen < timedelta(seconds=1)
        for x in signalled
    ), signalled

    def tokens(s: Score) -> float:
        return s.cost.tokens_mean * s.cost.sessions

    assert 0 < tokens(reflexes) < tokens(plain)
