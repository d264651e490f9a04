"""The session loop with small fake models: every model mistake becomes a tool error or a
recorded failed session, never a crash and never a half-applied action.

The toolbox is real (moto, manual clock), so actions that succeed really move the endpoint.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.analysis import next_analysis_at, verdict
from chalicelib.domain.entities import AnalysisSession, Endpoint, SessionWarning, ToolCall
from chalicelib.domain.timing import Keep
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.model import Completion, ProviderError, ToolCallRequest, ToolChoice
from chalicelib.planner.queue import JobRef
from chalicelib.planner.session import (
    CONTEXT_READS,
    FORCE_SUBMIT,
    MAX_STEPS,
    NUDGE,
    Outcome,
    run_session,
)
from chalicelib.planner.tools import JobView, Toolbox, tool_definitions
from tests.conftest import T0, Api, snapshot

PROMPT = "Analyse the endpoint now."
SUBMIT_OK = {"reasoning": "Stable; nothing to do.", "confidence": "medium"}
NO_RUNS = {"found": False, "message": "No executions found for this endpoint"}
_ids = itertools.count(1)


def step(*calls: tuple[str, Any], finish: str = "tool_calls", tokens: int = 100) -> Completion:
    """One assistant message calling `calls` (dict args are JSON-encoded; str args sent raw)."""
    requests = tuple(
        ToolCallRequest(f"call_{next(_ids)}", name, a if isinstance(a, str) else json.dumps(a))
        for name, a in calls
    )
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}}
            for r in requests
        ],
    }
    return Completion(message, requests, finish, input_tokens=tokens, output_tokens=tokens // 10)


def say(content: str) -> Completion:
    """A plain-text reply without tool calls."""
    return Completion({"role": "assistant", "content": content}, (), "stop", 50, 5, content)


Reply = Completion | ProviderError | Callable[[ToolChoice], Completion]


@dataclass
class Seen:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: ToolChoice


@dataclass
class FakeModel:
    """Plays `replies` in order, then `then` forever; remembers what it was sent."""

    replies: list[Reply]
    then: Reply | None = None
    seen: list[Seen] = field(default_factory=list)

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        self.seen.append(Seen(copy.deepcopy(messages), tools, tool_choice))
        reply = self.replies.pop(0) if self.replies else self.then
        assert reply is not None, "the session asked for more steps than scripted"
        if isinstance(reply, ProviderError):
            raise reply
        return reply if isinstance(reply, Completion) else reply(tool_choice)


@pytest.fixture
def toolbox(deps: Deps, job: dict[str, Any], endpoint: dict[str, Any]) -> Toolbox:
    tenant = deps.tenants.get("acme")
    found_job = deps.jobs.get("acme", job["id"])
    assert tenant is not None and found_job is not None
    endpoints = {e.id: e for e in deps.endpoints.list_by_job("acme", job["id"])}
    return Toolbox(deps, JobView(tenant, found_job, endpoints, {}), endpoint["id"])


def current(deps: Deps, endpoint_id: str) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def tool_messages(seen: Seen) -> list[dict[str, Any]]:
    return [m for m in seen.messages if m["role"] == "tool"]


def assert_success(outcome: Outcome) -> None:
    assert (outcome.status, outcome.error, outcome.warnings) == ("success", None, [])


# --- the happy path and the conversation ----------------------------------------------------


def test_a_session_reads_then_submits_and_sums_tokens(toolbox: Toolbox) -> None:
    submit = {**SUBMIT_OK, "next_analysis_in_ms": 3_600_000}
    model = FakeModel(
        [
            step(("get_latest_response", {}), tokens=100),
            step(("submit_analysis", submit), tokens=200),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)

    assert_success(outcome)
    assert outcome.steps == 2
    assert (outcome.input_tokens, outcome.output_tokens, outcome.tokens) == (300, 30, 330)
    expected = {
        "status": "analysis_complete",
        "reasoning": "Stable; nothing to do.",
        "actions_taken": [],
        "confidence": "medium",
        "next_analysis_in_ms": 3_600_000,
    }
    assert outcome.submitted == expected
    assert outcome.reasoning == "Stable; nothing to do."
    assert outcome.tool_calls == [
        ToolCall("get_latest_response", {}, NO_RUNS),
        ToolCall("submit_analysis", submit, expected),
    ]
    assert [s.tool_choice for s in model.seen] == ["required", "required"]
    assert model.seen[0].tools == tool_definitions()
    assert model.seen[0].messages == [{"role": "user", "content": PROMPT}]
    first_call = model.seen[1].messages[1]["tool_calls"][0]
    assert model.seen[1].messages[2] == {
        "role": "tool",
        "tool_call_id": first_call["id"],
        "content": json.dumps(NO_RUNS, separators=(",", ":")),  # compact, as sent
    }


def test_several_calls_of_one_step_run_in_order_and_text_results_go_back_as_text(
    deps: Deps, toolbox: Toolbox, endpoint: dict[str, Any]
) -> None:
    model = FakeModel(
        [
            step(("propose_interval", {"intervalMs": 30_000}), ("get_latest_response", {})),
            step(("submit_analysis", SUBMIT_OK)),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert [c.tool for c in outcome.tool_calls] == [
        "propose_interval",
        "get_latest_response",
        "submit_analysis",
    ]
    sent = tool_messages(model.seen[1])
    assert sent[0]["content"] == (
        "Adjusted interval to 30000ms (expires in 60 minutes). Next run at 2025-01-01T00:00:30.000Z"
    )
    assert json.loads(sent[1]["content"]) == NO_RUNS
    assert current(deps, endpoint["id"]).ai_hint_interval_ms == 30_000


def test_the_session_stops_at_the_first_submit(toolbox: Toolbox) -> None:
    model = FakeModel(
        [
            step(
                ("submit_analysis", {"reasoning": "first"}), ("submit_analysis", {"reasoning": "2"})
            ),
            step(("get_latest_response", {})),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert len(model.seen) == 1 and outcome.steps == 1
    assert outcome.submitted is not None and outcome.submitted["reasoning"] == "first"
    assert len(outcome.tool_calls) == 2  # every call of the step is executed and recorded


# --- model mistakes become tool errors the model reads ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"intervalMs": 30000', "arguments are not valid JSON: Expecting ',' delimiter at"),
        ("intervalMs=30000", "arguments are not valid JSON: Expecting value at position 0"),
        ("[30000]", "arguments must be a JSON object"),
        ("null", "arguments must be a JSON object"),
        ("", "invalid arguments for propose_interval: intervalMs: Field required"),
    ],
)
def test_malformed_arguments_are_a_tool_error_and_nothing_changes(
    deps: Deps, toolbox: Toolbox, raw: str, error: str
) -> None:
    model = FakeModel([step(("propose_interval", raw)), step(("submit_analysis", SUBMIT_OK))])
    before = snapshot()
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    bad = outcome.tool_calls[0]
    assert bad.tool == "propose_interval"
    assert bad.args == ({} if raw == "" else raw)  # what the model sent, for reading back
    assert list(bad.result) == ["error"] and bad.result["error"].startswith(error)
    assert json.loads(tool_messages(model.seen[1])[0]["content"]) == bad.result
    assert snapshot() == before  # the only other call is submit, which writes nothing


def test_an_unknown_tool_is_a_tool_error_and_the_session_goes_on(toolbox: Toolbox) -> None:
    model = FakeModel(
        [step(("restart_server", {"now": True})), step(("submit_analysis", SUBMIT_OK))]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert outcome.tool_calls[0] == ToolCall(
        "restart_server",
        {"now": True},
        {
            "error": "unknown tool 'restart_server'; available: get_latest_response, "
            "get_response_history, get_sibling_latest_responses, propose_interval, "
            "propose_next_time, pause_until, clear_hints, manage_reflexes, submit_analysis"
        },
    )


def test_bad_arguments_then_corrected_apply_once(
    deps: Deps, toolbox: Toolbox, endpoint: dict[str, Any]
) -> None:
    model = FakeModel(
        [
            step(("propose_interval", {"intervalMs": -1, "ttlMinutes": 30})),
            step(("propose_interval", {"intervalMs": 20_000, "ttlMinutes": 30})),
            step(("submit_analysis", {**SUBMIT_OK, "actions_taken": ["propose_interval"]})),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    first, second, _ = outcome.tool_calls
    assert first.result == {
        "error": "invalid arguments for propose_interval: intervalMs: Input should be greater "
        "than 0"
    }
    assert isinstance(second.result, str) and second.result.startswith("Adjusted interval to 20000")
    saved = current(deps, endpoint["id"])
    assert saved.ai_hint_interval_ms == 20_000
    assert saved.ai_hint_expires_at == T0 + timedelta(minutes=30)
    assert saved.next_run_at == T0 + timedelta(seconds=20)


def test_a_submit_without_reasoning_is_an_error_the_model_can_fix(toolbox: Toolbox) -> None:
    model = FakeModel(
        [
            step(("submit_analysis", {"confidence": "low"})),
            step(("submit_analysis", {"reasoning": "Fixed.", "confidence": "low"})),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)  # no missing_reasoning warning: it cannot happen
    assert outcome.tool_calls[0].result == {
        "error": "invalid arguments for submit_analysis: reasoning: Field required"
    }
    assert outcome.submitted is not None and outcome.submitted["reasoning"] == "Fixed."
    assert outcome.steps == 2


def test_a_tool_that_breaks_is_an_error_result_and_the_session_goes_on(
    deps: Deps, toolbox: Toolbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(deps.runs, "newest_and_finished", broken)
    model = FakeModel([step(("get_latest_response", {})), step(("submit_analysis", SUBMIT_OK))])
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert outcome.tool_calls[0].result == {
        "error": "get_latest_response failed on our side; try again or submit"
    }


def test_an_endpoint_deleted_meanwhile_is_a_tool_error(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], toolbox: Toolbox
) -> None:
    def delete_then_act(choice: ToolChoice) -> Completion:
        assert api.delete(f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}").status == 204
        return step(("propose_interval", {"intervalMs": 20_000}))

    model = FakeModel([delete_then_act, step(("submit_analysis", SUBMIT_OK))])
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert outcome.tool_calls[0].result == {"error": "Endpoint not found"}


# --- the step budget -------------------------------------------------------------------------


def test_a_model_that_never_submits_fails_after_15_steps_with_the_last_forced(
    toolbox: Toolbox,
) -> None:
    model = FakeModel([], then=step(("get_latest_response", {})))
    outcome = run_session(model, PROMPT, toolbox)

    assert MAX_STEPS == 15
    assert len(model.seen) == 15 and outcome.steps == 15
    assert [s.tool_choice for s in model.seen] == ["required"] * 14 + [FORCE_SUBMIT]
    assert FORCE_SUBMIT == {"type": "function", "function": {"name": "submit_analysis"}}
    assert outcome.status == "failed" and outcome.submitted is None
    assert outcome.error == "the model did not call submit_analysis within 15 steps"
    assert (
        outcome.reasoning
        == "Analysis failed: the model did not call submit_analysis within 15 steps"
    )
    assert outcome.warnings == [
        SessionWarning(
            "missing_final_tool",
            "The AI did not call submit_analysis; no reasoning or re-analysis time recorded",
        )
    ]
    assert len(outcome.tool_calls) == 15
    assert outcome.tokens == 15 * 110


def test_a_model_that_submits_when_forced_succeeds_on_the_last_step(toolbox: Toolbox) -> None:
    def obedient(choice: ToolChoice) -> Completion:
        if choice == FORCE_SUBMIT:
            return step(("submit_analysis", SUBMIT_OK))
        return step(("get_response_history", {"limit": 1}))

    model = FakeModel([], then=obedient)
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert outcome.steps == 15 and len(outcome.tool_calls) == 15


def test_a_bad_submit_on_the_forced_step_fails_the_session(toolbox: Toolbox) -> None:
    def sloppy(choice: ToolChoice) -> Completion:
        if choice == FORCE_SUBMIT:
            return step(("submit_analysis", {"reasoning": ""}))
        return step(("get_latest_response", {}))

    outcome = run_session(FakeModel([], then=sloppy), PROMPT, toolbox)
    assert outcome.status == "failed"
    assert [w.code for w in outcome.warnings] == ["missing_final_tool"]
    assert "error" in outcome.tool_calls[-1].result


def test_plain_text_replies_are_nudged_back_to_tools(toolbox: Toolbox) -> None:
    model = FakeModel([say("Looks fine to me."), step(("submit_analysis", SUBMIT_OK))])
    outcome = run_session(model, PROMPT, toolbox)
    assert_success(outcome)
    assert model.seen[1].messages[-2:] == [
        {"role": "assistant", "content": "Looks fine to me."},
        {"role": "user", "content": NUDGE},
    ]
    assert [c.tool for c in outcome.tool_calls] == ["submit_analysis"]
    assert outcome.steps == 2 and outcome.tokens == 55 + 110


def test_a_model_that_only_talks_fails_with_no_calls_recorded(toolbox: Toolbox) -> None:
    model = FakeModel([], then=say("I would rather not."))
    outcome = run_session(model, PROMPT, toolbox)
    assert outcome.status == "failed" and outcome.tool_calls == []
    assert outcome.steps == 15
    assert [w.code for w in outcome.warnings] == ["missing_final_tool"]


def test_output_truncation_is_a_warning_naming_the_steps(
    deps: Deps, toolbox: Toolbox, endpoint: dict[str, Any]
) -> None:
    model = FakeModel(
        [
            step(("get_latest_response", {})),
            step(("propose_interval", '{"intervalMs": 300'), finish="length"),
            step(("submit_analysis", SUBMIT_OK)),
        ]
    )
    before = current(deps, endpoint["id"])
    outcome = run_session(model, PROMPT, toolbox, max_output_tokens=8192)
    assert outcome.status == "success"
    assert outcome.warnings == [
        SessionWarning(
            "output_truncated",
            "Output token limit hit on 1 step(s) — model response was truncated",
            {"truncatedSteps": [{"step": 2, "finishReason": "length"}], "maxOutputTokens": 8192},
        )
    ]
    assert "error" in outcome.tool_calls[1].result
    assert current(deps, endpoint["id"]) == before


# --- provider failures ---------------------------------------------------------------------


def test_a_provider_error_mid_session_fails_it_and_keeps_what_was_done(
    deps: Deps, toolbox: Toolbox, endpoint: dict[str, Any]
) -> None:
    error = ProviderError(
        "gave up after 4 attempts: APITimeoutError: timed out", transient=True, attempts=4
    )
    model = FakeModel(
        [
            step(("get_latest_response", {}), tokens=100),
            step(("propose_interval", {"intervalMs": 15_000}), tokens=300),
            error,
            step(("submit_analysis", SUBMIT_OK)),
        ]
    )
    outcome = run_session(model, PROMPT, toolbox)
    assert outcome.status == "failed"
    assert outcome.error == "gave up after 4 attempts: APITimeoutError: timed out"
    assert outcome.warnings == [
        SessionWarning(
            "provider_error",
            "The model provider failed: gave up after 4 attempts: APITimeoutError: timed out",
            {"transient": True, "attempts": 4, "step": 3},
        )
    ]
    assert [c.tool for c in outcome.tool_calls] == ["get_latest_response", "propose_interval"]
    assert (outcome.steps, outcome.input_tokens, outcome.output_tokens) == (2, 400, 40)
    assert len(model.seen) == 3  # no step after the failure
    assert current(deps, endpoint["id"]).ai_hint_interval_ms == 15_000  # applied whole


def test_a_refusing_provider_fails_the_session_before_any_call(toolbox: Toolbox) -> None:
    error = ProviderError("AuthenticationError (401): bad key", transient=False)
    outcome = run_session(FakeModel([error]), PROMPT, toolbox)
    assert outcome.status == "failed" and outcome.tool_calls == []
    assert (outcome.steps, outcome.tokens) == (0, 0)
    assert outcome.warnings == [
        SessionWarning(
            "provider_error",
            "The model provider failed: AuthenticationError (401): bad key",
            {"transient": False, "attempts": 1, "step": 1},
        )
    ]
    assert outcome.reasoning == "Analysis failed: AuthenticationError (401): bad key"


# --- the recorded session ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "baseline", "after"),
    [
        (3_600_000, 60_000, timedelta(hours=1)),
        (300_000, None, timedelta(minutes=5)),
        (86_400_000, None, timedelta(hours=24)),
        (1_000, 3_600_000, timedelta(minutes=5)),  # clamped up, not rejected
        # "As soon as allowed" clamps like 1 000. Product bug: analysis.py treats 0 as omitted
        # (`requested_ms or baseline`), so it waits a baseline interval (here 1 h) instead.
        (0, 3_600_000, timedelta(minutes=5)),
        (10**10, None, timedelta(hours=24)),  # clamped down
        (None, 600_000, timedelta(minutes=10)),  # omitted: one baseline interval
        (None, 10**9, timedelta(hours=24)),
        (None, None, timedelta(minutes=5)),  # cron: 5 min
    ],
)
def test_next_analysis_is_clamped_to_5_minutes_24_hours(
    requested: int | None, baseline: int | None, after: timedelta
) -> None:
    assert next_analysis_at(T0, requested, baseline) == T0 + after


def _mark_due(deps: Deps, endpoint_id: str, failures: int = 0) -> None:
    """What a run that changed the endpoint's state leaves behind (domain/analysis.py)."""
    now = deps.clock.now()
    deps.scheduling.change(
        "acme",
        endpoint_id,
        lambda ep, _: (
            replace(
                ep,
                last_run_at=now,
                failure_count=failures,
                state_changed_at=now,
                analysis_due_at=now,
            ),
            Keep(),
        ),
    )


