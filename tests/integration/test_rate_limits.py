"""Per-tenant rate limits shared by every API container (the DynamoDB counters)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from chalice.test import Client

from chalicelib import deps as deps_module
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.store.models import RateLimitItem
from tests.conftest import Api, new_tenant
from tests.integration.fakes import StubCaller


def container(deps: Deps) -> Deps:
    """Another warm API container: its own limiter and caches, the same tables and clock."""
    return Deps(settings=deps.settings, clock=deps.clock)


def test_a_tenant_limit_holds_across_containers(deps: Deps, chalice_client: Client) -> None:
    api = Api(chalice_client, new_tenant(deps, "tiny", reads_per_minute=4))
    other = container(deps)
    replies = []
    for n in range(6):
        deps_module.use(deps if n % 2 == 0 else other)
        replies.append(api.get("/api/jobs"))
    deps_module.use(deps)
    assert [r.status for r in replies] == [200, 200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["3", "2", "1", "0", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "4" for r in replies)
    refused = replies[-1]
    assert refused.error["code"] == "RATE_LIMITED"
    assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"] == "60"


def test_a_request_costs_one_counter_item_per_tenant_class_and_minute(
    deps: Deps, api: Api, clock: ManualClock
) -> None:
    for _ in range(3):
        assert api.get("/api/jobs").status == 200
    assert api.post("/api/jobs", {"name": "j"}).status == 201
    counters = {i.bucket: int(i.hits) for i in RateLimitItem.scan()}
    slot = int(clock.now().timestamp()) // 60
    assert counters == {f"acme:read#{slot}": 3, f"acme:mutation#{slot}": 1}
    assert all(i.expires_at is not None for i in RateLimitItem.scan())


def test_the_previous_minute_weighs_in_another_container(
    deps: Deps, chalice_client: Client, clock: ManualClock
) -> None:
    api = Api(chalice_client, new_tenant(deps, "tiny", reads_per_minute=4))
    for _ in range(4):
        assert api.get("/api/jobs").status == 200
    deps_module.use(container(deps))  # a container that never saw this tenant
    clock.advance(timedelta(seconds=75))  # 15 s into the next minute: 4 x 0.75 = 3 still weigh
    assert [api.get("/api/jobs").status for _ in range(2)] == [200, 429]
    deps_module.use(deps)


def test_test_runs_have_their_own_limit(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    monkeypatch: Any,
    clock: ManualClock,
) -> None:
    deps.settings = replace(deps.settings, test_runs_per_minute=2)
    monkeypatch.setattr(deps, "caller", StubCaller(clock))
    endpoint = api.post(
        f"/api/jobs/{job['id']}/endpoints",
        {"name": "e", "url": "https://api.example.com/x", "baselineIntervalMs": 60_000},
    ).body
    tested = [api.post(f"/api/endpoints/{endpoint['id']}/test") for _ in range(3)]
    assert [r.status for r in tested] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in tested] == ["2", "2", "2"]
    assert "Retry-After" in tested[2].headers
    # Other writes count against the mutations limit, untouched by the test runs.
    other = api.post("/api/jobs", {"name": "still fine"})
    assert other.status == 201 and other.headers["X-RateLimit-Limit"] == "600"
