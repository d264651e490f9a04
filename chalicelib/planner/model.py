"""What the session loop needs from a model: one step of a tool-calling conversation.

`planner/openai_model.py` implements it for any OpenAI-compatible server; the simulator and
tests plug in scripted ones. Kept free of the openai import so handlers that never call a
model do not pay for it at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

ToolChoice = str | dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """One model step: the assistant message to send back, its tool calls, and usage."""

    message: dict[str, Any]
    tool_calls: tuple[ToolCallRequest, ...]
    finish_reason: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    content: str | None = None


class ProviderError(Exception):
    """The model could not be reached or refused; `transient` says whether a later try may work."""

    def __init__(self, message: str, *, transient: bool, attempts: int = 1) -> None:
        super().__init__(message)
        self.transient = transient
        self.attempts = attempts


class ChatModel(Protocol):
    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion: ...
