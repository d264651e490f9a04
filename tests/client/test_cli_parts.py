"""The CLI's pure parts: durations, default verbs, tables, the run follower (no stack)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cronpilot_client.cli.main import build_parser, with_default_verb
from cronpilot_client.follow import FollowLimits, RunFollower
from cronpilot_client.render import (
    RUN_COLUMNS,
    SESSION_COLUMNS,
    action,
    cause,
    cause_detail,
    condition,
    short_id,
    table,
)
from cronpilot_client.units import format_ms, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("250ms", 250), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000),
     ("1.5s", 1_500), (" 1H ", 3_600_000)],
)  # fmt: skip
def test_durations_parse(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "60", "5 minutes", "m5", "1h-5m", "0.5ms", "1w"])
def test_durations_need_a_unit(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|milliseconds"):
        parse_duration_ms(text)


def test_durations_format() -> None:
    assert [format_ms(v) for v in (None, 500, 1_000, 90_000, 3_600_000, 86_401_000)] == [
        "", "500ms", "1s", "1m30s", "1h", "1d1s",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["jobs"], ["jobs", "list"]),
        (["jobs", "--json"], ["jobs", "list", "--json"]),
        (["--api-url", "http://h", "jobs"], ["--api-url", "http://h", "jobs", "list"]),
        (["runs", "ep_1", "--follow"], ["runs", "list", "ep_1", "--follow"]),
        (["runs", "get", "run_1"], ["runs", "get", "run_1"]),
        (["runs", "--help"], ["runs", "--help"]),
        (["signing-key"], ["signing-key", "show"]),
        (["reflexes", "ep_1", "--json"], ["reflexes", "list", "ep_1", "--json"]),
        (["reflexes", "rm", "ep_1", "rfx_1"], ["reflexes", "rm", "ep_1", "rfx_1"]),
        (["pause", "ep_1"], ["pause", "ep_1"]),
        ([], []),
    ],
)
def test_default_verbs(argv: list[str], expected: list[str]) -> None:
    assert with_default_verb(argv) == expected


@pytest.mark.parametrize("endpoint_id", ["-x3Rk9aQ0vLmN2bYcT7wE", "--3Rk9aQ0vLmN2bYcT7wE"])
def test_endpoint_ids_may_start_with_a_dash(endpoint_id: str) -> None:
    parser = build_parser()
    hinted = parser.parse_args(["hints", "interval", endpoint_id, "--every", "15s"])
    assert (hinted.endpoint_id, hinted.every) == (endpoint_id, 15_000)
    shown = parser.parse_args(["endpoints", "get", "job_1", endpoint_id, "--json"])
    assert (shown.job_id, shown.endpoint_id, shown.json) == ("job_1", endpoint_id, True)
    followed = parser.parse_args(with_default_verb(["runs", endpoint_id, "--follow"]))
    assert (followed.verb, followed.endpoint_id, followed.follow) == ("list", endpoint_id, True)


def test_table_aligns_and_cuts_cells() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "run_1", "status": "success", "source": "test", "errorMessage": None},
        {"id": "run_2", "status": "failed", "errorMessage": "boom " * 30, "durationMs": 1500},
    ]
    lines = table(rows, RUN_COLUMNS).splitlines()
    assert lines[0].split() == [
        "ID", "STATUS", "SOURCE", "CAUSE", "STARTED", "DURATION", "HTTP", "ERROR",
    ]  # fmt: skip
    assert lines[1].index("success") == lines[2].index("failed") == lines[0].index("STATUS")
    assert "1s500ms" in lines[2] and lines[2].endswith("…")
    assert table([], RUN_COLUMNS) == "(none)"


class Pages:
    """Successive answers of the runs route, newest first, and a fake clock."""

    def __init__(self, pages: Sequence[list[dict[str, Any]]]) -> None:
        self.pages = list(pages)
        self.now = 0.0

    def fetch(self) -> list[dict[str, Any]]:
        return self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(run_id: str, status: str = "success") -> dict[str, Any]:
    return {"id": run_id, "status": status}


def test_follower_reports_new_runs_and_status_changes_oldest_first() -> None:
    pages = Pages([
        [run("r2"), run("r1")],
        [run("r4", "running"), run("r3"), run("r2"), run("r1")],
        [run("r4", "failed"), run("r3"), run("r2"), run("r1")],
    ])  # fmt: skip
    events: list[tuple[str, str]] = []
    follower = RunFollower(
        pages.fetch, lambda r: events.append((r["id"], r["status"])), pages.sleep, lambda: pages.now
    )
    assert [r["id"] for r in follower.snapshot()] == ["r1", "r2"]
    assert follower.follow(FollowLimits(interval_s=1, max_events=3)) == 3
    assert events == [("r3", "success"), ("r4", "running"), ("r4", "failed")]


def test_follower_stops_at_its_deadline_without_events() -> None:
    pages = Pages([[run("r1")]])
    events: list[Any] = []
    follower = RunFollower(pages.fetch, events.append, pages.sleep, lambda: pages.now)
    follower.snapshot()
    assert follower.follow(FollowLimits(interval_s=2, timeout_s=5)) == 0
    assert events == [] and pages.now == 5


def test_reflex_rules_read_compactly() -> None:
    sibling = "x3Rk9aQ0vLmN2bYcT7wE_"
    when = {
        "all": [
            {"endpoint": sibling, "path": "body.ready", "op": "==", "value": True},
            {"any": [
                {"endpoint": "self", "path": "body.batch_id", "op": "changed"},
                {"endpoint": "self", "path": "statusCode", "op": "in", "value": [500, 503]},
            ]},
            {"endpoint": "self", "path": "body.lock", "op": "exists", "value": False},
        ]
    }  # fmt: skip
    assert condition(when) == (
        "x3Rk9a…:body.ready == true and (body.batch_id changed or statusCode in [500,503]) "
        "and body.lock missing"
    )
    assert condition({"endpoint": "self", "path": "status", "op": "==", "value": "failed"}) == (
        'status == "failed"'
    )
    assert [action(do) for do in (
        {"action": "run_now"},
        {"action": "set_interval", "intervalMs": 10_000, "forMinutes": 30},
        {"action": "pause", "forMinutes": 15},
        {"action": "pause", "until": "2030-01-01T00:00:00.000Z"},
        {"action": "resume"},
        {"action": "clear_hints"},
    )] == [
        "run now", "every 10s for 30 min", "pause 15 min", "pause until 2030-01-01T00:00:00.000Z",
        "resume", "clear hints",
    ]  # fmt: skip


def test_causes_name_the_rule_and_its_author() -> None:
    by_reflex = {"kind": "reflex", "source": "ai-oneshot", "reason": "recover",
                 "by": {"type": "reflex", "id": "rfx_ab12cd34ef56gh78"}}  # fmt: skip
    by_session = {"kind": "oneshot-hint", "source": "ai-oneshot",
                  "by": {"type": "session", "id": "session_1735689600000_wx3cq0a9zz"}}  # fmt: skip
    assert cause(by_reflex) == "reflex rfx_ab12…"
    assert cause(by_session) == "oneshot-hint session_wx3c…"
    assert cause({"kind": "clamp", "source": "clamped-min", "reason": "at least"}) == "clamp"
    assert cause(None) == "" and short_id("rfx_ab12") == "rfx_ab12"
    assert cause_detail(by_reflex) == (
        "reflex (source ai-oneshot): recover; set by reflex rfx_ab12cd34ef56gh78"
    )
    baseline = {"kind": "baseline", "source": "baseline-interval"}
    rows = [{"id": "run_1", "status": "success", "cause": by_reflex},
            {"id": "run_2", "status": "success", "cause": baseline}]  # fmt: skip
    lines = table(rows, RUN_COLUMNS).splitlines()
    at = lines[0].index("CAUSE")
    assert lines[1][at:].startswith("reflex rfx_ab12…") and lines[2][at:].startswith("baseline")
    session_columns = [c.header for c in SESSION_COLUMNS]
    assert session_columns[:3] == ["ID", "STATUS", "TRIGGER"]
