"""The planner's model client for any OpenAI-compatible Chat Completions server.

One call per step, retried on timeouts, connection errors, 429 and 5xx with backoff while the
total stays inside a time budget; then a ProviderError the session records.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import openai

from chalicelib.clock import Clock
from chalicelib.planner.model import Completion, ProviderError, ToolCallRequest, ToolChoice
from chalicelib.settings import Settings

log = logging.getLogger("cronpilot.planner")


@dataclass
class RetryPolicy:
    """Exponential backoff (1 s, 2 s, 4 s … capped at 30 s, or the server's Retry-After) while the
    total time stays within `budget`."""

    budget: timedelta = timedelta(seconds=120)
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it gives a positive one (the budget decides whether
        waiting that long is worth it), else exponential backoff."""
        if retry_after is not None and retry_after > 0:
            return float(retry_after)
        return float(min(self.first_delay_s * 2.0 ** (attempt - 1), self.max_delay_s))


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        value = float(header) if header is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _transient(exc: Exception) -> bool:
    if getattr(exc, "code", None) == "insufficient_quota":
        return False  # a spent account does not recover within seconds
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return False


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(exc)[:300]
    return f"{name} ({status}): {text}" if status else f"{name}: {text}"


class OpenAIChatModel:
    """Chat Completions with tools against OPENAI_BASE_URL (default: OpenAI)."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        retry: RetryPolicy | None = None,
        client: Any = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._retry = retry or RetryPolicy(budget=timedelta(seconds=settings.ai_retry_budget_s))
        # Retries are ours (bounded by the budget, visible in logs), not the SDK's.
        self._client = client or openai.OpenAI(
            api_key=settings.ai_api_key or "unset",
            base_url=settings.ai_base_url,
            timeout=settings.ai_request_timeout_s,
            max_retries=0,
        )

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        """One step, retried on timeouts, connection errors, 429 and 5xx within the budget."""
        started = self._clock.now()
        attempt = 0
        while True:
            attempt += 1
            try:
                # The SDK's overloads want TypedDicts; these dicts are built to the same shape.
                create: Any = self._client.chat.completions.create
                response = create(
                    model=self._settings.ai_model,
                    messages=messages,
                    tools=tools,
                    tool_choice=tool_choice,
                    max_tokens=self._settings.ai_max_output_tokens,
                    temperature=self._settings.ai_temperature,
                )
                return _completion(response)
            except openai.OpenAIError as exc:
                if not _transient(exc):
                    raise ProviderError(_describe(exc), transient=False, attempts=attempt) from exc
                wait = self._retry.delay(attempt, _retry_after(exc))
                spent = self._clock.now() - started
                if spent + timedelta(seconds=wait) > self._retry.budget:
                    raise ProviderError(
                        f"gave up after {attempt} attempts: {_describe(exc)}",
                        transient=True,
                        attempts=attempt,
                    ) from exc
                log.warning(
                    "model call failed (%s); retry %d in %.1f s", _describe(exc), attempt, wait
                )
                self._retry.sleep(wait)


def _completion(response: Any) -> Completion:
    if not getattr(response, "choices", None):
        raise ProviderError("the model returned no choices", transient=True)
    choice = response.choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise ProviderError("the model returned a choice without a message", transient=True)
    calls = tuple(
        ToolCallRequest(
            id=call.id,
            name=getattr(call.function, "name", "") or "",
            arguments=getattr(call.function, "arguments", "") or "",
        )
        for call in (message.tool_calls or [])
        if getattr(call, "function", None) is not None
    )
    usage = getattr(response, "usage", None)
    return Completion(
        message=message.model_dump(exclude_none=True),
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        content=message.content,
    )