def test_context_reads_reach_the_first_call_as_results_of_calls_already_made(
    toolbox: Toolbox,
) -> None:
    model = FakeModel([step(("submit_analysis", SUBMIT_OK), tokens=100)])
    outcome = run_session(model, PROMPT, toolbox, context=CONTEXT_READS)

    assert_success(outcome)
    assert outcome.steps == 1  # decided on the first call: no round trip to read
    (first,) = model.seen
    user, made, *results = first.messages
    assert user == {"role": "user", "content": PROMPT}
    assert made["role"] == "assistant"
    names = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in made["tool_calls"]
    ]
    assert names == [
        ("context_0", "get_latest_response", {}),
        ("context_1", "get_sibling_latest_responses", {"includeResponses": True}),
    ]
    assert [(m["role"], m["tool_call_id"]) for m in results] == [
        ("tool", "context_0"),
        ("tool", "context_1"),
    ]
    assert json.loads(results[0]["content"]) == {
        "found": False,
        "message": "No executions found for this endpoint",
    }
    assert [c.tool for c in outcome.tool_calls] == [
        "get_latest_response",
        "get_sibling_latest_responses",
        "submit_analysis",
    ]


def test_a_context_read_that_fails_is_an_error_result_not_a_failed_session(
    toolbox: Toolbox,
) -> None:
    model = FakeModel([step(("submit_analysis", SUBMIT_OK))])
    outcome = run_session(
        model, PROMPT, toolbox, context=(("get_response_history", {"limit": -1}),)
    )

    assert_success(outcome)
    (read, _) = outcome.tool_calls
    assert read.tool == "get_response_history" and "error" in read.result
    assert json.loads(model.seen[0].messages[2]["content"]) == read.result


