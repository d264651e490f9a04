"""The planner's pure text: body truncation for tool results and the session prompt."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.entities import AnalysisSession, Endpoint, Job, Run, RunStatus, ToolCall
from chalicelib.planner import prompt, text
from chalicelib.planner.text import MARK

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

# --- truncate / was_truncated / preview ----------------------------------------------------


def test_strings_up_to_the_limit_are_kept_and_longer_ones_cut_with_the_mark() -> None:
    assert text.truncate("a" * 500, 500) == "a" * 500
    assert text.truncate("a" * 501, 500) == "a" * 500 + MARK
    assert text.truncate("", 500) == ""
    assert MARK == "...[truncated]"


def test_json_values_are_kept_as_values_while_short_and_cut_as_compact_text_when_long() -> None:
    short = {"status": "ok", "items": [1, 2]}
    assert text.truncate(short, 500) is short  # still an object, not its text
    long = {"rows": list(range(300))}
    cut = text.truncate(long, 100)
    assert cut == '{"rows":[' + ",".join(str(i) for i in range(300))[:91] + MARK
    assert len(cut) == 100 + len(MARK)
    assert text.truncate([1, 2, 3], 7) == [1, 2, 3]  # "[1,2,3]" is exactly 7 chars
    assert text.truncate([1, 2, 3], 6) == "[1,2,3" + MARK


@pytest.mark.parametrize("value", [None, 0, 12345678901234567890, 3.25, True, False])
def test_scalars_are_never_truncated(value: Any) -> None:
    assert text.truncate(value, 2) is value
    assert text.was_truncated(value, 2) is False


@pytest.mark.parametrize(
    "value",
    ["x" * 10, "x" * 11, "é" * 11, {"k": "v" * 3}, {"k": "v" * 20}, ["ü"] * 2, [], {}],
)
def test_was_truncated_says_exactly_when_truncate_cut(value: Any) -> None:
    cut = text.truncate(value, 10)
    assert text.was_truncated(value, 10) == (cut != value)
    if text.was_truncated(value, 10):
        assert isinstance(cut, str) and cut.endswith(MARK) and len(cut) == 10 + len(MARK)


def test_non_ascii_counts_as_one_character_each() -> None:
    assert text.truncate({"k": "é" * 4}, 12) == {"k": "é" * 4}  # {"k":"éééé"} is 12 chars
    assert text.was_truncated({"k": "é" * 5}, 12)


def test_previews_are_one_line_of_at_most_200_chars() -> None:
    assert text.preview(None) is None
    assert text.preview("short") == "short"
    assert text.preview("p" * 200) == "p" * 200
    assert text.preview("p" * 201) == "p" * 200 + MARK
    assert text.preview({"a": 1, "b": [True, None]}) == '{"a":1,"b":[true,null]}'
    assert text.preview(list(range(100))) == ("[" + ",".join(map(str, range(100))))[:200] + MARK
    assert text.preview(42) == "42"
    assert text.preview(False) == "false"


def test_compact_is_json_without_spaces_and_falls_back_to_str() -> None:
    assert text.compact({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert text.compact(T0) == '"2025-01-01 12:00:00+00:00"'


# --- prompt.build ------------------------------------------------------------------------


def endpoint(**fields: Any) -> Endpoint:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "id": "ep_1",
        "job_id": "job_1",
        "name": "Queue Depth",
        "url": "https://api.example.com/queue",
        "next_run_at": T0 + timedelta(minutes=1),
        "created_at": T0 - timedelta(days=1),
        "updated_at": T0 - timedelta(days=1),
        "baseline_interval_ms": 60_000,
        **fields,
    }
    return Endpoint(**values)


JOB = Job("acme", "job_1", "Pipeline", "active", T0, T0, description="Nightly ETL")


def run(minutes_ago: float, status: RunStatus = "success", duration_ms: int | None = 100) -> Run:
    started = T0 - timedelta(minutes=minutes_ago)
    return Run(
        "ep_1", f"run_{minutes_ago}", "acme", "job_1", status, started, duration_ms=duration_ms
    )


def session(minutes_ago: float, reasoning: str, *tools: str) -> AnalysisSession:
    return AnalysisSession(
        endpoint_id="ep_1",
        id="session_1",
        tenant_id="acme",
        job_id="job_1",
        analyzed_at=T0 - timedelta(minutes=minutes_ago),
        reasoning=reasoning,
        tool_calls=tuple(ToolCall(t, {}, "ok") for t in tools),
    )


def build(
    ep: Endpoint | None = None,
    siblings: tuple[Endpoint, ...] = (),
    runs: tuple[Run, ...] = (),
    last: AnalysisSession | None = None,
    job: Job = JOB,
) -> str:
    return prompt.build(ep or endpoint(), job, siblings, runs, last, T0)


def line(document: str, prefix: str) -> str:
    """The one line starting with `prefix`."""
    found = [ln for ln in document.splitlines() if ln.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def test_the_prompt_has_every_section_in_order_and_ends_with_the_time() -> None:
    document = build()
    headings = re.findall(r"^# (.+)$", document, re.MULTILINE)
    assert headings == [
        "Role",
        "Rules",
        "Workflow",
        "Reading response bodies",
        "Jobs",
        "This endpoint",
        "Health",
        "What your actions do",
        "Reflexes",
        "When to look again (submit_analysis next_analysis_in_ms)",
    ]
    assert document.rstrip().endswith(
        "Current time: 2025-01-01T12:00:00.000Z. Analyse the endpoint now."
    )
    for tool in ("get_latest_response", "get_response_history", "get_sibling_latest_responses"):
        assert tool in document
    for tool in (
        "propose_interval",
        "propose_next_time",
        "pause_until",
        "clear_hints",
        "manage_reflexes",
    ):
        assert f"- {tool}(" in document
    assert "submit_analysis" in document and "15 steps" in document


def test_the_endpoint_section_for_a_standalone_interval_endpoint() -> None:
    document = build(endpoint(description="Poll faster when depth > 100", min_interval_ms=10_000))
    assert line(document, "- Name:") == "- Name: Queue Depth"
    assert line(document, "- Rules") == "- Rules (description): Poll faster when depth > 100"
    assert line(document, "- Job:") == "- Job: Pipeline: Standalone (no siblings)"
    assert line(document, "- Job description:") == "- Job description: Nightly ETL"
    assert line(document, "- Baseline:") == "- Baseline: interval 60000ms"
    assert line(document, "- Last run:") == "- Last run: Never"
    assert line(document, "- Next run:") == "- Next run: 2025-01-01T12:01:00.000Z"
    assert line(document, "- Status:") == "- Status: Active"
    assert line(document, "- Failure count:") == "- Failure count: 0"
    assert line(document, "- Limits:") == "- Limits: min 10000ms, max none"
    assert "- Active hints" not in document
    assert line(document, "- Last analysis:") == "- Last analysis: none (first analysis)"


def test_the_job_line_names_the_endpoint_first_then_its_siblings() -> None:
    siblings = (endpoint(id="ep_2", name="Loader"), endpoint(id="ep_3", name="Reporter"))
    document = build(siblings=siblings, job=replace(JOB, description=None))
    assert line(document, "- Job:") == (
        "- Job: Pipeline: 3 endpoints [Queue Depth, Loader, Reporter]"
    )
    assert line(document, "- Job description:") == "- Job description: none"
    assert line(document, "- Rules") == "- Rules (description): none given"


def test_a_cron_endpoint_with_failures_shows_its_cron_and_capped_backoff() -> None:
    ep = endpoint(
        baseline_cron="*/5 * * * *",
        baseline_interval_ms=None,
        timezone="Europe/Paris",
        failure_count=7,
        last_run_at=T0 - timedelta(minutes=5),
        max_interval_ms=3_600_000,
    )
    document = build(ep)
    assert line(document, "- Baseline:") == "- Baseline: cron `*/5 * * * *` (Europe/Paris)"
    assert line(document, "- Last run:") == "- Last run: 2025-01-01T11:55:00.000Z"
    assert line(document, "- Failure count:") == "- Failure count: 7 (32x backoff)"
    assert line(document, "- Limits:") == "- Limits: min none, max 3600000ms"


@pytest.mark.parametrize(("failures", "factor"), [(1, 2), (3, 8), (5, 32)])
def test_the_backoff_note_doubles_per_failure(failures: int, factor: int) -> None:
    document = build(endpoint(failure_count=failures))
    assert line(document, "- Failure count:") == f"- Failure count: {failures} ({factor}x backoff)"


def test_status_says_paused_only_while_the_pause_lasts() -> None:
    paused = build(endpoint(paused_until=T0 + timedelta(hours=2)))
    assert line(paused, "- Status:") == "- Status: Paused until 2025-01-01T14:00:00.000Z"
    ended = build(endpoint(paused_until=T0 - timedelta(seconds=1)))
    assert line(ended, "- Status:") == "- Status: Active"


def test_active_hints_are_listed_only_while_fresh() -> None:
    hinted = endpoint(
        ai_hint_interval_ms=30_000,
        ai_hint_next_run_at=T0 + timedelta(minutes=10),
        ai_hint_expires_at=T0 + timedelta(minutes=45),
        ai_hint_reason="queue is growing",
    )
    assert line(build(hinted), "- Active hints:") == (
        "- Active hints: interval 30000ms, one-shot at 2025-01-01T12:10:00.000Z, "
        "expires 2025-01-01T12:45:00.000Z, reason: queue is growing"
    )
    interval_only = replace(hinted, ai_hint_next_run_at=None, ai_hint_reason=None)
    assert line(build(interval_only), "- Active hints:") == (
        "- Active hints: interval 30000ms, expires 2025-01-01T12:45:00.000Z"
    )
    expired = replace(hinted, ai_hint_expires_at=T0)  # expiry is exclusive
    assert "Active hints" not in build(expired)


def test_the_last_session_line_quotes_cut_reasoning_and_names_only_actions() -> None:
    reasoning = "r" * 150 + "TAIL"
    last = session(
        30,
        reasoning,
        "get_latest_response",
        "propose_interval",
        "get_response_history",
        "clear_hints",
        "submit_analysis",
    )
    assert line(build(last=last), "- Last analysis:") == (
        f'- Last analysis: 30 min ago: "{"r" * 150}…" (actions: propose_interval, clear_hints)'
    )


def test_the_last_session_line_without_actions_or_reasoning_and_in_hours() -> None:
    quiet = session(90, "", "get_latest_response", "submit_analysis")
    assert line(build(last=quiet), "- Last analysis:") == (
        '- Last analysis: 1.5h ago: "No reasoning recorded" (actions: no action)'
    )
    exact = session(59, "x" * 150)  # exactly 150 chars: not cut
    assert line(build(last=exact), "- Last analysis:") == (
        f'- Last analysis: 59 min ago: "{"x" * 150}" (actions: no action)'
    )


def test_the_health_table_counts_finished_runs_per_window() -> None:
    runs = (
        run(1, "running", None),  # in flight: not counted, not a duration
        run(5, "failed", 300),
        run(20, "failed", 100),
        run(50, "success", 200),
        run(120, "success", 400),
        run(600, "failed", None),
        run(60 * 25, "success", 1000),  # older than 24 h: outside every window
    )
    document = build(runs=runs)
    assert "| 1h | 33% | 3 |" in document
    assert "| 4h | 50% | 4 |" in document
    assert "| 24h | 40% | 5 |" in document
    assert line(document, "- Current failure streak:") == "- Current failure streak: 0"
    # Durations of every run passed in (the caller passes the last 24 h).
    assert line(document, "- Average duration:") == "- Average duration: 400ms"
    assert "No runs in the last 24 hours" not in document


def test_a_failure_streak_counts_from_the_newest_run() -> None:
    runs = (run(1, "failed"), run(2, "failed"), run(3, "failed"), run(4, "success"))
    document = build(runs=runs)
    assert line(document, "- Current failure streak:") == "- Current failure streak: 3"
    assert "| 1h | 25% | 4 |" in document


def test_a_quiet_day_gets_the_conservative_note_and_empty_windows() -> None:
    document = build(runs=())
    assert "| 1h | n/a | 0 |" in document and "| 24h | n/a | 0 |" in document
    assert line(document, "- Average duration:") == "- Average duration: N/A"
    assert (
        "No runs in the last 24 hours: be conservative and schedule an early re-check." in document
    )
    only_running = build(runs=(run(1, "running", None),))
    assert "No runs in the last 24 hours" in only_running


def test_windows_include_their_lower_bound() -> None:
    runs = [run(60, "success"), run(240, "failed"), run(24 * 60, "success")]
    found = {w.label: (w.runs, w.success_pct) for w in prompt.windows(runs, T0)}
    assert found == {"1h": (1, 100.0), "4h": (2, 50.0), "24h": (3, pytest.approx(200 / 3))}
