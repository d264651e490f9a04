"""A scripted stand-in for a model: plays a rule over the real tool loop.

The session hands it the latest response and the siblings' latest answers as results of calls
already made (planner/session.py CONTEXT_READS); its first reply calls the actions the rule
decides from them together with submit_analysis. Without that context (a session run bare) it
reads them itself first. Token counts approximate a real model's (4 characters a token) so
budgets and reports behave as they would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.timeutil import parse_instant
from chalicelib.planner.model import Completion, ToolCallRequest, ToolChoice


@dataclass(frozen=True)
class Observation:
    """What the scripted model read about the endpoint it analyses."""

    endpoint_name: str
    now: datetime
    latest: Any  # the newest response body, or None
    siblings: dict[str, Any]  # sibling name -> its newest response body
    prompt: str
    sibling_ids: dict[str, str] = field(default_factory=dict)  # sibling name -> endpoint id


Call = tuple[str, dict[str, Any]]
Rule = Callable[[Observation], list[Call]]

_NAME = re.compile(r"^- Name: (.*)$", re.MULTILINE)
_NOW = re.compile(r"^Current time: (\S+)\. Analyse", re.MULTILINE)


def no_action(_: Observation) -> list[Call]:
    return []


@dataclass
class ScriptedModel:
    """`rules` maps an endpoint name to its rule; endpoints without one take no action."""

    rules: dict[str, Rule] = field(default_factory=dict)
    next_analysis_ms: int = 300_000
    calls: int = 0

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        self.calls += 1
        prompt = str(messages[0]["content"])
        steps_done = sum(1 for m in messages if m.get("role") == "assistant")
        forced = isinstance(tool_choice, dict)
        if steps_done == 0 and not forced:
            calls: list[Call] = [
                ("get_latest_response", {}),
                ("get_sibling_latest_responses", {"includeResponses": True}),
            ]
        elif steps_done == 1 and not forced:
            # Decides and submits in one reply, as the prompt invites when nothing more is read.
            calls = self._rule(prompt)(self._observe(prompt, messages))
            reasoning = (
                "Applied the endpoint's rules to its signals"
                if calls
                else "No action needed: signals are within the rules"
            )
            if not calls or calls[-1][0] != "submit_analysis":
                calls = [*calls, self._submit(messages, reasoning, calls)]
        else:
            calls = [self._submit(messages, "Applied the endpoint's rules to its signals")]
        return _completion(messages, calls, steps_done)

    def _rule(self, prompt: str) -> Rule:
        match = _NAME.search(prompt)
        return self.rules.get(match.group(1).strip() if match else "", no_action)

    def _observe(self, prompt: str, messages: list[dict[str, Any]]) -> Observation:
        results = tool_results(messages)
        latest = results.get("get_latest_response", {})
        siblings = results.get("get_sibling_latest_responses", {}).get("siblings", [])
        name = _NAME.search(prompt)
        now = _NOW.search(prompt)
        return Observation(
            endpoint_name=name.group(1).strip() if name else "",
            now=parse_instant(now.group(1)) if now else datetime.fromtimestamp(0).astimezone(),
            latest=latest.get("responseBody") if latest.get("found") else None,
            siblings={s["endpointName"]: s.get("responseBody") for s in siblings},
            prompt=prompt,
            sibling_ids={s["endpointName"]: s["endpointId"] for s in siblings},
        )

    def _submit(
        self, messages: list[dict[str, Any]], reasoning: str, now_calling: Sequence[Call] = ()
    ) -> Call:
        actions = [
            c["function"]["name"]
            for m in messages
            if m.get("role") == "assistant"
            for c in m.get("tool_calls") or []
            if not c["function"]["name"].startswith("get_")
        ] + [name for name, _ in now_calling if not name.startswith("get_")]
        return (
            "submit_analysis",
            {
                "reasoning": reasoning,
                "actions_taken": actions,
                "confidence": "high",
                "next_analysis_in_ms": self.next_analysis_ms,
            },
        )


def tool_results(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest result of each tool, by name, from the conversation."""
    names: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
    results: dict[str, Any] = {}
    for m in messages:
        if m.get("role") == "tool" and m.get("tool_call_id") in names:
            try:
                results[names[m["tool_call_id"]]] = json.loads(m["content"])
            except (TypeError, ValueError):
                results[names[m["tool_call_id"]]] = m["content"]
    return results


def _completion(messages: list[dict[str, Any]], calls: list[Call], step: int) -> Completion:
    requests = tuple(
        ToolCallRequest(f"call_{step}_{i}", name, json.dumps(args))
        for i, (name, args) in enumerate(calls)
    )
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}}
            for r in requests
        ],
    }
    prompt_chars = sum(len(json.dumps(m, default=str)) for m in messages)
    return Completion(
        message=message,
        tool_calls=requests,
        finish_reason="tool_calls",
        input_tokens=prompt_chars // 4,
        output_tokens=len(json.dumps(message)) // 4 + 20,
    )
