"""The planner in virtual time: every scenario under the scripted policy, and without a planner
for comparison, scored per endpoint and phase.

The real governor, scheduling chokepoint, executor, dispatcher and analyzer (sessions through
the real tools) run against simulated endpoints on in-process moto; the queues and the clock
are simulated (bench/scenarios/simulator.py). Hours of schedule run in seconds.

Run: `.venv/bin/python -m bench.planner_sim [--scenario KEY ...] [--no-baseline]`.
Results (all scenarios): bench/results/planner_sim.txt.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scenarios.catalog import scenarios
from bench.scenarios.scoring import Reaction, Score, score
from bench.scenarios.scripted import ScriptedModel
from bench.scenarios.simulator import sandbox, simulate
from bench.scenarios.spec import Scenario

RESULTS = Path(__file__).resolve().parent / "results" / "planner_sim.txt"


@dataclass(frozen=True)
class Outcome:
    """One scenario under the scripted policy (reflexes off), under its reflex policy when
    the scenario has one, and optionally with no planner at all."""

    scripted: Score
    reflexes: Score | None
    baseline: Score | None
    cpu_s: float

    def scores(self) -> list[tuple[str, Score]]:
        """(label, score) of each policy played, reflexes off first."""
        found = [("reflexes off", self.scripted)]
        if self.reflexes is not None:
            found.append(("reflexes on", self.reflexes))
        if self.baseline is not None:
            found.append(("no planner", self.baseline))
        return found


def duration(value: timedelta | None) -> str:
    """`0.3s`, `4m40s`, `1h35m40s`, `27h00m`; `-` for None."""
    if value is None:
        return "-"
    total = value.total_seconds()
    if total < 60:
        return f"{total:.1f}s"
    whole = int(total)
    hours, rest = divmod(whole, 3600)
    mins, secs = divmod(rest, 60)
    if hours == 0:
        return f"{mins}m{secs:02d}s"
    return f"{hours}h{mins:02d}m" + (f"{secs:02d}s" if secs else "")


def table(header: Sequence[str], rows: Sequence[Sequence[object]], right: int = 1) -> list[str]:
    """A Markdown table; columns from `right` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join(align)}|"]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    return lines


def scripted_model(scenario: Scenario) -> ScriptedModel:
    """The reflexes-off policy: every endpoint's rule acts in its sessions."""
    return ScriptedModel(dict(scenario.rules))


def reflex_model(scenario: Scenario) -> ScriptedModel:
    """The reflex policy: endpoints with a reflex rule hand what it covers to reflexes."""
    return ScriptedModel({**scenario.rules, **scenario.reflex_rules})


def play(scenario: Scenario, baseline: bool, reflexes: bool = True) -> Outcome:
    """Play `scenario` under each policy and score it."""
    started = time.process_time()
    scripted = score(simulate(scenario, scripted_model(scenario), "scripted"))
    reflex = None
    if reflexes and scenario.reflex_rules:
        reflex = score(simulate(scenario, reflex_model(scenario), "reflexes"))
    plain = score(simulate(scenario, None, "no planner")) if baseline else None
    return Outcome(scripted, reflex, plain, time.process_time() - started)


def tokens_per_endpoint_day(s: Score) -> float:
    """Planner tokens per endpoint and simulated day."""
    return s.cost.tokens_mean * s.cost.per_endpoint_day


def _reaction_row(r: Reaction) -> list[object]:
    e = r.expect
    seen = r.seen - r.at if r.seen is not None and r.at is not None else None
    decided = r.decided - r.at if r.decided is not None and r.at is not None else None
    verdict = "ok" if r.ok else "MISSED"
    if e.action == "none":
        return [e.signal, duration(r.at), e.endpoint, "no action", "-", "-", "-", "-", verdict]
    return [
        e.signal,
        duration(r.at),
        e.endpoint,
        e.action + (f" (gap {duration(e.gap)})" if e.gap else ""),
        duration(seen),
        duration(decided),
        duration(r.latency),
        duration(e.within),
        verdict,
    ]


def _cell(runs: int, wasted: int) -> str:
    return f"{runs} ({wasted} wasted)" if wasted else str(runs)


def section(outcome: Outcome) -> list[str]:
    s, b, x = outcome.scripted, outcome.baseline, outcome.reflexes
    sc = s.scenario
    lines = [f"## {sc.title}", "", f"{sc.summary}. Wasted run: {sc.wasted_means}.", ""]
    header = ["endpoint", *(p.label for p in sc.phases), "runs", "wasted"]
    if x is not None:
        header += ["reflexes on: runs", "wasted"]
    if b is not None:
        header += ["no planner: runs", "wasted"]
    rows = []
    for spec in sc.endpoints:
        cells = [_cell(n, w) for n, w in zip(s.runs[spec.key], s.wasted[spec.key], strict=True)]
        row: list[object] = [spec.key, *cells, sum(s.runs[spec.key]), sum(s.wasted[spec.key])]
        for other in (x, b):
            if other is not None:
                row += [sum(other.runs[spec.key]), sum(other.wasted[spec.key])]
        rows.append(row)
    lines += table(header, rows)
    lines += _policy("Reflexes off (the scripted rules act in sessions)", s, b)
    if s.checks:
        lines += ["", "The reference's assertions (§12.6):", ""]
        lines += [f"- {'pass' if ok else 'FAIL'}: {label}" for label, ok in s.checks]
    for note in sc.notes:
        lines += ["", f"Note: {note}"]
    if x is not None:
        lines += _policy("Reflexes on (sessions set reflexes and leave the rules to them)", x, b)
        for note in sc.reflex_notes:
            lines += ["", f"Note: {note}"]
    lines += [""]
    return lines


