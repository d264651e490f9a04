"""Score a real model as the planner against each scenario's expected actions.

Plays the scenarios of bench/scenarios/ in virtual time (as bench.planner_sim does) with the
model that OPENAI_API_KEY, OPENAI_BASE_URL and CRONPILOT_AI_MODEL configure, and scores every
expected action: did a session decide it, and did it take effect within its bound. Also
counts sessions that acted where no action was expected, failed sessions, constraint
violations, real tokens and model latency, so models can be compared. Virtual time stands
still while the model answers. Without a configured model it says so and exits 0.

Run: `.venv/bin/python -m bench.eval_planner [--scenario KEY ...] [--compare-scripted]
[--out PATH]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.planner_sim import duration, scripted_model, table
from bench.scenarios.catalog import scenarios
from bench.scenarios.scoring import Reaction, Score, score
from bench.scenarios.simulator import sandbox, simulate
from bench.scenarios.spec import Scenario
from chalicelib.clock import SystemClock
from chalicelib.planner.model import ChatModel, Completion, ProviderError, ToolChoice
from chalicelib.planner.session import FORCE_SUBMIT
from chalicelib.planner.tools import tool_definitions
from chalicelib.settings import Settings

NOT_CONFIGURED = (
    "No model configured: set OPENAI_API_KEY (and, for another server or model, "
    "OPENAI_BASE_URL and CRONPILOT_AI_MODEL) to evaluate one. Nothing to do."
)


class Metered:
    """A ChatModel that counts its calls and the real time they take."""

    def __init__(self, model: ChatModel) -> None:
        self._model = model
        self.calls = 0
        self.seconds = 0.0

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        started = time.perf_counter()
        try:
            return self._model.complete(messages, tools, tool_choice)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class Evaluation:
    model: Score
    calls: int
    seconds: float
    scripted: Score | None

    @property
    def decided(self) -> int:
        return sum(1 for r in self.model.reactions if _decided(r))


def _decided(r: Reaction) -> bool:
    return r.ok if r.expect.action == "none" else r.decided is not None


def preflight(model: ChatModel) -> str | None:
    """One forced submit_analysis call; the provider's error when it fails."""
    prompt = "Health check of the evaluation harness: call submit_analysis with reasoning 'ok'."
    try:
        model.complete([{"role": "user", "content": prompt}], tool_definitions(), FORCE_SUBMIT)
    except ProviderError as exc:
        return str(exc)
    return None


def evaluate(scenario: Scenario, model: ChatModel, name: str, compare: bool) -> Evaluation:
    metered = Metered(model)
    result = score(simulate(scenario, metered, name))
    scripted = score(simulate(scenario, scripted_model(scenario), "scripted")) if compare else None
    return Evaluation(result, metered.calls, metered.seconds, scripted)


def _row(r: Reaction) -> list[object]:
    e = r.expect
    decided = r.decided - r.at if r.decided is not None and r.at is not None else None
    return [
        e.endpoint,
        e.signal,
        duration(r.at),
        "no action" if e.action == "none" else e.action,
        "yes" if _decided(r) else "no",
        duration(decided),
        duration(r.latency),
        duration(e.within),
        "ok" if r.ok else "MISSED",
    ]


def report(name: str, evaluations: Sequence[Evaluation]) -> str:
    lines = [f"# Planner evaluation: {name}", ""]
    rows = []
    for ev in evaluations:
        s, c = ev.model, ev.model.cost
        rows.append(
            [
                s.scenario.key,
                f"{ev.decided}/{len(s.reactions)}",
                f"{s.reactions_ok}/{len(s.reactions)}",
                "-" if ev.scripted is None else f"{ev.scripted.reactions_ok}/{len(s.reactions)}",
                c.unexpected,
                f"{c.failed}/{c.sessions}",
                s.violations.total,
                s.total_wasted,
                f"{c.tokens_mean:.0f}",
                ev.calls,
                f"{ev.seconds / ev.calls:.1f}" if ev.calls else "-",
            ]
        )
    lines += table(
        [
            "scenario",
            "decided",
            "in bound",
            "scripted in bound",
            "unexpected actions",
            "failed sessions",
            "violations",
            "wasted runs",
            "tokens/session",
            "model calls",
            "s/call",
        ],
        rows,
    )
    total = sum(len(ev.model.reactions) for ev in evaluations)
    decided = sum(ev.decided for ev in evaluations)
    in_bound = sum(ev.model.reactions_ok for ev in evaluations)
    unexpected = sum(ev.model.cost.unexpected for ev in evaluations)
    lines += [
        "",
        f"Score: {decided}/{total} expected actions decided, {in_bound}/{total} in effect "
        f"within their bound, {unexpected} sessions acting where nothing was expected.",
        "",
    ]
    for ev in evaluations:
        lines += [f"## {ev.model.scenario.title}", ""]
        lines += table(
            [
                "endpoint",
                "signal",
                "at",
                "expected",
                "decided",
                "after",
                "took effect",
                "bound",
                "",
            ],
            [_row(r) for r in ev.model.reactions],
            right=5,
        )
        lines += [""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="score a model's planner decisions")
    parser.add_argument("--scenario", nargs="*", help="keys (or prefixes) to run; default all")
    parser.add_argument(
        "--compare-scripted", action="store_true", help="also play the scripted policy"
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if not settings.ai_configured:
        print(NOT_CONFIGURED)
        return
    from chalicelib.planner.openai_model import OpenAIChatModel

    # The wall clock, not the simulation's: it bounds the provider's retries in real time.
    model = OpenAIChatModel(settings, SystemClock())
    failure = preflight(model)
    if failure is not None:
        raise SystemExit(f"The model {settings.ai_model} does not answer: {failure}")
    evaluations = []
    with sandbox():
        for scenario in scenarios(args.scenario):
            ev = evaluate(scenario, model, settings.ai_model, args.compare_scripted)
            print(
                f"{scenario.key}: {ev.decided}/{len(ev.model.reactions)} decided, "
                f"{ev.model.reactions_ok} in bound, {ev.model.cost.sessions} sessions, "
                f"{ev.calls} model calls",
                flush=True,
            )
            evaluations.append(ev)
    text = report(settings.ai_model, evaluations)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
