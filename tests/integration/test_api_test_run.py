"""POST /api/endpoints/{id}/test: executes now through the caller, records a `test` run, and
leaves the schedule alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.capture import MAX_STORED_BODY_BYTES, storable
from chalicelib.domain.signing import verify
from chalicelib.engine.caller import Caller
from tests.conftest import ENDPOINT, Api, snapshot
from tests.integration.test_caller import Target, _send


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


@pytest.fixture
def local_ep(deps: Deps, api: Api, job: dict[str, Any], target: Target, clock: ManualClock) -> Any:
    """An endpoint on a loopback target, with private targets allowed."""
    deps.settings = replace(deps.settings, allow_private_targets=True)
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    body = {**ENDPOINT, "url": target.url + "/health", "method": "POST", "bodyJson": {"x": 1}}
    reply = api.post(f"/api/jobs/{job['id']}/endpoints", body)
    assert reply.status == 201, reply.body
    return reply.body


def test_test_run_is_recorded_and_schedule_untouched(
    api: Api, job: dict[str, Any], local_ep: dict[str, Any], target: Target
) -> None:
    target.answer = lambda h: _send(h, 200, b'{"status": "healthy"}', "application/json")
    reply = api.post(f"/api/endpoints/{local_ep['id']}/test")
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "success" and reply.body["statusCode"] == 200
    assert reply.body["responseBody"] == {"status": "healthy"}
    run = api.get(f"/api/runs/{reply.body['runId']}").body
    assert run["source"] == "test" and run["attempt"] == 1
    assert run["responseBody"] == {"status": "healthy"}
    after = api.get(f"/api/jobs/{job['id']}/endpoints/{local_ep['id']}").body
    for field in ("nextRunAt", "failureCount"):
        assert after[field] == local_ep[field]
    assert "lastRunAt" not in after
    assert target.received[0]["body"] == '{"x":1}'


def test_failed_test_run_does_not_count_as_a_failure(
    api: Api, job: dict[str, Any], local_ep: dict[str, Any], target: Target
) -> None:
    target.answer = lambda h: _send(h, 500, b"boom", "text/plain")
    reply = api.post(f"/api/endpoints/{local_ep['id']}/test")
    assert reply.body["status"] == "failed" and reply.body["errorKind"] == "http_status"
    assert reply.body["errorMessage"] == "HTTP 500 Internal Server Error"
    after = api.get(f"/api/jobs/{job['id']}/endpoints/{local_ep['id']}").body
    assert after["failureCount"] == 0


def test_works_on_paused_endpoint_and_signs_with_the_tenant_key(
    api: Api, local_ep: dict[str, Any], target: Target, clock: ManualClock
) -> None:
    raw = api.post("/api/signing-keys").body["rawKey"]
    api.post(f"/api/endpoints/{local_ep['id']}/pause", {"pausedUntil": "2030-01-01T00:00:00Z"})
    reply = api.post(f"/api/endpoints/{local_ep['id']}/test")
    assert reply.body["status"] == "success"
    got = target.received[0]
    assert verify(
        raw,
        got["headers"]["X-Cronpilot-Timestamp"],
        got["headers"]["X-Cronpilot-Signature"],
        got["body"],
        now_s=clock.now().timestamp(),
    )


def test_archived_endpoint_is_refused(
    api: Api, job: dict[str, Any], local_ep: dict[str, Any], target: Target
) -> None:
    api.post(f"/api/jobs/{job['id']}/endpoints/{local_ep['id']}/archive")
    before = snapshot()
    reply = api.post(f"/api/endpoints/{local_ep['id']}/test")
    assert reply.status == 409
    assert snapshot() == before
    assert target.received == []


def test_unresolvable_target_is_a_recorded_dns_failure(
    api: Api, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    reply = api.post(f"/api/endpoints/{endpoint['id']}/test")
    assert reply.status == 200
    assert reply.body["status"] == "failed" and reply.body["errorKind"] == "dns"
    runs = api.get(f"/api/endpoints/{endpoint['id']}/runs").body
    assert runs["total"] == 1 and runs["runs"][0]["errorKind"] == "dns"


def test_test_runs_expire_after_the_retention(
    deps: Deps, api: Api, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    run_id = api.post(f"/api/endpoints/{endpoint['id']}/test").body["runId"]
    clock.advance(timedelta(days=deps.settings.retention_days, seconds=1))
    assert api.get(f"/api/runs/{run_id}").status == 404


def test_storable_cuts_what_would_not_fit_an_item() -> None:
    assert storable({"a": 1}) == ({"a": 1}, False)
    assert storable(None, True) == (None, True)
    big, cut = storable({"blob": "x" * (MAX_STORED_BODY_BYTES + 10)})
    assert cut is True and isinstance(big, str)
    assert len(big.encode()) <= MAX_STORED_BODY_BYTES


def test_offline_mode_never_looks_names_up(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from chalicelib.deps import Deps as DepsClass
    from chalicelib.engine.caller import CallRequest

    def no_lookup(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("DNS was asked in offline mode")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    offline = DepsClass(settings=replace(deps.settings, offline=True), clock=deps.clock)
    result = offline.caller.call(CallRequest(url="https://api.example.com/health"))
    assert result.status == "failed" and result.error_kind == "dns"


def test_every_request_is_signed_even_before_a_key_was_created(
    api: Api, local_ep: dict[str, Any], target: Target, clock: ManualClock
) -> None:
    api.post(f"/api/endpoints/{local_ep['id']}/test")
    first = target.received[0]["headers"]
    assert first["X-Cronpilot-Signature"].startswith("sha256=")
    assert api.get("/api/signing-keys").body["hasKey"] is True
    assert api.post("/api/signing-keys").status == 409
    raw = api.post("/api/signing-keys/rotate").body["rawKey"]
    api.post(f"/api/endpoints/{local_ep['id']}/test")
    got = target.received[1]
    assert verify(
        raw,
        got["headers"]["X-Cronpilot-Timestamp"],
        got["headers"]["X-Cronpilot-Signature"],
        got["body"],
        now_s=clock.now().timestamp(),
    )
