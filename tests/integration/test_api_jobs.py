"""Job routes: create, read, list, rename, pause, resume, archive (+ alias)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from tests.conftest import Api, snapshot


def test_create_returns_job(api: Api) -> None:
    reply = api.post("/api/jobs", {"name": "Service Recovery Workflow"})
    assert reply.status == 201
    body = reply.body
    assert body["id"].startswith("job_")
    assert body["name"] == "Service Recovery Workflow"
    assert body["status"] == "active"
    assert body["userId"] == "acme" and body["tenantId"] == "acme"
    assert body["createdAt"] == "2025-01-01T00:00:00.000Z"
    assert "archivedAt" not in body and "description" not in body


def test_get_list_and_endpoint_count(
    api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    assert api.get(f"/api/jobs/{job['id']}").body == job
    clock.advance(timedelta(seconds=1))
    other = api.post("/api/jobs", {"name": "Other"}).body
    listed = api.get("/api/jobs").body["jobs"]
    assert [j["id"] for j in listed] == [job["id"], other["id"]]
    counts = {j["id"]: j["endpointCount"] for j in listed}
    assert counts == {job["id"]: 1, other["id"]: 0}


def test_unknown_job_is_404(api: Api) -> None:
    reply = api.get("/api/jobs/job_missing")
    assert reply.status == 404
    assert reply.error["code"] == "NOT_FOUND"


def test_patch_changes_only_sent_fields(api: Api, job: dict[str, Any], clock: ManualClock) -> None:
    clock.advance(timedelta(seconds=5))
    reply = api.patch(f"/api/jobs/{job['id']}", {"name": "Renamed"})
    assert reply.status == 200
    assert reply.body["name"] == "Renamed"
    assert reply.body["description"] == "ETL"
    assert reply.body["updatedAt"] == "2025-01-01T00:00:05.000Z"
    cleared = api.patch(f"/api/jobs/{job['id']}", {"description": None})
    assert "description" not in cleared.body


def test_pause_lists_as_paused_and_filters(api: Api, job: dict[str, Any]) -> None:
    paused = api.post(f"/api/jobs/{job['id']}/pause")
    assert paused.status == 200 and paused.body["status"] == "paused"
    listed = api.get("/api/jobs").body["jobs"]
    assert listed[0]["status"] == "paused"
    assert [j["id"] for j in api.get("/api/jobs?status=paused").body["jobs"]] == [job["id"]]
    assert api.get("/api/jobs?status=active").body["jobs"] == []
    resumed = api.post(f"/api/jobs/{job['id']}/resume")
    assert resumed.status == 200 and resumed.body["status"] == "active"


@pytest.mark.parametrize("how", ["delete", "archive"])
def test_archive_both_spellings(api: Api, job: dict[str, Any], how: str) -> None:
    if how == "delete":
        reply = api.delete(f"/api/jobs/{job['id']}")
    else:
        reply = api.post(f"/api/jobs/{job['id']}/archive")
    assert reply.status == 200
    assert reply.body["status"] == "archived"
    assert reply.body["archivedAt"] == "2025-01-01T00:00:00.000Z"
    assert api.get(f"/api/jobs/{job['id']}").body["status"] == "archived"


def test_resume_does_not_unarchive(api: Api, job: dict[str, Any]) -> None:
    api.delete(f"/api/jobs/{job['id']}")
    for action in ("resume", "pause"):
        before = snapshot()
        reply = api.post(f"/api/jobs/{job['id']}/{action}")
        assert reply.status == 409
        assert reply.error["code"] == "CONFLICT"
        assert snapshot() == before
    assert api.get(f"/api/jobs/{job['id']}").body["status"] == "archived"


def test_an_archived_job_can_be_renamed_and_stays_archived(api: Api, job: dict[str, Any]) -> None:
    api.delete(f"/api/jobs/{job['id']}")
    reply = api.patch(f"/api/jobs/{job['id']}", {"name": "Old pipeline", "description": "retired"})
    assert reply.status == 200
    assert reply.body["name"] == "Old pipeline" and reply.body["description"] == "retired"
    assert reply.body["status"] == "archived" and "archivedAt" in reply.body
    assert api.get(f"/api/jobs/{job['id']}").body["name"] == "Old pipeline"


def test_archived_job_refuses_new_endpoints(api: Api, job: dict[str, Any]) -> None:
    api.delete(f"/api/jobs/{job['id']}")
    reply = api.post(
        f"/api/jobs/{job['id']}/endpoints",
        {"name": "x", "url": "https://example.com", "baselineIntervalMs": 60000},
    )
    assert reply.status == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "description": "d" * 1001}, "description"),
        ({"name": "ok", "description": 12}, "description"),
    ],
)
def test_create_rejections_change_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    before = snapshot()
    reply = api.post("/api/jobs", body)
    assert reply.status == 400
    assert reply.error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in reply.error["details"]]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"description": "d" * 1001}, "description"),
    ],
)
def test_patch_rejections_change_nothing(
    api: Api, job: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = snapshot()
    reply = api.patch(f"/api/jobs/{job['id']}", body)
    assert reply.status == 400
    assert field in [d["field"] for d in reply.error["details"]]
    assert snapshot() == before


def test_limits_at_boundaries_accepted(api: Api) -> None:
    reply = api.post("/api/jobs", {"name": "x" * 255, "description": "d" * 1000})
    assert reply.status == 201


def test_bad_status_filter_is_400(api: Api) -> None:
    reply = api.get("/api/jobs?status=sleeping")
    assert reply.status == 400
    assert reply.error["details"][0]["field"] == "status"
