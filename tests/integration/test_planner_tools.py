"""The planner's eight tools through `Toolbox`, on moto with a manual clock.

Query tools are checked against the exact result shapes of docs (planner spec §5.6-5.8);
action tools must write through the scheduling chokepoint, so a hint moves `nextRunAt` at
once (clamped to min/max) and a near slot is queued; a refused call changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.entities import Actor, Endpoint, Run, RunStatus
from chalicelib.domain.governor import plan_next_run
from chalicelib.domain.timeutil import iso
from chalicelib.domain.timing import Keep, Replan, Timing
from chalicelib.engine.queue import QueuedSlot
from chalicelib.engine.scheduling import Scheduling
from chalicelib.planner.text import MARK
from chalicelib.planner.tools import JobView, Toolbox, ToolError, parse_arguments, tool_definitions
from tests.conftest import T0, Api, snapshot

TOOLS = [
    "get_latest_response",
    "get_response_history",
    "get_sibling_latest_responses",
    "propose_interval",
    "propose_next_time",
    "pause_until",
    "clear_hints",
    "manage_reflexes",
    "submit_analysis",
]
HOUR_MS = 3_600_000


class SlotRecorder:
    """A SlotQueue that keeps what the chokepoint sends."""

    def __init__(self) -> None:
        self.sent: list[QueuedSlot] = []

    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None:
        self.sent.extend(slots)

    def take(self) -> list[tuple[str, datetime]]:
        """(endpoint id, slot) of each send since the last take."""
        taken, self.sent = self.sent, []
        return [(s.endpoint_id, s.at) for s in taken]


@pytest.fixture
def slots(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> SlotRecorder:
    """The chokepoint with a runs queue, as in the deployed process."""
    recorder = SlotRecorder()
    scheduling = Scheduling(
        deps.endpoints,
        deps.clock,
        deps.settings.due_shards,
        queue=recorder,
        lookahead=timedelta(seconds=deps.settings.dispatch_lookahead_s),
    )
    monkeypatch.setattr(deps, "scheduling", scheduling)
    return recorder


def add(api: Api, job: dict[str, Any], name: str = "Queue Depth", **fields: Any) -> str:
    """An endpoint created through the API (baseline 1 h unless `fields` say otherwise)."""
    body = {"name": name, "url": "https://api.example.com/x", **fields}
    if "baselineCron" not in body:
        body.setdefault("baselineIntervalMs", HOUR_MS)
    reply = api.post(f"/api/jobs/{job['id']}/endpoints", body)
    assert reply.status == 201, reply.body
    endpoint_id: str = reply.body["id"]
    return endpoint_id


def ran_now(deps: Deps, endpoint_id: str) -> None:
    """Record that the endpoint's last run started now (its schedule left as it is)."""
    deps.scheduling.change(
        "acme", endpoint_id, lambda ep, now: (replace(ep, last_run_at=now), Keep())
    )


def stored(deps: Deps, endpoint_id: str) -> Endpoint:
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def edit(deps: Deps, endpoint_id: str, timing: Timing | None = None, **fields: Any) -> Endpoint:
    """Set endpoint fields through the chokepoint (Keep unless `timing` says otherwise)."""
    return deps.scheduling.change(
        "acme", endpoint_id, lambda ep, now: (replace(ep, **fields), timing or Keep())
    )


def add_run(
    deps: Deps,
    endpoint_id: str,
    job: dict[str, Any],
    minutes_ago: float,
    body: Any = None,
    status: RunStatus = "success",
    duration_ms: int | None = 120,
) -> Run:
    started = deps.clock.now() - timedelta(minutes=minutes_ago)
    run = Run(
        endpoint_id,
        ids.run_id(started),
        "acme",
        job["id"],
        status,
        started,
        source="baseline-interval",
        finished_at=None if duration_ms is None else started + timedelta(milliseconds=duration_ms),
        duration_ms=duration_ms,
        status_code={"success": 200, "failed": 500}.get(status),
        response_body=body,
    )
    deps.runs.put(run)
    return run


def view(deps: Deps, job: dict[str, Any], min_interval_ms: int | None = None) -> JobView:
    """What the analyzer reads once per job (optionally with another tenant floor)."""
    now = deps.clock.now()
    tenant = deps.tenants.get("acme")
    found_job = deps.jobs.get("acme", job["id"])
    assert tenant is not None and found_job is not None
    if min_interval_ms is not None:
        tenant = replace(tenant, limits=replace(tenant.limits, min_interval_ms=min_interval_ms))
    endpoints = {e.id: e for e in deps.endpoints.list_by_job("acme", job["id"])}
    latest = {e: deps.runs.newest_and_finished("acme", e, now)[1] for e in endpoints}
    return JobView(tenant, found_job, endpoints, latest)


def box(deps: Deps, job: dict[str, Any], endpoint_id: str, **kw: Any) -> Toolbox:
    return Toolbox(deps, view(deps, job, **kw), endpoint_id)