def test_a_context_read_that_breaks_on_our_side_still_reaches_the_model(
    toolbox: Toolbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = toolbox.call

    def flaky(name: str, args: Any) -> Any:
        if name == "get_latest_response":
            raise RuntimeError("store hiccup")
        return real(name, args)

    monkeypatch.setattr(toolbox, "call", flaky)
    model = FakeModel([step(("submit_analysis", SUBMIT_OK))])
    outcome = run_session(model, PROMPT, toolbox, context=CONTEXT_READS)

    assert_success(outcome)
    read, siblings, _ = outcome.tool_calls
    assert read.result == {
        "error": "get_latest_response failed on our side; call it again if you need it"
    }
    assert siblings.tool == "get_sibling_latest_responses" and "error" not in siblings.result
    assert json.loads(model.seen[0].messages[2]["content"]) == read.result


def test_the_analyzer_records_errors_and_the_requested_next_analysis(
    deps: Deps, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    _mark_due(deps, endpoint["id"], failures=5)

    def slow_submit(choice: ToolChoice) -> Completion:
        clock.advance(timedelta(seconds=4))  # the model takes time
        return step(
            ("submit_analysis", {**SUBMIT_OK, "next_analysis_in_ms": 3_600_000}), tokens=200
        )

    model = FakeModel([step(("propose_interval", "{oops"), tokens=100), slow_submit])
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))
    assert report.reasons == {endpoint["id"]: "state_change"}
    done = T0 + timedelta(seconds=4)

    saved = deps.sessions.latest("acme", endpoint["id"], done)
    assert saved is not None and saved == report.sessions[0]
    assert (saved.status, saved.error_message, saved.warnings) == ("success", None, ())
    assert saved.reasoning == "Stable; nothing to do."
    assert saved.confidence == "medium"
    # The session's context reads come first; the model's own calls follow them.
    assert [c.tool for c in saved.tool_calls[:2]] == [
        "get_latest_response",
        "get_sibling_latest_responses",
    ]
    assert saved.tool_calls[2] == ToolCall(
        "propose_interval",
        "{oops",
        {
            "error": "arguments are not valid JSON: Expecting property name enclosed in double "
            "quotes at position 1"
        },
    )
    assert saved.tool_calls[3].tool == "submit_analysis"
    assert (saved.input_tokens, saved.output_tokens, saved.token_usage) == (300, 30, 330)
    assert saved.analyzed_at == done and saved.duration_ms == 4000
    assert saved.next_analysis_at == done + timedelta(hours=1)
    assert saved.endpoint_failure_count == 5
    assert current(deps, endpoint["id"]).analysis_due_at == done + timedelta(hours=1)
    assert deps.tenants.ai_usage("acme", "2025-01")[0] == 330


