"""Hints, pause/resume and failure reset: stored fields and their effect on the next run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from tests.conftest import T0, Api, snapshot


def _ep(api: Api, job: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}").body
    return body


def _set(deps: Deps, endpoint_id: str, **fields: Any) -> None:
    current = deps.endpoints.get("acme", endpoint_id)
    assert current is not None
    deps.endpoints.save(replace(current, **fields))


def test_interval_hint_writes_fields_and_nudges_from_last_run(
    api: Api, deps: Deps, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    _set(deps, endpoint["id"], last_run_at=T0, next_run_at=T0 + timedelta(hours=1))
    clock.advance(timedelta(seconds=5))
    path = f"/api/endpoints/{endpoint['id']}/hints/interval"
    reply = api.post(path, {"intervalMs": 10000, "ttlMinutes": 30, "reason": "errors"})
    assert reply.status == 204 and reply.body is None
    ep = _ep(api, job, endpoint)
    assert ep["aiHintIntervalMs"] == 10000
    assert ep["aiHintExpiresAt"] == "2025-01-01T00:30:05.000Z"
    assert ep["aiHintReason"] == "errors"
    assert ep["nextRunAt"] == "2025-01-01T00:00:10.000Z"  # lastRunAt + 10 s


def test_interval_hint_on_never_run_endpoint_nudges_from_now(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    api.post(f"/api/endpoints/{endpoint['id']}/hints/interval", {"intervalMs": 15000})
    assert _ep(api, job, endpoint)["nextRunAt"] == "2025-01-01T00:00:15.000Z"


def test_longer_interval_hint_never_delays_the_next_run(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    api.post(f"/api/endpoints/{endpoint['id']}/hints/interval", {"intervalMs": 3600000})
    assert _ep(api, job, endpoint)["nextRunAt"] == endpoint["nextRunAt"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"intervalMs": 5000}, "below minimum (10000ms)"),
        ({"intervalMs": 600000}, "exceeds maximum (300000ms)"),
    ],
)
def test_interval_hint_respects_endpoint_bounds(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    path = f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}"
    api.patch(path, {"minIntervalMs": 10000, "maxIntervalMs": 300000})
    before = snapshot()
    reply = api.post(f"/api/endpoints/{endpoint['id']}/hints/interval", body)
    assert reply.status == 400
    assert message in reply.error["message"]
    assert reply.error["details"][0]["field"] == "intervalMs"
    assert snapshot() == before


def test_oneshot_runs_now_and_coexists_with_interval_hint(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    api.post(f"/api/endpoints/{endpoint['id']}/hints/interval", {"intervalMs": 30000})
    clock.advance(timedelta(seconds=2))
    reply = api.post(
        f"/api/endpoints/{endpoint['id']}/hints/oneshot", {"nextRunInMs": 0, "reason": "now"}
    )
    assert reply.status == 204
    ep = _ep(api, job, endpoint)
    assert ep["nextRunAt"] == "2025-01-01T00:00:02.000Z"
    assert ep["aiHintNextRunAt"] == "2025-01-01T00:00:02.000Z"
    assert ep["aiHintIntervalMs"] == 30000
    assert ep["aiHintExpiresAt"] == "2025-01-01T01:00:02.000Z"


def test_oneshot_at_absolute_time_and_slightly_past_means_now(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    path = f"/api/endpoints/{endpoint['id']}/hints/oneshot"
    api.post(path, {"nextRunAt": "2025-01-01T00:00:40Z"})
    assert _ep(api, job, endpoint)["nextRunAt"] == "2025-01-01T00:00:40.000Z"
    clock.advance(timedelta(seconds=30))
    api.post(path, {"nextRunAt": "2024-12-31T23:59:50.000Z"})  # 40 s ago: tolerated as now
    assert _ep(api, job, endpoint)["nextRunAt"] == "2025-01-01T00:00:30.000Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "nextRunAt"),
        ({"nextRunAt": "2024-12-31T23:58:00Z"}, "nextRunAt"),
        ({"nextRunAt": "tomorrow"}, "nextRunAt"),
        ({"nextRunAt": "2025-01-01T00:10:00"}, "nextRunAt"),
        ({"nextRunAt": 1735689600000}, "nextRunAt"),
        ({"nextRunInMs": -1}, "nextRunInMs"),
        ({"nextRunInMs": "5"}, "nextRunInMs"),
        ({"nextRunInMs": 5, "ttlMinutes": 0}, "ttlMinutes"),
        ({"nextRunInMs": 5, "reason": "r" * 1001}, "reason"),
    ],
)
def test_oneshot_rejections(
    api: Api, endpoint: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = snapshot()
    reply = api.post(f"/api/endpoints/{endpoint['id']}/hints/oneshot", body)
    assert reply.status == 400, reply.body
    assert field in [d["field"] for d in reply.error["details"]]
    assert snapshot() == before


def test_clear_hints_nulls_all_four(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    api.post(
        f"/api/endpoints/{endpoint['id']}/hints/interval", {"intervalMs": 30000, "reason": "x"}
    )
    api.post(f"/api/endpoints/{endpoint['id']}/hints/oneshot", {"nextRunInMs": 5000})
    assert api.delete(f"/api/endpoints/{endpoint['id']}/hints").status == 204
    ep = _ep(api, job, endpoint)
    for key in ("aiHintIntervalMs", "aiHintNextRunAt", "aiHintExpiresAt", "aiHintReason"):
        assert key not in ep


def test_pause_until_then_resume_runs_at_once(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    path = f"/api/endpoints/{endpoint['id']}/pause"
    reply = api.post(path, {"pausedUntil": "2025-01-01T06:00:00Z", "reason": "maintenance"})
    assert reply.status == 204
    ep = _ep(api, job, endpoint)
    assert ep["pausedUntil"] == "2025-01-01T06:00:00.000Z"
    assert ep["nextRunAt"] == "2025-01-01T06:00:00.000Z"  # the governor: pause wins
    clock.advance(timedelta(minutes=3))
    assert api.post(path, {"pausedUntil": None}).status == 204
    ep = _ep(api, job, endpoint)
    assert "pausedUntil" not in ep
    assert ep["nextRunAt"] == "2025-01-01T00:03:00.000Z"


def test_resume_route_and_resume_when_not_paused_keeps_schedule(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    assert api.post(f"/api/endpoints/{endpoint['id']}/resume").status == 204
    assert _ep(api, job, endpoint)["nextRunAt"] == endpoint["nextRunAt"]


def test_past_pause_is_accepted_and_has_no_effect(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    reply = api.post(
        f"/api/endpoints/{endpoint['id']}/pause", {"pausedUntil": "2024-01-01T00:00:00Z"}
    )
    assert reply.status == 204
    assert _ep(api, job, endpoint)["nextRunAt"] == endpoint["nextRunAt"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "pausedUntil"),
        ({"pausedUntil": "soon"}, "pausedUntil"),
        ({"pausedUntil": 5}, "pausedUntil"),
    ],
)
def test_pause_rejections(
    api: Api, endpoint: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = snapshot()
    reply = api.post(f"/api/endpoints/{endpoint['id']}/pause", body)
    assert reply.status == 400
    assert reply.error["details"][0]["field"] == field
    assert snapshot() == before


def test_reset_failures_restores_cadence(
    api: Api, deps: Deps, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    _set(deps, endpoint["id"], failure_count=4, next_run_at=T0 + timedelta(minutes=16))
    assert api.post(f"/api/endpoints/{endpoint['id']}/reset-failures").status == 204
    ep = _ep(api, job, endpoint)
    assert ep["failureCount"] == 0
    assert ep["nextRunAt"] == "2025-01-01T00:01:00.000Z"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "hints/interval", {"intervalMs": 30000}),
        ("POST", "hints/oneshot", {"nextRunInMs": 0}),
        ("DELETE", "hints", None),
        ("POST", "pause", {"pausedUntil": None}),
        ("POST", "reset-failures", None),
    ],
)
def test_controls_refuse_archived_endpoints(
    api: Api,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    method: str,
    suffix: str,
    body: Any,
) -> None:
    api.post(f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}/archive")
    before = snapshot()
    reply = api.call(method, f"/api/endpoints/{endpoint['id']}/{suffix}", body)
    assert reply.status == 409
    assert snapshot() == before
