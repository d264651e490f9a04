"""The provider client with the real `openai` SDK against a loopback OpenAI-compatible server.

Retries never sleep: the retry policy's `sleep` records each delay and moves the manual clock,
which is what the time budget is measured on. The one real wait is the stalled-server case,
a 0.2 s client timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import SessionWarning, ToolCall
from chalicelib.domain.timing import Keep
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.model import Completion, ProviderError, ToolCallRequest, ToolChoice
from chalicelib.planner.openai_model import OpenAIChatModel, RetryPolicy
from chalicelib.planner.queue import JobRef
from chalicelib.planner.session import FORCE_SUBMIT
from chalicelib.planner.tools import tool_definitions
from chalicelib.settings import Settings
from tests.conftest import T0
from tests.support.openai_server import FakeOpenAI, Fault, serve

MESSAGES = [{"role": "user", "content": "Analyse the endpoint now."}]
SUBMIT_ARGS = json.dumps({"reasoning": "Stable.", "confidence": "high"})


def tool_reply(name: str = "submit_analysis", arguments: str = SUBMIT_ARGS) -> Completion:
    call = ToolCallRequest("call_abc", name, arguments)
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }
    return Completion(message, (call,), "tool_calls", input_tokens=120, output_tokens=12)


@dataclass
class Brain:
    """What the fake server answers with when no fault is queued: `replies` in order, then
    `then`; a callable reply may act on the server (e.g. queue faults)."""

    replies: list[Completion | Callable[[], Completion]] = field(default_factory=list)
    then: Completion = field(default_factory=tool_reply)

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        reply = self.replies.pop(0) if self.replies else self.then
        return reply if isinstance(reply, Completion) else reply()


@dataclass
class Waits:
    """The retry policy's sleep: records each delay and advances the manual clock instead."""

    clock: ManualClock
    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        assert len(self.delays) < 50, "retrying without end"
        self.delays.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


@pytest.fixture
def brain() -> Brain:
    return Brain()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeOpenAI]:
    """One loopback server for the module (stopping one takes half a second)."""
    with serve(Brain()) as fake:
        yield fake


@pytest.fixture
def server(shared_server: FakeOpenAI, brain: Brain) -> FakeOpenAI:
    """The shared server, answering from this test's brain with nothing queued or seen."""
    shared_server.brain = brain
    shared_server.faults.clear()
    shared_server.requests.clear()
    return shared_server


@pytest.fixture
def waits(clock: ManualClock) -> Waits:
    return Waits(clock)


def settings_for(server: FakeOpenAI, **fields: Any) -> Settings:
    values: dict[str, Any] = {
        "ai_configured": True,
        "ai_api_key": "test-key",
        "ai_base_url": server.url,
        "ai_request_timeout_s": 5.0,
        **fields,
    }
    return replace(Settings(), **values)


def client(
    server: FakeOpenAI, clock: ManualClock, waits: Waits, budget_s: float = 60, **fields: Any
) -> OpenAIChatModel:
    policy = RetryPolicy(budget=timedelta(seconds=budget_s), sleep=waits)
    return OpenAIChatModel(settings_for(server, **fields), clock, policy)


def raw_response(message: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A chat.completion body written by hand (for shapes the brain cannot produce)."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    if message is not None:
        choice["message"] = message
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [choice],
        **extra,
    }


# --- success -------------------------------------------------------------------------------


def test_a_tool_call_is_parsed_with_its_usage_and_the_request_is_complete(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    model = client(server, clock, waits, ai_model="planner-test", ai_max_output_tokens=1024)
    completion = model.complete(MESSAGES, tool_definitions(), "required")

    assert completion.tool_calls == (ToolCallRequest("call_abc", "submit_analysis", SUBMIT_ARGS),)
    assert completion.finish_reason == "tool_calls"
    assert (completion.input_tokens, completion.output_tokens) == (120, 12)
    assert completion.content is None
    # The assistant turn goes back to the provider as is, without nulls.
    assert completion.message == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "submit_analysis", "arguments": SUBMIT_ARGS},
            }
        ],
    }
    (request,) = server.requests
    assert request["model"] == "planner-test"
    assert request["max_tokens"] == 1024
    assert request["temperature"] == 0.7
    assert request["tool_choice"] == "required"
    assert request["tools"] == tool_definitions()
    assert request["messages"] == MESSAGES
    assert waits.delays == []