def test_the_analyzer_records_a_session_that_never_submitted_as_failed(
    deps: Deps, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    _mark_due(deps, endpoint["id"])
    model = FakeModel([], then=step(("get_latest_response", {}), tokens=10))
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))
    saved = deps.sessions.latest("acme", endpoint["id"], T0)
    assert saved is not None and saved == report.sessions[0]
    assert saved.status == "failed"
    assert saved.error_message == "the model did not call submit_analysis within 15 steps"
    assert saved.reasoning == f"Analysis failed: {saved.error_message}"
    assert [w.code for w in saved.warnings] == ["missing_final_tool"]
    assert len(saved.tool_calls) == 2 + 15 and saved.confidence is None  # context reads + steps
    assert saved.next_analysis_at == T0 + timedelta(minutes=5)
    assert current(deps, endpoint["id"]).analysis_due_at == T0 + timedelta(minutes=5)


def test_over_budget_no_model_call_no_session_and_a_warning(
    deps: Deps, job: dict[str, Any], endpoint: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _mark_due(deps, endpoint["id"])
    deps.tenants.add_ai_tokens("acme", "2025-01", 2_000_000)  # the default monthly budget
    model = FakeModel([step(("submit_analysis", SUBMIT_OK))])
    with caplog.at_level("WARNING", logger="cronpilot.planner"):
        report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))
    assert report.skipped == "over_budget" and report.sessions == []
    assert model.seen == []
    assert deps.sessions.latest("acme", endpoint["id"], T0) is None
    assert any("Quota exceeded" in r.getMessage() for r in caplog.records)
    assert current(deps, endpoint["id"]).analysis_due_at == T0 + timedelta(hours=1)