def at(seconds: float = 0, minutes: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


# --- definitions ----------------------------------------------------------------------------


def test_the_definitions_are_the_nine_tools_with_wire_names_and_defaults() -> None:
    definitions = tool_definitions()
    assert [d["function"]["name"] for d in definitions] == TOOLS
    assert all(d["type"] == "function" and d["function"]["description"] for d in definitions)
    params = {d["function"]["name"]: d["function"]["parameters"] for d in definitions}
    json.dumps(definitions)  # sent as is to the provider
    for schema in params.values():
        assert schema["type"] == "object" and "title" not in schema
        assert all("title" not in prop for prop in schema["properties"].values())

    assert params["get_latest_response"]["properties"] == {}
    history = params["get_response_history"]["properties"]
    assert list(history) == ["limit", "offset", "includeBodies"]
    assert (history["limit"]["default"], history["limit"]["minimum"]) == (5, 1)
    assert history["limit"]["maximum"] == 10
    assert (history["offset"]["default"], history["offset"]["minimum"]) == (0, 0)
    assert history["includeBodies"] == {**history["includeBodies"], "type": "boolean"}
    assert history["includeBodies"]["default"] is False
    siblings = params["get_sibling_latest_responses"]["properties"]
    assert (
        list(siblings) == ["includeResponses"] and siblings["includeResponses"]["default"] is False
    )

    interval = params["propose_interval"]
    assert list(interval["properties"]) == ["intervalMs", "ttlMinutes", "reason"]
    assert interval["required"] == ["intervalMs"]
    assert interval["properties"]["intervalMs"]["type"] == "number"
    assert interval["properties"]["intervalMs"]["exclusiveMinimum"] == 0
    assert interval["properties"]["ttlMinutes"]["default"] == 60
    one_shot = params["propose_next_time"]
    assert list(one_shot["properties"]) == ["nextRunAtIso", "ttlMinutes", "reason"]
    assert one_shot["required"] == ["nextRunAtIso"]
    assert one_shot["properties"]["ttlMinutes"]["default"] == 30
    pause = params["pause_until"]
    assert pause["required"] == ["untilIso"]  # the key is required, null resumes
    assert {"type": "null"} in pause["properties"]["untilIso"]["anyOf"]
    assert params["clear_hints"]["required"] == ["reason"]
    reflexes = params["manage_reflexes"]
    assert list(reflexes["properties"]) == ["set", "remove"] and "required" not in reflexes
    upsert = reflexes["$defs"]["ReflexUpsert"]
    assert upsert["required"] == ["when", "do", "reason"]
    assert {"cooldownMs", "expiresAt", "replaceId"} <= set(upsert["properties"])
    submit = params["submit_analysis"]
    assert list(submit["properties"]) == [
        "reasoning",
        "actions_taken",
        "confidence",
        "next_analysis_in_ms",
    ]
    assert submit["required"] == ["reasoning"]
    assert {"enum": ["high", "medium", "low"], "type": "string"} in submit["properties"][
        "confidence"
    ]["anyOf"]
    for name in TOOLS[:3]:
        assert "required" not in params[name]


# --- get_latest_response -------------------------------------------------------------------


def test_latest_response_without_runs(deps: Deps, api: Api, job: dict[str, Any]) -> None:
    endpoint_id = add(api, job)
    assert box(deps, job, endpoint_id).call("get_latest_response", {}) == {
        "found": False,
        "message": "No executions found for this endpoint",
    }


def test_latest_response_is_the_newest_finished_run_and_names_one_in_flight(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 10, {"depth": 5})
    add_run(deps, endpoint_id, job, 1, None, status="running", duration_ms=None)
    result = box(deps, job, endpoint_id).call("get_latest_response", {"stray": 1})
    assert result["responseBody"] == {"depth": 5} and result["status"] != "running"
    assert result["inFlightSince"] == "2024-12-31T23:59:00.000Z"


def test_latest_response_with_only_a_run_in_flight(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 1, None, status="running", duration_ms=None)
    assert box(deps, job, endpoint_id).call("get_latest_response", {}) == {
        "found": False,
        "message": "No finished executions yet for this endpoint",
    }


def test_latest_response_keeps_short_json_and_cuts_long_bodies_at_500(
    deps: Deps, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 5, {"status": "degraded", "errors": 15}, status="failed")
    short = box(deps, job, endpoint_id).call("get_latest_response", {})
    assert short == {
        "found": True,
        "responseBody": {"status": "degraded", "errors": 15},
        "timestamp": "2024-12-31T23:55:00.000Z",
        "status": "failed",
        "statusCode": 500,
    }
    clock.advance(timedelta(minutes=1))
    add_run(deps, endpoint_id, job, 0, "x" * 1500)
    long = box(deps, job, endpoint_id).call("get_latest_response", {})
    assert long["responseBody"] == "x" * 500 + MARK
    assert long["tokenSavingNote"] == "Response body truncated at 500 chars to reduce token usage"


# --- get_response_history ------------------------------------------------------------------


def test_history_when_empty(deps: Deps, api: Api, job: dict[str, Any]) -> None:
    toolbox = box(deps, job, add(api, job))
    assert toolbox.call("get_response_history", {}) == {
        "count": 0,
        "message": "No execution history found for this endpoint",
        "hasMore": False,
        "pagination": {"offset": 0, "limit": 5},
    }
    assert toolbox.call("get_response_history", {"offset": 10, "limit": 3}) == {
        "count": 0,
        "message": "No more execution history found (offset 10)",
        "hasMore": False,
        "pagination": {"offset": 10, "limit": 3},
    }


def test_history_default_page_has_previews_of_finished_runs_only(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 30, "plain text", duration_ms=90)
    add_run(deps, endpoint_id, job, 20, None, status="failed", duration_ms=5000)
    add_run(deps, endpoint_id, job, 10, {"n": 3}, duration_ms=150)
    add_run(deps, endpoint_id, job, 1, {"n": 4}, status="running", duration_ms=None)
    assert box(deps, job, endpoint_id).call("get_response_history", {}) == {
        "count": 3,
        "pagination": {"offset": 0, "limit": 5},
        "hasMore": False,
        "responses": [
            {
                "timestamp": "2024-12-31T23:50:00.000Z",
                "status": "success",
                "durationMs": 150,
                "responsePreview": '{"n":3}',
            },
            {
                "timestamp": "2024-12-31T23:40:00.000Z",
                "status": "failed",
                "durationMs": 5000,
                "responsePreview": None,
            },
            {
                "timestamp": "2024-12-31T23:30:00.000Z",
                "status": "success",
                "durationMs": 90,
                "responsePreview": "plain text",
            },
        ],
        "tokenSavingNote": "Bodies omitted; pass includeBodies=true to read them",
    }


def test_history_pages_back_with_has_more_and_next_offset(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    runs = [add_run(deps, endpoint_id, job, m, {"m": m}) for m in (50, 40, 30, 20, 10)]
    newest_first = [iso(r.started_at) for r in reversed(runs)]
    toolbox = box(deps, job, endpoint_id)

    first = toolbox.call("get_response_history", {"limit": 2})
    assert (first["count"], first["hasMore"]) == (2, True)
    assert first["pagination"] == {"offset": 0, "limit": 2, "nextOffset": 2}
    assert first["hint"] == "More history exists; prefer batches of 5 or fewer"
    assert [r["timestamp"] for r in first["responses"]] == newest_first[:2]

    last = toolbox.call("get_response_history", {"limit": 3, "offset": 2})
    assert (last["count"], last["hasMore"]) == (3, False)
    assert last["pagination"] == {"offset": 2, "limit": 3}
    assert last["hint"] == "Reached the end of the history"
    assert [r["timestamp"] for r in last["responses"]] == newest_first[2:]

    whole = toolbox.call("get_response_history", {"limit": 5})
    assert (whole["count"], whole["hasMore"]) == (5, False)
    assert "hint" not in whole and "nextOffset" not in whole["pagination"]


def test_history_marks_a_body_equal_to_the_nearest_newer_distinct_one(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    for minutes, body in ((50, "A"), (40, "A"), (30, "B"), (20, "A"), (10, "A")):
        add_run(deps, endpoint_id, job, minutes, {"state": body})
    page = box(deps, job, endpoint_id).call("get_response_history", {})
    assert [r.get("duplicateOfNewer", False) for r in page["responses"]] == [
        False,
        True,
        False,
        False,
        True,
    ]


def test_history_with_bodies_cuts_at_500_and_says_so_only_when_it_cut(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 20, {"ok": True})
    add_run(deps, endpoint_id, job, 10, None, status="failed")
    short = box(deps, job, endpoint_id).call("get_response_history", {"includeBodies": True})
    assert [r["responseBody"] for r in short["responses"]] == [None, {"ok": True}]
    assert all("responsePreview" not in r for r in short["responses"])
    assert [r["status"] for r in short["responses"]] == ["failed", "success"]
    assert "tokenSavingNote" not in short

    add_run(deps, endpoint_id, job, 5, "y" * 1500)
    long = box(deps, job, endpoint_id).call("get_response_history", {"includeBodies": True})
    assert long["responses"][0]["responseBody"] == "y" * 500 + MARK
    assert long["tokenSavingNote"] == (
        "Response bodies truncated at 500 chars to prevent token overflow"
    )


def test_history_pages_stay_full_past_runs_without_a_duration(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    """Zombie runs (swept as failed, no duration) are not history, but must not shorten pages.

    Product bug: tools.py fetches `offset + limit + 3` rows, so four duration-less runs on top
    leave a short page with hasMore false although five more finished runs exist.
    """
    endpoint_id = add(api, job)
    for minutes in (60, 55, 50, 45, 40, 35):
        add_run(deps, endpoint_id, job, minutes, {"m": minutes})
    for minutes in (20, 15, 10, 5):
        add_run(deps, endpoint_id, job, minutes, None, status="failed", duration_ms=None)
    page = box(deps, job, endpoint_id).call("get_response_history", {})
    assert page["count"] == 5
    assert page["hasMore"] is True
    assert page["pagination"] == {"offset": 0, "limit": 5, "nextOffset": 5}


# --- get_sibling_latest_responses ----------------------------------------------------------


def test_siblings_that_never_ran_are_listed_so_a_reflex_can_name_them(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    add_run(deps, endpoint_id, job, 5, {"own": 1})
    assert box(deps, job, endpoint_id).call("get_sibling_latest_responses", {}) == {
        "count": 0,
        "message": "No sibling endpoints in this job",
        "siblings": [],
    }
    never = add(api, job, "Never Ran")
    found = box(deps, job, endpoint_id).call(
        "get_sibling_latest_responses", {"includeResponses": True}
    )
    (sibling,) = found["siblings"]
    assert (sibling["endpointId"], sibling["endpointName"]) == (never, "Never Ran")
    assert (sibling["status"], sibling["timestamp"], sibling["responsePreview"]) == (
        "no response yet",
        None,
        None,
    )
    assert "responseBody" not in sibling


def test_siblings_show_schedule_hints_and_bodies_on_request(
    deps: Deps, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    endpoint_id = add(api, job)
    loader = add(api, job, "Loader", baselineIntervalMs=300_000, description="Loads batches")
    reporter = add(api, job, "Reporter", baselineCron="0 * * * *")
    add(api, job, "Never Ran")
    add_run(deps, endpoint_id, job, 1, {"own": True})
    add_run(deps, loader, job, 4, {"ready": True})
    add_run(deps, reporter, job, 3, "r" * 1000, status="failed")
    last_run = at(minutes=-4)
    edit(
        deps,
        loader,
        Replan(),
        last_run_at=last_run,
        failure_count=2,
        paused_until=at(hours=2),
        ai_hint_interval_ms=30_000,
        ai_hint_expires_at=at(minutes=20),
        ai_hint_reason="busy",
    )
    edit(deps, reporter, ai_hint_interval_ms=10_000, ai_hint_expires_at=at(seconds=-1))
    loader_ep, reporter_ep = stored(deps, loader), stored(deps, reporter)
    toolbox = box(deps, job, endpoint_id)

    found = toolbox.call("get_sibling_latest_responses", {})
    assert found["count"] == 3
    assert found["note"] == "Bodies omitted; pass includeResponses=true to read them"
    by_name = {s["endpointName"]: s for s in found["siblings"]}
    assert by_name["Loader"] == {
        "endpointId": loader,
        "endpointName": "Loader",
        "description": "Loads batches",
        "responsePreview": '{"ready":true}',
        "timestamp": "2024-12-31T23:56:00.000Z",
        "status": "success",
        "schedule": {
            "baseline": "300000ms",
            "nextRunAt": "2025-01-01T02:00:00.000Z",
            "lastRunAt": "2024-12-31T23:56:00.000Z",
            "isPaused": True,
            "pausedUntil": "2025-01-01T02:00:00.000Z",
            "failureCount": 2,
        },
        "aiHints": {
            "intervalMs": 30_000,
            "nextRunAt": None,
            "expiresAt": "2025-01-01T00:20:00.000Z",
            "reason": "busy",
        },
    }
    assert loader_ep.next_run_at == at(hours=2)
    assert by_name["Reporter"] == {
        "endpointId": reporter,
        "endpointName": "Reporter",
        "description": None,
        "responsePreview": "r" * 200 + MARK,
        "timestamp": "2024-12-31T23:57:00.000Z",
        "status": "failed",
        "schedule": {
            "baseline": "0 * * * *",
            "nextRunAt": iso(reporter_ep.next_run_at),
            "lastRunAt": None,
            "isPaused": False,
            "pausedUntil": None,
            "failureCount": 0,
        },
        "aiHints": None,  # expired
    }

    bodies = toolbox.call("get_sibling_latest_responses", {"includeResponses": True})
    assert "note" not in bodies
    with_bodies = {s["endpointName"]: s for s in bodies["siblings"]}
    assert with_bodies["Loader"]["responseBody"] == {"ready": True}
    # With the body there, its preview would only repeat it.
    assert all("responsePreview" not in with_bodies[n] for n in ("Loader", "Reporter"))
    assert "tokenSavingNote" not in with_bodies["Loader"]
    assert with_bodies["Reporter"]["responseBody"] == "r" * 400 + MARK
    assert with_bodies["Reporter"]["tokenSavingNote"] == "Response truncated at 400 chars"

    clock.set(at(minutes=20))  # the Loader's hint expires now
    later = toolbox.call("get_sibling_latest_responses", {})
    assert {s["endpointName"]: s["aiHints"] for s in later["siblings"]} == {
        "Loader": None,
        "Reporter": None,
        "Never Ran": None,
    }


# --- propose_interval ----------------------------------------------------------------------


def test_propose_interval_moves_the_next_run_at_once_and_queues_it(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder
) -> None:
    endpoint_id = add(api, job)
    assert stored(deps, endpoint_id).next_run_at == at(hours=1)
    toolbox = box(deps, job, endpoint_id)
    slots.take()

    message = toolbox.call("propose_interval", {"intervalMs": 10_000, "reason": "queue growing"})
    assert message == (
        "Adjusted interval to 10000ms (expires in 60 minutes): queue growing. "
        "Next run at 2025-01-01T00:00:10.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert saved.ai_hint_interval_ms == 10_000
    assert saved.ai_hint_expires_at == at(minutes=60)
    assert saved.ai_hint_reason == "queue growing"
    assert saved.next_run_at == at(seconds=10)
    assert slots.take() == [(endpoint_id, at(seconds=10))]
    assert toolbox.endpoint == saved  # later tools and sessions read the new state


def test_propose_interval_counts_from_the_last_run_and_defaults_its_ttl(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder
) -> None:
    endpoint_id = add(api, job)
    edit(deps, endpoint_id, last_run_at=at(seconds=-30))
    toolbox = box(deps, job, endpoint_id)
    slots.take()

    message = toolbox.call("propose_interval", {"intervalMs": 120_000})
    assert message == (
        "Adjusted interval to 120000ms (expires in 60 minutes). "
        "Next run at 2025-01-01T00:01:30.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert (saved.ai_hint_expires_at, saved.ai_hint_reason) == (at(hours=1), None)
    assert saved.next_run_at == at(seconds=90)
    assert slots.take() == []  # beyond the dispatcher's lookahead: the dispatcher sends it


def test_propose_interval_rounds_fractions_and_ignores_unknown_keys(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    message = box(deps, job, endpoint_id).call(
        "propose_interval", {"intervalMs": 20_000.6, "ttlMinutes": 7.5, "priority": "high"}
    )
    assert message.startswith("Adjusted interval to 20001ms (expires in 7.5 minutes)")
    saved = stored(deps, endpoint_id)
    assert saved.ai_hint_interval_ms == 20_001
    assert saved.ai_hint_expires_at == at(minutes=7.5)


def test_a_relaxed_interval_never_postpones_the_planned_run(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder
) -> None:
    endpoint_id = add(api, job, baselineIntervalMs=60_000)
    box(deps, job, endpoint_id).call("propose_interval", {"intervalMs": 600_000})
    saved = stored(deps, endpoint_id)
    assert saved.ai_hint_interval_ms == 600_000
    assert saved.next_run_at == at(seconds=60)  # unchanged: a nudge only moves earlier


def test_propose_interval_below_the_endpoint_minimum_runs_at_the_minimum(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder
) -> None:
    endpoint_id = add(api, job, minIntervalMs=30_000)
    ran_now(deps, endpoint_id)  # the minimum counts from the last run
    slots.take()
    message = box(deps, job, endpoint_id).call("propose_interval", {"intervalMs": 5_000})
    assert message == (
        "Adjusted interval to 5000ms (expires in 60 minutes) (runs no faster than the "
        "endpoint's minimum of 30000ms). Next run at 2025-01-01T00:00:30.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert saved.next_run_at == at(seconds=30)
    assert plan_next_run(at(), saved).next_run_at == at(seconds=30)
    assert slots.take() == [(endpoint_id, at(seconds=30))]


def test_propose_interval_above_the_endpoint_maximum_runs_at_the_maximum(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job, baselineIntervalMs=60_000, maxIntervalMs=120_000)
    message = box(deps, job, endpoint_id).call("propose_interval", {"intervalMs": 600_000})
    assert message == (
        "Adjusted interval to 600000ms (expires in 60 minutes) (runs no slower than the "
        "endpoint's maximum of 120000ms). Next run at 2025-01-01T00:01:00.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert plan_next_run(at(), saved).next_run_at == at(seconds=120)


def test_propose_interval_below_the_tenant_floor_is_raised_to_it(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    toolbox = box(deps, job, endpoint_id, min_interval_ms=15_000)
    message = toolbox.call("propose_interval", {"intervalMs": 2_000})
    assert message == (
        "Adjusted interval to 15000ms (expires in 60 minutes) (raised to this account's "
        "minimum of 15000ms). Next run at 2025-01-01T00:00:15.000Z"
    )
    assert stored(deps, endpoint_id).ai_hint_interval_ms == 15_000


def test_tools_of_two_endpoints_each_write_their_own(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    first, second = add(api, job, "First"), add(api, job, "Second")
    shared = view(deps, job)
    Toolbox(deps, shared, first).call("propose_interval", {"intervalMs": 30_000})
    Toolbox(deps, shared, second).call("pause_until", {"untilIso": "2025-01-01T03:00:00Z"})
    a, b = stored(deps, first), stored(deps, second)
    assert (a.ai_hint_interval_ms, a.paused_until) == (30_000, None)
    assert (b.ai_hint_interval_ms, b.paused_until) == (None, at(hours=3))
    assert shared.endpoints == {first: a, second: b}


# --- propose_next_time ---------------------------------------------------------------------


def test_propose_next_time_moves_the_next_run_to_the_one_shot(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder
) -> None:
    endpoint_id = add(api, job)
    slots.take()
    message = box(deps, job, endpoint_id).call(
        "propose_next_time", {"nextRunAtIso": "2025-01-01T00:30:00Z", "reason": "batch ready"}
    )
    assert message == (
        "Scheduled one-shot execution at 2025-01-01T00:30:00.000Z (expires in 30 minutes): "
        "batch ready. Next run at 2025-01-01T00:30:00.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert saved.ai_hint_next_run_at == at(minutes=30)
    assert saved.ai_hint_expires_at == at(minutes=30)  # default TTL 30 min
    assert saved.ai_hint_reason == "batch ready"
    assert saved.next_run_at == at(minutes=30)
    assert slots.take() == []


@pytest.mark.parametrize("seconds_ago", [0, 30, 60])
def test_propose_next_time_now_or_just_past_runs_at_once_and_queues(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    slots: SlotRecorder,
    clock: ManualClock,
    seconds_ago: int,
) -> None:
    endpoint_id = add(api, job)
    now = clock.advance(timedelta(minutes=5))
    toolbox = box(deps, job, endpoint_id)
    slots.take()
    asked = iso(now - timedelta(seconds=seconds_ago))
    message = toolbox.call("propose_next_time", {"nextRunAtIso": asked, "ttlMinutes": 10})
    assert message == (
        "Scheduled one-shot execution at 2025-01-01T00:05:00.000Z (expires in 10 minutes). "
        "Next run at 2025-01-01T00:05:00.000Z"
    )
    saved = stored(deps, endpoint_id)
    assert (saved.ai_hint_next_run_at, saved.next_run_at) == (now, now)
    assert saved.ai_hint_expires_at == now + timedelta(minutes=10)
    assert slots.take() == [(endpoint_id, now)]


def test_propose_next_time_is_clamped_to_the_minimum_and_never_postpones(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    clamped = add(api, job, "Clamped", minIntervalMs=300_000)
    ran_now(deps, clamped)  # the minimum counts from the last run
    message = box(deps, job, clamped).call("propose_next_time", {"nextRunAtIso": iso(at())})
    assert message.endswith("Next run at 2025-01-01T00:05:00.000Z")
    assert stored(deps, clamped).next_run_at == at(minutes=5)

    # An endpoint that never ran is not held back by its minimum: "run now" runs now.
    fresh = add(api, job, "Fresh", minIntervalMs=300_000)
    message = box(deps, job, fresh).call("propose_next_time", {"nextRunAtIso": iso(at())})
    assert message.endswith("Next run at 2025-01-01T00:00:00.000Z")
    assert stored(deps, fresh).next_run_at == at()

    soon = add(api, job, "Soon", baselineIntervalMs=60_000)
    box(deps, job, soon).call("propose_next_time", {"nextRunAtIso": "2025-01-01T00:10:00Z"})
    saved = stored(deps, soon)
    assert saved.ai_hint_next_run_at == at(minutes=10)
    assert saved.next_run_at == at(seconds=60)  # the earlier baseline slot stays


# --- pause_until ---------------------------------------------------------------------------


def test_pause_then_resume(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder, clock: ManualClock
) -> None:
    endpoint_id = add(api, job)
    toolbox = box(deps, job, endpoint_id)
    slots.take()

    paused = toolbox.call("pause_until", {"untilIso": "2025-01-01T02:00:00Z", "reason": "deploy"})
    assert paused == "Paused until 2025-01-01T02:00:00.000Z: deploy"
    saved = stored(deps, endpoint_id)
    assert (saved.paused_until, saved.next_run_at) == (at(hours=2), at(hours=2))
    assert slots.take() == []

    now = clock.advance(timedelta(minutes=90))  # past the old baseline slot
    assert toolbox.call("pause_until", {"untilIso": None}) == "Resumed execution"
    saved = stored(deps, endpoint_id)
    assert (saved.paused_until, saved.next_run_at) == (None, now)
    assert slots.take() == [(endpoint_id, now)]

    again = toolbox.call("pause_until", {"untilIso": None, "reason": "all clear"})
    assert again == "Resumed execution: all clear"
    assert stored(deps, endpoint_id).next_run_at == now  # not paused: nothing moves


def test_pause_without_a_reason_has_no_colon_suffix(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    message = box(deps, job, endpoint_id).call("pause_until", {"untilIso": "2025-01-02T00:00:00Z"})
    assert message == "Paused until 2025-01-02T00:00:00.000Z"


# --- clear_hints ---------------------------------------------------------------------------


def test_clear_hints_moves_a_relaxed_next_run_up_to_the_baseline_slot(
    deps: Deps, api: Api, job: dict[str, Any], slots: SlotRecorder, clock: ManualClock
) -> None:
    endpoint_id = add(api, job, baselineIntervalMs=60_000)
    edit(
        deps,
        endpoint_id,
        Replan(),
        ai_hint_interval_ms=HOUR_MS,
        ai_hint_next_run_at=at(hours=3),
        ai_hint_expires_at=at(hours=4),
        ai_hint_reason="quiet night",
    )
    assert stored(deps, endpoint_id).next_run_at == at(hours=1)
    clock.advance(timedelta(minutes=2))
    toolbox = box(deps, job, endpoint_id)
    slots.take()

    message = toolbox.call("clear_hints", {"reason": "traffic is back"})
    assert message == "Cleared all AI hints, reverted to baseline schedule: traffic is back"
    saved = stored(deps, endpoint_id)
    hints = (
        saved.ai_hint_interval_ms,
        saved.ai_hint_next_run_at,
        saved.ai_hint_expires_at,
        saved.ai_hint_reason,
    )
    assert hints == (None, None, None, None)
    assert saved.next_run_at == at(minutes=3)  # the baseline's 60 s from now
    assert slots.take() == [(endpoint_id, at(minutes=3))]


# --- submit_analysis -----------------------------------------------------------------------


def test_submit_analysis_returns_its_fields_with_defaults(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    toolbox = box(deps, job, add(api, job))
    full = toolbox.call(
        "submit_analysis",
        {"reasoning": "Stable.", "next_analysis_in_ms": 7_200_000, "confidence": "medium"},
    )
    assert full == {
        "status": "analysis_complete",
        "reasoning": "Stable.",
        "actions_taken": [],
        "confidence": "medium",
        "next_analysis_in_ms": 7_200_000,
    }
    minimal = toolbox.call("submit_analysis", {"reasoning": "Nothing to do."})
    assert minimal == {
        "status": "analysis_complete",
        "reasoning": "Nothing to do.",
        "actions_taken": [],
        "confidence": "high",
        "next_analysis_in_ms": None,
    }
    outside = toolbox.call(
        "submit_analysis",
        {"reasoning": "r", "actions_taken": ["propose_interval"], "next_analysis_in_ms": 1000},
    )
    assert outside["next_analysis_in_ms"] == 1000  # clamped later, by next_analysis_at()
    assert outside["actions_taken"] == ["propose_interval"]


# --- refused calls change nothing ----------------------------------------------------------

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("propose_interval", {}, "invalid arguments for propose_interval: intervalMs: Field required"),
    ("propose_interval", {"intervalMs": 0}, "intervalMs: Input should be greater than 0"),
    ("propose_interval", {"intervalMs": -5000}, "intervalMs: Input should be greater than 0"),
    ("propose_interval", {"intervalMs": "fast"}, "intervalMs: Input should be a valid number"),
    ("propose_interval", {"interval_ms": 5000}, "intervalMs: Field required"),
    ("propose_interval", {"intervalMs": 5000, "ttlMinutes": 0}, "ttlMinutes: Input should be"),
    ("propose_interval", {"intervalMs": 5000, "ttlMinutes": 10081}, "ttlMinutes: Input should"),
    ("propose_interval", {"intervalMs": 5000, "reason": "x" * 1001}, "reason: String should"),
    ("propose_next_time", {}, "nextRunAtIso: Field required"),
    ("propose_next_time", {"nextRunAtIso": "tomorrow"}, "nextRunAtIso: Value error, must be"),
    ("propose_next_time", {"nextRunAtIso": "2025-01-01T00:30:00"}, "nextRunAtIso: Value error"),
    ("propose_next_time", {"nextRunAtIso": 1735690000}, "nextRunAtIso: Input should be a valid"),
    (
        "propose_next_time",
        {"nextRunAtIso": "2024-12-31T23:58:59Z"},
        "nextRunAtIso 2024-12-31T23:58:59Z is more than 60 s in the past; "
        "the current time is 2025-01-01T00:00:00.000Z",
    ),
    ("pause_until", {}, "invalid arguments for pause_until: untilIso: Field required"),
    ("pause_until", {"reason": "x"}, "untilIso: Field required"),
    ("pause_until", {"untilIso": "later"}, "untilIso: Value error, must be an ISO-8601 UTC time"),
    ("clear_hints", {}, "invalid arguments for clear_hints: reason: Field required"),
    ("clear_hints", {"reason": ""}, "reason: String should have at least 1 character"),
    ("submit_analysis", {}, "invalid arguments for submit_analysis: reasoning: Field required"),
    ("submit_analysis", {"reasoning": ""}, "reasoning: String should have at least 1 character"),
    ("submit_analysis", {"reasoning": "r", "confidence": "sure"}, "confidence: Input should be"),
    ("submit_analysis", {"reasoning": "r", "next_analysis_in_ms": -1}, "next_analysis_in_ms: "),
    ("get_response_history", {"limit": 0}, "limit: Input should be greater than or equal to 1"),
    ("get_response_history", {"limit": 11}, "limit: Input should be less than or equal to 10"),
    ("get_response_history", {"offset": -1}, "offset: Input should be greater than or equal"),
    (
        "delete_endpoint",
        {},
        "unknown tool 'delete_endpoint'; available: " + ", ".join(TOOLS),
    ),
]


@pytest.mark.parametrize(("tool", "args", "expected"), REFUSED)
def test_a_refused_call_is_a_tool_error_and_changes_nothing(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    slots: SlotRecorder,
    tool: str,
    args: dict[str, Any],
    expected: str,
) -> None:
    endpoint_id = add(api, job, minIntervalMs=5_000)
    edit(
        deps,
        endpoint_id,
        ai_hint_interval_ms=120_000,
        ai_hint_expires_at=at(hours=1),
        ai_hint_reason="watching",
    )
    toolbox = box(deps, job, endpoint_id)
    before, before_view = snapshot(), toolbox.endpoint
    slots.take()
    with pytest.raises(ToolError) as refused:
        toolbox.call(tool, args)
    assert expected in str(refused.value)
    assert snapshot() == before
    assert toolbox.endpoint == before_view
    assert slots.take() == []


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("propose_interval", {"intervalMs": 10_000}),
        ("propose_next_time", {"nextRunAtIso": "2025-01-01T00:00:00Z"}),
        ("pause_until", {"untilIso": "2025-01-02T00:00:00Z"}),
        ("pause_until", {"untilIso": None}),
        ("clear_hints", {"reason": "done"}),
    ],
)
def test_action_tools_refuse_an_archived_endpoint(
    deps: Deps, api: Api, job: dict[str, Any], tool: str, args: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    toolbox = box(deps, job, endpoint_id)  # read before it was archived
    reply = api.post(f"/api/jobs/{job['id']}/endpoints/{endpoint_id}/archive")
    assert reply.status == 200, reply.body
    before = snapshot()
    with pytest.raises(ToolError) as refused:
        toolbox.call(tool, args)
    assert str(refused.value) == "this endpoint is archived; it no longer runs"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("tool", "raw", "field"),
    [
        ("propose_interval", '{"intervalMs": 1e400}', "intervalMs"),  # JSON text -> inf
        ("propose_interval", '{"intervalMs": 1e300}', "intervalMs"),
        ("pause_until", '{"untilIso": "0001-01-01T00:00:00+01:00"}', "untilIso"),
    ],
)
def test_out_of_range_numbers_and_dates_are_argument_errors(
    deps: Deps, api: Api, job: dict[str, Any], tool: str, raw: str, field: str
) -> None:
    """Product bug: these pass validation and then overflow (OverflowError from round(inf),
    timedelta or astimezone), so the model hears "failed on our side; try again" instead of
    which argument to fix."""
    endpoint_id = add(api, job)
    toolbox = box(deps, job, endpoint_id)
    before = snapshot()
    with pytest.raises(ToolError, match=field):
        toolbox.call(tool, parse_arguments(raw))
    assert snapshot() == before


# --- manage_reflexes -------------------------------------------------------------------------


def _reflex(target: str = "self", **changes: Any) -> dict[str, Any]:
    return {
        "when": {"endpoint": target, "path": "body.depth", "op": ">", "value": 100},
        "do": {"action": "run_now"},
        "reason": "Deep queue",
        **changes,
    }


def test_manage_reflexes_sets_renews_and_removes_the_sessions_own(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    sibling = add(api, job, "Upstream")
    toolbox = Toolbox(deps, view(deps, job), endpoint_id, Actor("session", "session_1"))
    made = toolbox.call(
        "manage_reflexes",
        {"set": [_reflex(), _reflex(sibling, expiresAt=iso(at(hours=24 * 30)))]},
    )
    first, second = (r["reflexId"] for r in made["results"])
    assert sorted(made["liveReflexes"]) == sorted([first, second])
    assert made["results"][0]["expiresAt"] == iso(at(hours=24))  # the planner's default
    assert made["results"][1]["expiresAt"] == iso(at(hours=24 * 7))  # capped at 7 days
    stored_first = deps.reflexes.get("acme", job["id"], first)
    assert stored_first is not None and stored_first.created_by == Actor("session", "session_1")

    renewed = toolbox.call(
        "manage_reflexes", {"set": [{**_reflex(), "replaceId": first, "reason": "Renewed"}]}
    )
    assert renewed["results"][0]["reflexId"] == first
    removed = toolbox.call("manage_reflexes", {"remove": [second]})
    assert removed == {"results": [{"removed": second}], "liveReflexes": [first]}
    again = deps.reflexes.get("acme", job["id"], first)
    assert again is not None and again.spec.reason == "Renewed"


def test_manage_reflexes_reports_bad_items_and_leaves_peoples_reflexes_alone(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    endpoint_id = add(api, job)
    person = api.post(f"/api/endpoints/{endpoint_id}/reflexes", _reflex()).body["id"]
    toolbox = Toolbox(deps, view(deps, job), endpoint_id, Actor("session", "session_1"))
    before = snapshot()
    result = toolbox.call(
        "manage_reflexes",
        {
            "remove": [person, "rfx_nope"],
            "set": [{**_reflex(), "replaceId": person}, _reflex("not-in-this-job")],
        },
    )
    errors = [r["error"] for r in result["results"]]
    assert errors == [
        f"reflex {person} was set by a person; leave it as it is",
        "reflex rfx_nope is not one of this endpoint's reflexes",
        f"reflex {person} was set by a person; leave it as it is",
        "Endpoint not-in-this-job named in the condition is not in this job",
    ]
    assert result["liveReflexes"] == [person]
    assert snapshot() == before
    with pytest.raises(ToolError, match="op"):
        toolbox.call("manage_reflexes", {"set": [_reflex() | {"when": {"path": "x", "op": "~"}}]})


def test_a_run_in_flight_is_named_from_its_endpoints_claim(
    deps: Deps, api: Api, job: dict[str, Any], clock: ManualClock
) -> None:
    from chalicelib.domain.timeutil import iso
    from chalicelib.engine.execute import Executor
    from chalicelib.engine.queue import QueuedSlot

    endpoint_id = add(api, job)
    endpoint = deps.endpoints.get("acme", endpoint_id)
    assert endpoint is not None
    clock.set(max(clock.now(), endpoint.next_run_at))
    held = Executor(deps).claim(QueuedSlot("acme", endpoint_id, endpoint.next_run_at, 40_000))
    assert held is not None  # claimed: nothing written to the runs table yet
    assert box(deps, job, endpoint_id).call("get_latest_response", {}) == {
        "found": False,
        "message": "No finished executions yet for this endpoint",
    }
    add_run(deps, endpoint_id, job, 10, {"depth": 5})
    result = box(deps, job, endpoint_id).call("get_latest_response", {})
    assert result["responseBody"] == {"depth": 5}
    assert result["inFlightSince"] == iso(held.run.started_at)
