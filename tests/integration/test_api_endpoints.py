"""Endpoint routes, their validation, and the scheduling they trigger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Run
from chalicelib.domain.ids import run_id
from tests.conftest import ENDPOINT, T0, Api, new_tenant, snapshot


def _path(job: dict[str, Any], endpoint: dict[str, Any] | None = None) -> str:
    base = f"/api/jobs/{job['id']}/endpoints"
    return base if endpoint is None else f"{base}/{endpoint['id']}"


def test_create_interval_endpoint_plans_first_run(api: Api, job: dict[str, Any]) -> None:
    body = dict(ENDPOINT, minIntervalMs=10000, maxIntervalMs=300000, description="Polls health")
    reply = api.post(_path(job), body)
    assert reply.status == 201
    ep = reply.body
    assert ep["jobId"] == job["id"] and len(ep["id"]) == 21
    assert ep["nextRunAt"] == "2025-01-01T00:01:00.000Z"
    assert ep["failureCount"] == 0 and ep["timezone"] == "UTC"
    for key in ("minIntervalMs", "maxIntervalMs", "description", "timeoutMs", "method"):
        assert ep[key] == body[key]
    assert "tenantId" not in ep and "lockedUntil" not in ep and "version" not in ep


def test_create_cron_endpoint_in_timezone(api: Api, job: dict[str, Any]) -> None:
    body = {
        "name": "Morning report",
        "url": "https://example.com/report",
        "baselineCron": "0 9 * * *",
        "timezone": "America/New_York",
        "maxExecutionTimeMs": 120000,
        "maxResponseSizeKb": 250,
        "method": "post",
        "bodyJson": {"a": [1, 2]},
        "headersJson": {"Authorization": "Bearer x"},
    }
    reply = api.post(_path(job), body)
    assert reply.status == 201, reply.body
    assert reply.body["nextRunAt"] == "2025-01-01T14:00:00.000Z"
    assert reply.body["method"] == "POST"
    assert reply.body["bodyJson"] == {"a": [1, 2]}
    assert reply.body["maxResponseSizeKb"] == 250


def test_list_get_and_job_mismatch(api: Api, job: dict[str, Any], endpoint: dict[str, Any]) -> None:
    assert api.get(_path(job)).body == {"endpoints": [endpoint]}
    assert api.get(_path(job, endpoint)).body == endpoint
    other = api.post("/api/jobs", {"name": "Other"}).body
    assert api.get(_path(other, endpoint)).status == 404
    assert api.get(f"/api/jobs/{job['id']}/endpoints/nope").status == 404
    assert api.get("/api/jobs/job_nope/endpoints").status == 404


def test_patch_interval_replans_and_keeps_other_state(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    clock.advance(timedelta(seconds=10))
    reply = api.patch(_path(job, endpoint), {"baselineIntervalMs": 5000, "name": "Fast"})
    assert reply.status == 200
    assert reply.body["name"] == "Fast"
    assert reply.body["nextRunAt"] == "2025-01-01T00:00:15.000Z"
    renamed = api.patch(_path(job, endpoint), {"name": "Again"})
    assert renamed.body["nextRunAt"] == "2025-01-01T00:00:15.000Z"


def test_patch_switches_baseline_kind(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    cron = api.patch(_path(job, endpoint), {"baselineCron": "*/15 * * * *"})
    assert cron.status == 200
    assert cron.body["baselineCron"] == "*/15 * * * *"
    assert "baselineIntervalMs" not in cron.body
    assert cron.body["nextRunAt"] == "2025-01-01T00:15:00.000Z"
    back = api.patch(_path(job, endpoint), {"baselineIntervalMs": 120000})
    assert "baselineCron" not in back.body
    assert back.body["nextRunAt"] == "2025-01-01T00:02:00.000Z"


def test_patch_null_clears_optional_fields(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    api.patch(_path(job, endpoint), {"maxIntervalMs": 30000, "headersJson": {"X-A": "1"}})
    reply = api.patch(_path(job, endpoint), {"maxIntervalMs": None, "headersJson": None})
    assert reply.status == 200
    assert "maxIntervalMs" not in reply.body and "headersJson" not in reply.body


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"name": None}, "name"),
        ({"url": None}, "url"),
        ({"baselineIntervalMs": None}, "baselineCron"),
        ({"baselineCron": "* * * * *", "baselineIntervalMs": 5000}, "baselineCron"),
        ({"minIntervalMs": 600000}, "minIntervalMs"),
        ({"timeoutMs": 0}, "timeoutMs"),
        ({"method": "TRACE"}, "method"),
        ({"timezone": "Nowhere/City"}, "timezone"),
    ],
)
def test_patch_rejections_change_nothing(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], patch: dict[str, Any], field: str
) -> None:
    api.patch(_path(job, endpoint), {"maxIntervalMs": 300000})
    before = snapshot()
    reply = api.patch(_path(job, endpoint), patch)
    assert reply.status == 400, reply.body
    assert reply.error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in reply.error["details"]]
    assert snapshot() == before


CREATE_REJECTIONS: list[tuple[dict[str, Any], str]] = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "  "}, "name"),
    ({"name": "n" * 256}, "name"),
    ({"description": "d" * 2001}, "description"),
    ({"url": None}, "url"),
    ({"url": "not-a-url"}, "url"),
    ({"url": "ftp://example.com/file"}, "url"),
    ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "http://"}, "url"),
    ({"url": "https://example.com:99999/"}, "url"),
    ({"url": "https://exa mple.com/"}, "url"),
    ({"url": "https://e.com/" + "a" * 2100}, "url"),
    ({"url": "http://localhost:8080/health"}, "url"),
    ({"url": "http://127.0.0.1/"}, "url"),
    ({"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
    ({"url": "http://2130706433/"}, "url"),
    ({"url": "http://0x7f.1/"}, "url"),
    ({"url": "http://10.0.0.5/"}, "url"),
    ({"url": "http://[::ffff:127.0.0.1]/"}, "url"),
    ({"url": "http://user@127.0.0.1/"}, "url"),
    ({"method": "TRACE"}, "method"),
    ({"method": 1}, "method"),
    ({"headersJson": {"X-A": 1}}, "headersJson"),
    ({"headersJson": ["a"]}, "headersJson"),
    ({"headersJson": {"Bad Name": "v"}}, "headersJson"),
    ({"headersJson": {"X-A": "line\r\nInjected: 1"}}, "headersJson"),
    ({"baselineIntervalMs": None, "baselineCron": None}, "baselineCron"),
    ({"baselineCron": "* * * * *"}, "baselineCron"),
    ({"baselineIntervalMs": 999}, "baselineIntervalMs"),
    ({"baselineIntervalMs": 0}, "baselineIntervalMs"),
    ({"baselineIntervalMs": -5}, "baselineIntervalMs"),
    ({"baselineIntervalMs": "60000"}, "baselineIntervalMs"),
    ({"baselineIntervalMs": 60000.5}, "baselineIntervalMs"),
    ({"baselineIntervalMs": True}, "baselineIntervalMs"),
    ({"baselineIntervalMs": None, "baselineCron": "not cron"}, "baselineCron"),
    ({"baselineIntervalMs": None, "baselineCron": "61 * * * *"}, "baselineCron"),
    ({"baselineIntervalMs": None, "baselineCron": "* * * *"}, "baselineCron"),
    ({"baselineIntervalMs": None, "baselineCron": "0 0 30 2 *"}, "baselineCron"),
    ({"baselineIntervalMs": None, "baselineCron": "* * * * * *"}, "baselineCron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"minIntervalMs": 500}, "minIntervalMs"),
    ({"maxIntervalMs": 0}, "maxIntervalMs"),
    ({"minIntervalMs": 60000, "maxIntervalMs": 30000}, "minIntervalMs"),
    ({"timeoutMs": 999}, "timeoutMs"),
    ({"timeoutMs": 840001}, "timeoutMs"),
    ({"timeoutMs": 1800000}, "timeoutMs"),
    ({"maxExecutionTimeMs": 840001}, "maxExecutionTimeMs"),
    ({"maxExecutionTimeMs": 0}, "maxExecutionTimeMs"),
    ({"maxResponseSizeKb": 0}, "maxResponseSizeKb"),
    ({"maxResponseSizeKb": 10001}, "maxResponseSizeKb"),
    ({"maxResponseSizeKb": -1}, "maxResponseSizeKb"),
]


@pytest.mark.parametrize(("override", "field"), CREATE_REJECTIONS)
def test_create_rejections_name_the_field_and_change_nothing(
    api: Api, job: dict[str, Any], override: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**ENDPOINT, **override}.items() if v is not None}
    before = snapshot()
    reply = api.post(_path(job), body)
    assert reply.status == 400, (override, reply.body)
    assert reply.error["code"] == "VALIDATION_ERROR"
    fields = [d["field"] for d in reply.error["details"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), reply.error
    assert snapshot() == before


@pytest.mark.parametrize(
    "override",
    [
        {"baselineIntervalMs": 1000},
        {"timeoutMs": 1000},
        {"timeoutMs": 840000},
        {"maxResponseSizeKb": 1},
        {"maxResponseSizeKb": 10000},
        {"minIntervalMs": 1000, "maxIntervalMs": 1000},
        {"name": "n" * 255, "description": "d" * 2000},
        {"unknownField": "ignored"},
    ],
)
def test_boundaries_accepted(api: Api, job: dict[str, Any], override: dict[str, Any]) -> None:
    reply = api.post(_path(job), {**ENDPOINT, **override})
    assert reply.status == 201, reply.body


def test_tenant_interval_floor_and_endpoint_limit(deps: Deps, api: Api) -> None:
    key = new_tenant(deps, "small", max_endpoints=2, min_interval_ms=10000)
    job = api.post("/api/jobs", {"name": "j"}, key=key).body
    too_fast = api.post(_path(job), {**ENDPOINT, "baselineIntervalMs": 5000}, key=key)
    assert too_fast.status == 400
    assert too_fast.error["details"][0]["field"] == "baselineIntervalMs"
    assert "10000ms" in too_fast.error["message"]
    first = api.post(_path(job), ENDPOINT, key=key).body
    api.post(_path(job), ENDPOINT, key=key)
    before = snapshot()
    third = api.post(_path(job), ENDPOINT, key=key)
    assert third.status == 400
    assert "Endpoint limit reached" in third.error["message"]
    assert snapshot() == before
    api.post(f"{_path(job, first)}/archive", key=key)
    assert api.post(_path(job), ENDPOINT, key=key).status == 201


def test_archive_endpoint_leaves_due_index(
    api: Api, deps: Deps, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    stored = deps.endpoints.get("acme", endpoint["id"])
    assert stored is not None and stored.due_shard is not None
    reply = api.post(f"{_path(job, endpoint)}/archive")
    assert reply.status == 200 and reply.body["archivedAt"] == "2025-01-01T00:00:00.000Z"
    stored = deps.endpoints.get("acme", endpoint["id"])
    assert stored is not None and stored.due_shard is None
    assert api.get(_path(job)).body["endpoints"][0]["archivedAt"]
    assert api.patch(_path(job, endpoint), {"name": "x"}).status == 409
    assert api.post(f"{_path(job, endpoint)}/archive").status == 200


def test_delete_cascades_runs(
    api: Api, deps: Deps, job: dict[str, Any], endpoint: dict[str, Any]
) -> None:
    deps.runs.put(Run(endpoint["id"], run_id(T0), "acme", job["id"], "success", T0, duration_ms=5))
    assert api.get(f"/api/endpoints/{endpoint['id']}/runs").body["total"] == 1
    assert api.delete(_path(job, endpoint)).status == 204
    assert api.get(_path(job, endpoint)).status == 404
    assert list(deps.runs.since("acme", endpoint["id"], T0 - timedelta(days=1), T0)) == []


def test_job_pause_and_resume_move_endpoints_out_of_and_into_due_index(
    api: Api, deps: Deps, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    api.post(f"/api/jobs/{job['id']}/pause")
    stored = deps.endpoints.get("acme", endpoint["id"])
    assert stored is not None and stored.due_shard is None
    clock.advance(timedelta(minutes=10))
    api.post(f"/api/jobs/{job['id']}/resume")
    stored = deps.endpoints.get("acme", endpoint["id"])
    assert stored is not None and stored.due_shard is not None
    # The slot that passed during the pause is still the next run: it runs once, at once.
    assert stored.next_run_at == T0 + timedelta(minutes=1)
    due = list(deps.endpoints.due(stored.due_shard, 2**62))
    assert [e.id for e in due] == [endpoint["id"]]


def test_endpoint_created_in_paused_job_is_not_due(
    api: Api, deps: Deps, job: dict[str, Any]
) -> None:
    api.post(f"/api/jobs/{job['id']}/pause")
    ep = api.post(_path(job), ENDPOINT).body
    stored = deps.endpoints.get("acme", ep["id"])
    assert stored is not None and stored.due_shard is None


def test_endpoint_slots_come_back_on_delete_and_job_archive(deps: Deps, api: Api) -> None:
    key = new_tenant(deps, "slots", max_endpoints=2)
    job = api.post("/api/jobs", {"name": "j"}, key=key).body
    first = api.post(_path(job), ENDPOINT, key=key).body
    api.post(_path(job), ENDPOINT, key=key)
    assert api.post(_path(job), ENDPOINT, key=key).status == 400
    assert api.delete(_path(job, first), key=key).status == 204
    assert deps.tenants.live_endpoints("slots") == 1
    assert api.post(_path(job), ENDPOINT, key=key).status == 201
    api.delete(f"/api/jobs/{job['id']}", key=key)
    assert deps.tenants.live_endpoints("slots") == 0
    other = api.post("/api/jobs", {"name": "k"}, key=key).body
    assert api.post(_path(other), ENDPOINT, key=key).status == 201
    assert api.post(_path(other), ENDPOINT, key=key).status == 201
    assert api.post(_path(other), ENDPOINT, key=key).status == 400


def test_archiving_twice_or_deleting_an_archived_endpoint_frees_one_slot(
    deps: Deps, api: Api
) -> None:
    key = new_tenant(deps, "slots", max_endpoints=5)
    job = api.post("/api/jobs", {"name": "j"}, key=key).body
    ep = api.post(_path(job), ENDPOINT, key=key).body
    api.post(_path(job), ENDPOINT, key=key)
    api.post(f"{_path(job, ep)}/archive", key=key)
    api.post(f"{_path(job, ep)}/archive", key=key)
    assert deps.tenants.live_endpoints("slots") == 1
    api.delete(_path(job, ep), key=key)
    assert deps.tenants.live_endpoints("slots") == 1


def test_a_failed_create_gives_its_slot_back(
    deps: Deps, api: Api, job: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store down")

    monkeypatch.setattr(deps.scheduling, "create", broken)
    reply = api.post(_path(job), ENDPOINT)
    assert reply.status == 500
    assert reply.error["code"] == "INTERNAL_ERROR"
    assert "store down" not in reply.error["message"]
    assert deps.tenants.live_endpoints("acme") == 0


def test_private_targets_are_allowed_only_by_the_setting(
    deps: Deps, api: Api, job: dict[str, Any]
) -> None:
    from dataclasses import replace as dc_replace

    local = {**ENDPOINT, "url": "http://127.0.0.1:9000/health"}
    refused = api.post(_path(job), local)
    assert refused.status == 400
    assert "URL not allowed" in refused.error["details"][0]["message"]
    deps.settings = dc_replace(deps.settings, allow_private_targets=True)
    assert api.post(_path(job), local).status == 201
    metadata = {**ENDPOINT, "url": "http://169.254.169.254/latest/meta-data/"}
    assert api.post(_path(job), metadata).status == 400


def test_patch_checks_the_new_url(api: Api, job: dict[str, Any], endpoint: dict[str, Any]) -> None:
    before = snapshot()
    reply = api.patch(_path(job, endpoint), {"url": "http://192.168.1.10/"})
    assert reply.status == 400 and reply.error["details"][0]["field"] == "url"
    assert snapshot() == before


def test_a_timeout_lambda_cannot_honour_is_refused_with_the_reason(
    api: Api, job: dict[str, Any]
) -> None:
    reply = api.post(_path(job), {**ENDPOINT, "timeoutMs": 900_000})
    assert reply.status == 400
    (detail,) = [d for d in reply.error["details"] if d["field"] == "timeoutMs"]
    assert "at most 840000 ms" in detail["message"] and "Lambda" in detail["message"]