def _policy(title: str, s: Score, b: Score | None) -> list[str]:
    lines = ["", f"### {title}", ""]
    lines += ["Reactions (times from the signal appearing; `seen`: its source ran):", ""]
    lines += table(
        [
            "signal",
            "at",
            "endpoint",
            "expected",
            "seen",
            "decided",
            "took effect",
            "bound",
            "",
        ],
        [_reaction_row(r) for r in s.reactions],
        right=4,
    )
    c = s.cost
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(c.reasons.items()))
    messages = ", ".join(f"{k} {v}" for k, v in sorted(c.messages.items()))
    v = s.violations
    lines += [
        "",
        f"Planner: {c.sessions} sessions ({c.failed} failed, {c.unexpected} acting where no "
        f"expectation asked), {c.per_endpoint_day:.1f} sessions per endpoint-day; tokens per "
        f"session mean {c.tokens_mean:.0f}, median {c.tokens_p50:.0f}, max {c.tokens_max}; "
        f"{tokens_per_endpoint_day(s):.0f} tokens per endpoint-day. "
        f"Why analysed: {reasons}. Analysis messages: {messages}.",
        "",
        f"Constraint violations: {v.total} (early {v.early}, duplicate {v.duplicate}, "
        f"min gap {v.min_gap}, while paused {v.paused}, max gap {v.max_gap})"
        + (f"; without a planner: {b.violations.total}" if b is not None else "")
        + f". Runs started at most {s.max_lateness_ms} ms after their slot.",
    ]
    lines += [f"- {d}" for d in v.details]
    return lines


def summary(outcomes: Sequence[Outcome]) -> list[str]:
    rows = []
    for o in outcomes:
        for label, s in o.scores():
            planner = label != "no planner"
            c = s.cost
            rows.append(
                [
                    s.scenario.key,
                    label,
                    s.total_runs,
                    s.total_wasted,
                    f"{s.reactions_ok}/{len(s.reactions)}",
                    s.violations.total,
                    c.sessions if planner else "-",
                    f"{c.per_endpoint_day:.1f}" if planner else "-",
                    f"{c.tokens_mean:.0f}" if planner else "-",
                    f"{tokens_per_endpoint_day(s):.0f}" if planner else "-",
                ]
            )
    return table(
        [
            "scenario",
            "policy",
            "runs",
            "wasted",
            "reactions in bound",
            "violations",
            "sessions",
            "sessions per endpoint-day",
            "tokens/session",
            "tokens per endpoint-day",
        ],
        rows,
        right=2,
    )


# The release before reflexes and first looks (commit 35548fb, its planner_sim.txt): sessions
# per endpoint-day and tokens per session, the figures issue 10's token target compares with.
BEFORE: dict[str, tuple[float, int]] = {
    "flash_sale_reference": (306.0, 4090),
    "flash_sale_load": (198.0, 2849),
    "automated_recovery": (91.2, 2572),
    "volume_sync": (38.4, 2389),
    "etl_handoff": (24.6, 2828),
    "cache_warm_cooldown": (80.0, 2358),
    "tiered_priority": (54.4, 3134),
    "cross_job_status": (48.0, 2456),
}


def _change(now: float, before: float) -> str:
    return f"{(now - before) / before:+.1%}"


def against_before(outcomes: Sequence[Outcome]) -> list[str]:
    """Tokens per endpoint-day now, reflexes off and on, against the release before them."""
    rows = []
    for o in outcomes:
        key = o.scripted.scenario.key
        if key not in BEFORE:
            continue
        sessions, per_session = BEFORE[key]
        before = sessions * per_session
        off = tokens_per_endpoint_day(o.scripted)
        on = tokens_per_endpoint_day(o.reflexes) if o.reflexes is not None else None
        rows.append(
            [
                key,
                f"{before:.0f}",
                f"{off:.0f} ({_change(off, before)})",
                "-" if on is None else f"{on:.0f} ({_change(on, before)})",
            ]
        )
    return table(
        ["scenario", "before reflexes (35548fb)", "reflexes off now", "reflexes on now"], rows
    )


def durations(outcomes: Sequence[Outcome]) -> list[str]:
    """How long each scenario lasts in virtual time and the CPU its plays took."""
    rows = [
        [o.scripted.scenario.key, duration(o.scripted.scenario.duration), f"{o.cpu_s:.1f}"]
        for o in outcomes
    ]
    return table(["scenario", "simulated", "CPU s (all policies)"], rows)