def _second_endpoint(api: Api, job: dict[str, Any]) -> str:
    reply = api.post(
        f"/api/jobs/{job['id']}/endpoints",
        {"name": "Loader", "url": "https://api.example.com/load", "baselineIntervalMs": 600_000},
    )
    assert reply.status == 201, reply.body
    endpoint_id: str = reply.body["id"]
    return endpoint_id


def test_due_endpoints_of_a_job_are_analysed_one_after_another(
    deps: Deps, api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    other = _second_endpoint(api, job)
    _mark_due(deps, endpoint["id"])
    _mark_due(deps, other)
    model = FakeModel([], then=step(("submit_analysis", SUBMIT_OK)))
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))
    order = [e.id for e in deps.endpoints.list_by_job("acme", job["id"])]
    assert [s.endpoint_id for s in report.sessions] == order
    names = {endpoint["id"]: "Health Check", other: "Loader"}
    for endpoint_id, seen in zip(order, model.seen, strict=True):
        assert f"- Name: {names[endpoint_id]}\n" in str(seen.messages[0]["content"])


def test_a_session_that_throws_does_not_stop_the_next_endpoint(
    deps: Deps, api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    """Behaviour 100: the first endpoint's analysis throws, the second is still analysed.

    Product bug: Analyzer._analyse has no per-endpoint guard, so any unexpected error in one
    session (e.g. the AttributeError of a choice without a message, see
    test_planner_provider.py) aborts the job; the endpoint stays due and, retried first every
    time, starves its siblings."""
    other = _second_endpoint(api, job)
    _mark_due(deps, endpoint["id"])
    _mark_due(deps, other)
    first = deps.endpoints.list_by_job("acme", job["id"])[0].id

    def explode(choice: ToolChoice) -> Completion:
        raise RuntimeError("unexpected")

    model = FakeModel([explode], then=step(("submit_analysis", SUBMIT_OK)))
    report = Analyzer(deps, model).analyse_job(JobRef("acme", job["id"]))
    second = other if first == endpoint["id"] else endpoint["id"]
    assert [s.endpoint_id for s in report.sessions if s.status == "success"] == [second]


@pytest.mark.parametrize(
    ("session", "failures", "ran", "reason", "next_due"),
    [
        (None, 0, True, "first_analysis", None),
        ({"next_in": timedelta(minutes=-1), "failures": 0}, 0, True, "scheduled", None),
        ({"next_in": timedelta(hours=1), "failures": 2}, 3, True, "new_failures", None),
        ({"next_in": timedelta(hours=1), "failures": 3}, 3, True, None, timedelta(hours=1)),
        # Nothing ran since, but the requested time has come (a cooldown may have ended).
        ({"next_in": timedelta(minutes=-1), "failures": 0}, 0, False, "scheduled", None),
    ],
)
def test_discovery_analyses_only_what_is_due(
    session: dict[str, Any] | None,
    failures: int,
    ran: bool,
    reason: str | None,
    next_due: timedelta | None,
) -> None:
    """Behaviour 104, through verdict(): the last session was 10 min ago."""
    last = None
    if session is not None:
        last = AnalysisSession(
            endpoint_id="ep",
            id="session_1",
            tenant_id="acme",
            job_id="job",
            analyzed_at=T0 - timedelta(minutes=10),
            reasoning="r",
            next_analysis_at=T0 + session["next_in"],
            endpoint_failure_count=session["failures"],
        )
    endpoint = Endpoint(
        tenant_id="acme",
        id="ep",
        job_id="job",
        name="E",
        url="https://api.example.com/e",
        next_run_at=T0 + timedelta(minutes=1),
        created_at=T0 - timedelta(days=1),
        updated_at=T0,
        baseline_interval_ms=60_000,
        failure_count=failures,
        last_run_at=T0 - timedelta(minutes=1 if ran else 20),
    )
    found = verdict(endpoint, last, {}, T0)
    assert (found.reason, found.next_due) == (reason, None if next_due is None else T0 + next_due)
