"""Nothing secret reaches the logs: raw API keys, signing keys, the admin token, and the values
of the headers an endpoint sends (Authorization and friends), through a whole day's work at
the production log level: tenant and key creation, endpoints, runs that succeed, fail and
time out, test runs, key rotation, a planner session, and refused requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from bench.scenarios.scripted import Observation, ScriptedModel
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.engine.caller import Caller
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.queue import JobRef
from tests.conftest import Api
from tests.integration.fakes import Recorder
from tests.integration.test_caller import Target, _send
from tests.integration.test_planner_flow import _run

HEADER_SECRET = "hdr-s3cret-9f8e7d6c5b4a"
QUERY_SECRET = "qs-s3cret-77aa88bb99cc"
COOKIE_SECRET = "ck-s3cret-0a1b2c3d4e5f"


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


def reasons(o: Observation) -> list[tuple[str, dict[str, Any]]]:
    return [("propose_interval", {"intervalMs": 5_000, "reason": "busy"})]


def test_no_secret_appears_in_any_log_line(
    deps: Deps,
    api: Api,
    clock: ManualClock,
    target: Target,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    deps.settings = replace(deps.settings, allow_private_targets=True)
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    monkeypatch.setattr(deps, "analysis_queue", Recorder())
    monkeypatch.setattr(deps, "planner_model", ScriptedModel({"Secretive": reasons}))
    admin = {"x-admin-token": deps.settings.admin_token or ""}
    created = api.post("/api/admin/tenants", {"name": "Other"}, headers=admin, key=None).body
    secrets = [api.key or "", created["apiKey"]["key"], deps.settings.admin_token or ""]
    extra = api.post("/api/api-keys", {"name": "ci"}).body
    secrets.append(extra["key"])
    signing = api.post("/api/signing-keys").body["rawKey"]
    secrets.append(signing)
    job = api.post("/api/jobs", {"name": "Secrets"}).body
    headers = {"Authorization": f"Bearer {HEADER_SECRET}", "Cookie": f"session={COOKIE_SECRET}"}
    body = {
        "name": "Secretive",
        "url": target.url + f"/private?token={QUERY_SECRET}",
        "baselineIntervalMs": 60_000,
        "timeoutMs": 1_000,
        "headersJson": headers,
    }
    endpoint = api.post(f"/api/jobs/{job['id']}/endpoints", body).body
    secrets += [HEADER_SECRET, COOKIE_SECRET, QUERY_SECRET]

    answers = [
        lambda h: _send(h, 200, b'{"status": "ok"}', "application/json"),
        lambda h: _send(h, 500, b'{"error": "boom"}', "application/json"),
        lambda h: _send(h, 401, b"unauthorized", "text/plain"),
    ]
    for answer in answers:
        target.answer = answer
        _run(deps, clock, endpoint["id"])
    assert api.post(f"/api/endpoints/{endpoint['id']}/test").status == 200
    Analyzer(deps, deps.planner_model).analyse_job(JobRef("acme", job["id"]))
    rotated = api.post("/api/signing-keys/rotate").body["rawKey"]
    secrets.append(rotated)
    assert api.get("/api/jobs", key="cp_not_a_real_key_000000000000").status == 401
    assert api.post("/api/admin/tenants", {"name": "x"}, headers={"x-admin-token": "wrong"}).status

    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err])
    assert "Secretive" in logged or caplog.records  # the flow did log something
    leaked = [s for s in secrets if s and s in logged]
    assert leaked == [], f"secrets in the logs: {[s[:6] + '…' for s in leaked]}"
    assert all(target.received[0]["headers"].get(k) == v for k, v in headers.items())