READING = (
    "Reading it: against the release before reflexes (the table below), tokens per "
    "endpoint-day fall in all eight scenarios on the policy each one has: sessions now begin "
    "with the endpoint's latest answer and its siblings' already read (one model step, the "
    "whole prompt, less per session), the prompt is shorter, and a job starting up reads its "
    "first answers in one round instead of once per answer (docs/planner.md). Reflexes cut "
    "further where they silence watched siblings (etl_handoff by three fifths against "
    "reflexes off, automated_recovery by a sixth, flash_sale_load by a tenth, "
    "tiered_priority by a tenth) and keep every reaction in bound, adding the two the "
    "session-only policy misses (incident 2's second restart, the pipeline's restart after "
    "the cross-job outage). They cost a little more where the reflex reads the endpoint's "
    "own answer: cache_warm_cooldown (the prompt lists the reflexes) and cross_job_status "
    "(each pause firing asks for a session). The reference flash sale (10 endpoints, 40 "
    "minutes, no reflex rule) only levels: its first answers, and the first answers of the "
    "investigations its sessions start at minutes 9 and 13, are news to every sibling (issue "
    "10, section 2), and a 40-minute run extrapolated to a day counts that start 36 times."
)


def report(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "# The planner in virtual time (scripted policy, reflexes off and on)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d} by `python -m bench.planner_sim` on "
        f"{os.cpu_count()} cores (Python {sys.version.split()[0]}). The real governor, "
        "scheduling, executor, dispatcher (60 s tick), reflex engine (after every run) and "
        "analyzer (300 s tick, urgent messages when visible; sessions through the real tools) "
        "run against simulated endpoints on in-process moto, jumping a manual clock from event "
        "to event. The scripted policy applies each scenario's rules (bench/scenarios/), so a "
        "missed reaction points at the engine or at when sessions happen, not at the policy; "
        "`no planner` runs the same scenario on baselines alone. Tokens are the scripted "
        "model's estimate (4 characters a token); `make eval-planner` measures a real model.",
        "",
        "Two scripted policies. `reflexes off`: every rule acts in planner sessions (the "
        "policy before reflexes). `reflexes on`: where a scenario's rule reads \"when an "
        "answer shows X, do Y\", the endpoint's first session sets reflexes equivalent to the "
        "rule through manage_reflexes (cooldowns as the scenario requires) and later sessions "
        "take no action a reflex covers, only renewing reflexes (replaceId) before their 24 h "
        "expiry; endpoints without such a rule keep theirs. Scenarios without a reflex rule "
        "(the reference flash sale, volume sync: numeric thresholds and trends a session "
        "judges) are played with reflexes off only.",
        "",
        "Reaction: from the signal appearing in an endpoint's body to the action taking effect "
        "(the run happening, the pause in force, the first run at the tighter interval, the "
        "last run before the wider gap); `decided` is a session's decision, `-` when a reflex "
        "acted (or when nothing was decided). Violations (runs before their slot, two runs of "
        "one slot, runs closer than minIntervalMs, runs while paused, gaps over maxIntervalMs "
        "while not paused) must all be 0. Tokens per endpoint-day: sessions per endpoint-day "
        "times tokens per session, the planner's cost of a scenario.",
        "",
    ]
    lines += summary(outcomes)
    lines += ["", READING, ""]
    lines += against_before(outcomes)
    lines += [""]
    lines += durations(outcomes)
    lines += [""]
    for outcome in outcomes:
        lines += section(outcome)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the planner's scenarios in virtual time")
    parser.add_argument("--scenario", nargs="*", help="keys (or prefixes) to run; default all")
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-planner runs")
    parser.add_argument("--no-reflexes", action="store_true", help="skip the reflex policy")
    parser.add_argument("--out", type=Path, help=f"write the report here (all: {RESULTS})")
    args = parser.parse_args(argv)
    chosen = scenarios(args.scenario)
    outcomes = []
    with sandbox():
        for scenario in chosen:
            outcome = play(scenario, baseline=not args.no_baseline, reflexes=not args.no_reflexes)
            for label, s in outcome.scores():
                print(
                    f"{scenario.key} ({label}): {s.total_runs} runs, {s.reactions_ok}/"
                    f"{len(s.reactions)} reactions in bound, {s.violations.total} violations, "
                    f"{s.cost.sessions} sessions, {tokens_per_endpoint_day(s):.0f} tokens per "
                    "endpoint-day",
                    flush=True,
                )
            outcomes.append(outcome)
    text = report(outcomes)
    out = args.out or (RESULTS if not args.scenario else None)
    if out is not None:
        out.write_text(text + "\n")
        print(f"written to {out}")
    else:
        print(text)
    violations = sum(
        s.violations.total for o in outcomes for label, s in o.scores() if label != "no planner"
    )
    if violations:
        raise SystemExit(f"{violations} constraint violations")


if __name__ == "__main__":
    main()
