"""The tool-calling loop for one endpoint: up to 15 model steps, the last forced to submit.

Everything the model does is recorded in order as `{tool, args, result}`, errors included, so
a session can be read back exactly. Nothing here raises for a model's mistakes: bad JSON, bad
arguments and unknown tools are error results the model can correct; a provider failure or a
model that never submits ends the session as `failed`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.entities import SessionWarning, ToolCall
from chalicelib.domain.errors import DomainError
from chalicelib.planner.model import ChatModel, ProviderError, ToolChoice
from chalicelib.planner.tools import SUBMIT, Toolbox, ToolError, parse_arguments, tool_definitions

log = logging.getLogger("cronpilot.planner")

MAX_STEPS = 15
FORCE_SUBMIT: ToolChoice = {"type": "function", "function": {"name": SUBMIT}}
NUDGE = "Reply with tool calls only. When you are done, call submit_analysis with your reasoning."

# What nearly every session read first, in its own round trip, before it could decide. Run
# before the first model call and handed over as that call's tool results, it costs the model
# one step (the whole prompt sent once more) less in every session.
CONTEXT_READS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("get_latest_response", {}),
    ("get_sibling_latest_responses", {"includeResponses": True}),
)


@dataclass
class Outcome:
    """What a session produced, before it is stored."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    warnings: list[SessionWarning] = field(default_factory=list)
    submitted: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    steps: int = 0
    error: str | None = None

    @property
    def status(self) -> str:
        return "success" if self.submitted is not None and self.error is None else "failed"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def reasoning(self) -> str:
        if self.submitted and self.submitted.get("reasoning"):
            return str(self.submitted["reasoning"])
        if self.error:
            return f"Analysis failed: {self.error}"
        return "No reasoning provided"


def _content(result: Any) -> str:
    # Compact: every separator space is paid for again in each later step of the session.
    return (
        result
        if isinstance(result, str)
        else json.dumps(result, default=str, separators=(",", ":"))
    )


def _read_context(
    reads: tuple[tuple[str, dict[str, Any]], ...],
    toolbox: Toolbox,
    messages: list[dict[str, Any]],
    outcome: Outcome,
) -> None:
    calls = [
        {
            "id": f"context_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(reads)
    ]
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    for call, (name, args) in zip(calls, reads, strict=True):
        try:
            result = toolbox.call(name, args)
        except (ToolError, DomainError) as exc:
            result = {"error": str(exc)}
        except Exception:
            # As in the loop: a store hiccup leaves the model a read it can make again itself.
            log.exception("context read %s failed", name)
            result = {"error": f"{name} failed on our side; call it again if you need it"}
        outcome.tool_calls.append(ToolCall(tool=name, args=args, result=result))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": _content(result)})


def run_session(
    model: ChatModel,
    prompt: str,
    toolbox: Toolbox,
    max_steps: int = MAX_STEPS,
    max_output_tokens: int | None = None,
    context: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> Outcome:
    """Converse until the model submits or the step budget ends; the `context` reads are made
    first and handed to the model as the results of calls it already made."""
    tools = tool_definitions()
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    outcome = Outcome()
    if context:
        _read_context(context, toolbox, messages, outcome)
    truncated_steps: list[dict[str, Any]] = []
    for step in range(max_steps):
        choice = FORCE_SUBMIT if step >= max_steps - 1 else "required"
        try:
            completion = model.complete(messages, tools, choice)
        except ProviderError as exc:
            outcome.error = str(exc)
            outcome.warnings.append(
                SessionWarning(
                    "provider_error",
                    f"The model provider failed: {exc}",
                    {"transient": exc.transient, "attempts": exc.attempts, "step": step + 1},
                )
            )
            break
        outcome.steps = step + 1
        outcome.input_tokens += completion.input_tokens
        outcome.output_tokens += completion.output_tokens
        if completion.finish_reason == "length":
            truncated_steps.append({"step": step + 1, "finishReason": "length"})
        messages.append(completion.message)
        if not completion.tool_calls:
            messages.append({"role": "user", "content": NUDGE})
            continue
        for call in completion.tool_calls:
            args: Any = call.arguments
            try:
                args = parse_arguments(call.arguments)
                result = toolbox.call(call.name, args)
            except (ToolError, DomainError) as exc:
                result = {"error": str(exc)}
            except Exception:
                # A store hiccup must not end the session half-way: the write either happened
                # whole or not at all, and the model can try again or submit.
                log.exception("tool %s failed", call.name)
                result = {"error": f"{call.name} failed on our side; try again or submit"}
            outcome.tool_calls.append(ToolCall(tool=call.name, args=args, result=result))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": _content(result)})
            if call.name == SUBMIT and "error" not in result and outcome.submitted is None:
                outcome.submitted = result
        if outcome.submitted is not None:
            break
    if truncated_steps:
        outcome.warnings.append(
            SessionWarning(
                "output_truncated",
                f"Output token limit hit on {len(truncated_steps)} step(s) — model response was "
                "truncated",
                {"truncatedSteps": truncated_steps, "maxOutputTokens": max_output_tokens},
            )
        )
    if outcome.submitted is None and outcome.error is None:
        outcome.error = f"the model did not call submit_analysis within {max_steps} steps"
        outcome.warnings.append(
            SessionWarning(
                "missing_final_tool",
                "The AI did not call submit_analysis; no reasoning or re-analysis time recorded",
            )
        )
    return outcome