def test_the_forced_choice_and_a_text_reply_round_trip(
    server: FakeOpenAI, brain: Brain, clock: ManualClock, waits: Waits
) -> None:
    text = Completion(
        {"role": "assistant", "content": "All good."}, (), "length", 7, 3, "All good."
    )
    brain.replies.append(text)
    completion = client(server, clock, waits).complete(MESSAGES, tool_definitions(), FORCE_SUBMIT)
    assert server.requests[0]["tool_choice"] == FORCE_SUBMIT
    assert (completion.content, completion.tool_calls) == ("All good.", ())
    assert completion.finish_reason == "length"
    assert completion.message == {"role": "assistant", "content": "All good."}
    assert (completion.input_tokens, completion.output_tokens) == (7, 3)


def test_missing_usage_counts_as_zero_tokens(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    server.faults.append(Fault(200, body=raw_response({"role": "assistant", "content": "hi"})))
    completion = client(server, clock, waits).complete(MESSAGES, [], "required")
    assert completion.content == "hi"
    assert (completion.input_tokens, completion.output_tokens) == (0, 0)


def test_a_reply_without_choices_is_a_transient_provider_error(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    server.faults.append(Fault(200, body={**raw_response(None), "choices": []}))
    with pytest.raises(ProviderError, match="the model returned no choices") as raised:
        client(server, clock, waits).complete(MESSAGES, [], "required")
    assert raised.value.transient is True


def test_an_empty_assistant_turn_is_an_answer_without_calls(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    server.faults.append(Fault(200, body=raw_response({"role": "assistant", "content": None})))
    completion = client(server, clock, waits).complete(MESSAGES, [], "required")
    assert (completion.tool_calls, completion.content) == ((), None)
    assert completion.message == {"role": "assistant"}


@pytest.mark.parametrize("shape", ["null", "absent"])
def test_a_choice_without_a_message_is_a_provider_error(
    server: FakeOpenAI, clock: ManualClock, waits: Waits, shape: str
) -> None:
    """Product bug: openai_model._completion reads `choice.message.tool_calls` on a choice the
    server sent without a message, so AttributeError escapes complete() and, since run_session
    only catches ProviderError, the whole job analysis (no session is recorded)."""
    body = raw_response(None)
    if shape == "null":
        body["choices"][0]["message"] = None
    server.faults.append(Fault(200, body=body))
    with pytest.raises(ProviderError):
        client(server, clock, waits).complete(MESSAGES, [], "required")


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(
    server: FakeOpenAI, clock: ManualClock, waits: Waits, status: int
) -> None:
    server.faults.append(Fault(status))
    completion = client(server, clock, waits).complete(MESSAGES, [], "required")
    assert completion.tool_calls[0].name == "submit_analysis"
    assert len(server.requests) == 2
    assert waits.delays == [1.0]


def test_backoff_doubles_between_attempts(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    server.faults.extend([Fault(500), Fault(502), Fault(503)])
    completion = client(server, clock, waits).complete(MESSAGES, [], "required")
    assert completion.input_tokens == 120
    assert waits.delays == [1.0, 2.0, 4.0]
    assert clock.now() == T0 + timedelta(seconds=7)


def test_retry_after_is_honoured(server: FakeOpenAI, clock: ManualClock, waits: Waits) -> None:
    server.faults.extend(
        [Fault(429, headers={"Retry-After": "7"}), Fault(503, headers={"Retry-After": "2.5"})]
    )
    client(server, clock, waits).complete(MESSAGES, [], "required")
    assert waits.delays == [7.0, 2.5]
    assert len(server.requests) == 3


def test_retry_after_zero_still_backs_off(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    """Product bug: RetryPolicy.delay returns 0 for `Retry-After: 0`, so a provider answering
    that way is retried in a hot loop for the whole budget (the SDK's own retry logic ignores
    non-positive values and backs off)."""
    server.faults.extend([Fault(429, headers={"Retry-After": "0"})] * 3)
    client(server, clock, waits).complete(MESSAGES, [], "required")
    assert len(waits.delays) == 3
    assert all(delay >= 1.0 for delay in waits.delays), waits.delays


def test_retries_stop_when_the_budget_is_spent(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    server.faults.extend([Fault(500)] * 10)
    with pytest.raises(ProviderError) as raised:
        client(server, clock, waits, budget_s=10).complete(MESSAGES, [], "required")
    error = raised.value
    assert (error.transient, error.attempts) == (True, 4)
    assert str(error).startswith("gave up after 4 attempts: InternalServerError (500): ")
    assert "injected 500" in str(error)
    assert waits.delays == [1.0, 2.0, 4.0]  # the next wait (8 s) would pass 10 s
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (422, "UnprocessableEntityError"),
    ],
)
def test_refusals_are_not_retried(
    server: FakeOpenAI, clock: ManualClock, waits: Waits, status: int, name: str
) -> None:
    server.faults.append(Fault(status))
    with pytest.raises(ProviderError) as raised:
        client(server, clock, waits).complete(MESSAGES, [], "required")
    assert (raised.value.transient, raised.value.attempts) == (False, 1)
    assert str(raised.value).startswith(f"{name} ({status}): ")
    assert len(server.requests) == 1 and waits.delays == []


def test_an_exhausted_quota_is_not_retried(
    server: FakeOpenAI, clock: ManualClock, waits: Waits
) -> None:
    """Product bug: OpenAI answers an account out of credit with 429 `insufficient_quota`;
    _transient() retries every 429, so each session burns the whole retry budget (120 s by
    default) before failing. The planner spec classifies quota errors as fatal."""
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing "
            "details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    server.faults.extend([Fault(429, body=quota)] * 5)
    with pytest.raises(ProviderError) as raised:
        client(server, clock, waits).complete(MESSAGES, [], "required")
    assert (raised.value.transient, raised.value.attempts) == (False, 1)
    assert waits.delays == []


def test_a_stalled_provider_times_out_as_a_transient_error(
    clock: ManualClock, waits: Waits
) -> None:
    # A server of its own: the stalled handlers finish after the client gave up, and must not
    # answer from another test's brain.
    with serve(Brain()) as server:
        server.faults.extend([Fault(delay_s=0.5), Fault(delay_s=0.5)])
        model = client(server, clock, waits, budget_s=1.5, ai_request_timeout_s=0.2)
        with pytest.raises(ProviderError) as raised:
            model.complete(MESSAGES, [], "required")
    assert (raised.value.transient, raised.value.attempts) == (True, 2)
    assert "APITimeoutError" in str(raised.value)
    assert waits.delays == [1.0]  # retried once; the second wait (2 s) would pass 1.5 s
    assert len(server.requests) == 2


# --- the analyzer with the provider down ---------------------------------------------------


def _mark_due(deps: Deps, endpoint_id: str) -> None:
    """What a run that changed the endpoint's state leaves behind (domain/analysis.py)."""
    now = deps.clock.now()
    deps.scheduling.change(
        "acme",
        endpoint_id,
        lambda ep, _: (
            replace(ep, last_run_at=now, state_changed_at=now, analysis_due_at=now),
            Keep(),
        ),
    )


@pytest.mark.parametrize(
    ("fault", "attempts", "transient", "prefix"),
    [
        (Fault(503), 3, True, "gave up after 3 attempts: InternalServerError (503): "),
        (Fault(401), 1, False, "AuthenticationError (401): "),
    ],
    ids=["provider-down", "provider-refuses"],
)
def test_the_analyzer_records_a_failed_session_and_looks_again_in_5_minutes(
    deps: Deps,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    server: FakeOpenAI,
    brain: Brain,
    waits: Waits,
    fault: Fault,
    attempts: int,
    transient: bool,
    prefix: str,
) -> None:
    _mark_due(deps, endpoint["id"])
    before = deps.endpoints.get("acme", endpoint["id"])
    assert before is not None

    def first_step_then_down() -> Completion:
        server.faults.extend([fault] * 10)  # the provider goes down after the first step
        return tool_reply("get_latest_response", "{}")

    brain.replies.append(first_step_then_down)
    model = OpenAIChatModel(
        settings_for(server), deps.clock, RetryPolicy(budget=timedelta(seconds=5), sleep=waits)
    )
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))

    (session,) = report.sessions
    done = T0 + timedelta(seconds=sum(waits.delays))
    assert session.status == "failed"
    assert session.error_message is not None and session.error_message.startswith(prefix)
    assert session.reasoning == f"Analysis failed: {session.error_message}"
    assert session.warnings == (
        SessionWarning(
            "provider_error",
            f"The model provider failed: {session.error_message}",
            {"transient": transient, "attempts": attempts, "step": 2},
        ),
    )
    no_runs = {"found": False, "message": "No executions found for this endpoint"}
    no_siblings = {"count": 0, "message": "No sibling endpoints in this job", "siblings": []}
    assert session.tool_calls == (
        # The context read before the first model call, then the model's own call.
        ToolCall("get_latest_response", {}, no_runs),
        ToolCall("get_sibling_latest_responses", {"includeResponses": True}, no_siblings),
        ToolCall("get_latest_response", {}, no_runs),
    )
    assert (session.input_tokens, session.output_tokens, session.token_usage) == (120, 12, 132)
    assert session.analyzed_at == done
    assert session.next_analysis_at == done + timedelta(minutes=5)
    assert deps.sessions.latest("acme", endpoint["id"], done) == session
    after = deps.endpoints.get("acme", endpoint["id"])
    assert after is not None
    assert after.analysis_due_at == done + timedelta(minutes=5)
    assert after.next_run_at == before.next_run_at  # scheduling is unaffected
    assert len(server.requests) == 1 + attempts
