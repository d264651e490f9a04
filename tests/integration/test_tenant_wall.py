"""Every tenant is a wall: tenant B gets 404 on every route that names tenant A's ids, and
nothing of A's changes."""

from __future__ import annotations

from typing import Any

import pytest

import app  # noqa: F401  - registers every route in REGISTRY
from chalicelib.api.http import REGISTRY, RouteSpec
from chalicelib.deps import Deps
from chalicelib.domain.entities import AnalysisSession, Run
from chalicelib.domain.ids import run_id, session_id
from chalicelib.domain.incidents import Incident, incident_id
from tests.conftest import ENDPOINT, T0, Api, new_tenant, snapshot

VALID_BODIES: dict[str, Any] = {
    "JobUpdate": {"name": "hijacked"},
    "EndpointCreate": ENDPOINT,
    "EndpointUpdate": {"name": "hijacked"},
    "IntervalHint": {"intervalMs": 5000},
    "OneShotHint": {"nextRunInMs": 0},
    "PauseRequest": {"pausedUntil": "2030-01-01T00:00:00Z"},
    "ReflexSpec": {
        "when": {"endpoint": "self", "path": "status", "op": "==", "value": "failed"},
        "do": {"action": "pause", "forMinutes": 10},
        "reason": "hijacked",
    },
    "ChannelUpdate": {"name": "hijacked"},
    "AlertPolicyInput": {"failureThreshold": 1},
}

ID_ROUTES = [s for s in REGISTRY.specs if "{" in s.path and s.auth == "apiKey"]
assert len(ID_ROUTES) >= 25, "routes not registered"


def _route_id(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


@pytest.fixture
def tenant_a(deps: Deps, api: Api) -> dict[str, str]:
    job = api.post("/api/jobs", {"name": "A"}).body
    ep = api.post(f"/api/jobs/{job['id']}/endpoints", ENDPOINT).body
    run = Run(ep["id"], run_id(T0), "acme", job["id"], "success", T0)
    deps.runs.put(run)
    session = AnalysisSession(ep["id"], session_id(T0), "acme", job["id"], T0, "ok")
    deps.sessions.put(session)
    key = api.get("/api/api-keys").body["apiKeys"][0]["id"]
    reflex = api.post(f"/api/endpoints/{ep['id']}/reflexes", VALID_BODIES["ReflexSpec"]).body
    channel = {"kind": "email", "name": "A", "address": "a@example.com"}
    channel_id = api.post("/api/channels", channel).body["id"]
    incident = Incident("acme", incident_id(T0), job["id"], ep["id"], "A", "failures", "open", T0)
    assert deps.incidents.open(incident)
    return {
        "channel_id": channel_id,
        "incident_id": incident.id,
        "reflex_id": reflex["id"],
        "job_id": job["id"],
        "endpoint_id": ep["id"],
        "run_id": run.id,
        "session_id": session.id,
        "key_id": key,
    }


@pytest.mark.parametrize("spec", ID_ROUTES, ids=_route_id)
def test_other_tenant_gets_404_and_changes_nothing(
    deps: Deps, api: Api, tenant_a: dict[str, str], spec: RouteSpec
) -> None:
    other_key = new_tenant(deps, "intruder")
    path = "/api" + spec.path.format(**tenant_a)
    body = VALID_BODIES.get(spec.body.__name__) if spec.body else None
    before = snapshot()
    reply = api.call(spec.method, path, body, key=other_key)
    assert reply.status == 404, (spec.path, reply.status, reply.body)
    assert reply.error["code"] == "NOT_FOUND"
    after = snapshot()
    after["tenants"] = before["tenants"]  # the intruder's own tenant and key were created above
    after["api-keys"] = before["api-keys"]
    assert after == before


def test_owner_succeeds_on_the_same_routes(api: Api, tenant_a: dict[str, str]) -> None:
    """The 404s above are about ownership: the owner reaches every one of those routes."""
    for spec in ID_ROUTES:
        if spec.method in {"DELETE"} or spec.path.endswith(("/archive", "/pause")):
            continue
        path = "/api" + spec.path.format(**tenant_a)
        body = VALID_BODIES.get(spec.body.__name__) if spec.body else None
        reply = api.call(spec.method, path, body)
        assert reply.status < 300, (spec.path, reply.status, reply.body)


def test_other_tenant_cannot_use_own_job_with_foreign_endpoint(
    deps: Deps, api: Api, tenant_a: dict[str, str]
) -> None:
    other_key = new_tenant(deps, "intruder")
    own_job = api.post("/api/jobs", {"name": "mine"}, key=other_key).body
    path = f"/api/jobs/{own_job['id']}/endpoints/{tenant_a['endpoint_id']}"
    assert api.get(path, key=other_key).status == 404
    assert api.patch(path, {"name": "x"}, key=other_key).status == 404


def test_lists_only_show_own_resources(deps: Deps, api: Api, tenant_a: dict[str, str]) -> None:
    other_key = new_tenant(deps, "intruder")
    assert api.get("/api/jobs", key=other_key).body == {"jobs": []}
    keys = api.get("/api/api-keys", key=other_key).body["apiKeys"]
    assert tenant_a["key_id"] not in [k["id"] for k in keys]
