"""Cross-cutting HTTP behaviour: auth, body parsing, size limit, error envelope, rate limits,
headers, health, OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from chalicelib.deps import Deps
from tests.conftest import ENDPOINT, Api, new_tenant, snapshot


def test_missing_and_unknown_keys_are_401(api: Api) -> None:
    for key in (None, "cp_not-a-real-key"):
        reply = api.get("/api/jobs", key=key)
        assert reply.status == 401
        assert reply.error["code"] == "UNAUTHORIZED"
        assert set(reply.body["error"]) == {"code", "message", "details"}


def test_revoked_key_stops_working_at_once(api: Api) -> None:
    created = api.post("/api/api-keys", {"name": "ci"})
    assert created.status == 201
    raw = created.body["key"]
    assert raw.startswith("cp_") and created.body["start"] == raw[:10]
    assert api.get("/api/jobs", key=raw).status == 200
    listed = api.get("/api/api-keys").body["apiKeys"]
    assert all("key" not in k for k in listed) and len(listed) == 2
    assert api.delete(f"/api/api-keys/{created.body['id']}").status == 204
    assert api.get("/api/jobs", key=raw).status == 401
    assert api.delete("/api/api-keys/key_missing").status == 404


def test_key_without_body_and_expiring_key(api: Api, clock: Any) -> None:
    from datetime import timedelta

    plain = api.post("/api/api-keys")
    assert plain.status == 201 and "expiresAt" not in plain.body
    expiring = api.post("/api/api-keys", {"expiresInDays": 1}).body
    assert expiring["expiresAt"] == "2025-01-02T00:00:00.000Z"
    clock.advance(timedelta(days=1))
    assert api.get("/api/jobs", key=expiring["key"]).status == 401
    assert api.post("/api/api-keys", {"expiresInDays": 0}).status == 400


def test_json_without_content_type_is_parsed(api: Api) -> None:
    reply = api.post("/api/jobs", raw='{"name": "Data Sync"}')
    assert reply.status == 201 and reply.body["name"] == "Data Sync"
    form = api.post(
        "/api/jobs",
        raw='{"name": "Form"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 201


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "must be a JSON object"),
        (b"   ", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_bad_bodies_are_400(api: Api, raw: bytes, message: str) -> None:
    before = snapshot()
    reply = api.post("/api/jobs", raw=raw, headers={"content-type": "application/json"})
    assert reply.status == 400
    assert reply.error["code"] == "VALIDATION_ERROR"
    assert message in reply.error["message"]
    assert snapshot() == before


def test_oversized_body_is_413(api: Api) -> None:
    big = json.dumps({"name": "x", "description": "d" * (256 * 1024)})
    reply = api.post("/api/jobs", raw=big)
    assert reply.status == 413
    assert reply.error["code"] == "PAYLOAD_TOO_LARGE"


def test_wrong_method_is_405_envelope(api: Api) -> None:
    reply = api.call("PUT", "/api/jobs")
    assert reply.status == 405
    assert reply.error["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_undeclared_methods_are_405_envelopes_with_allow(api: Api, method: str) -> None:
    reply = api.call(method, "/api/jobs")
    assert reply.status == 405 and reply.error["code"] == "METHOD_NOT_ALLOWED"
    assert set(reply.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_security_headers_and_request_id(api: Api) -> None:
    reply = api.get("/api/jobs")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert len(reply.headers["X-Request-Id"]) == 36
    assert reply.headers["X-RateLimit-Limit"] == "1200"
    docs = api.get("/api/reference", key=None)
    assert "'self'" in docs.headers["Content-Security-Policy"]


def test_rate_limit_refuses_with_retry_after(deps: Deps, api: Api) -> None:
    key = new_tenant(deps, "tiny", mutations_per_minute=3, reads_per_minute=5)
    remaining = [api.get("/api/jobs", key=key).headers["X-RateLimit-Remaining"] for _ in range(5)]
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = api.get("/api/jobs", key=key)
    assert refused.status == 429
    assert refused.error["code"] == "RATE_LIMITED"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    for _ in range(3):
        assert api.post("/api/jobs", {"name": "j"}, key=key).status == 201
    assert api.post("/api/jobs", {"name": "j"}, key=key).status == 429
    assert api.get("/api/jobs").status == 200  # other tenants are unaffected


def test_health_is_public_and_reports_storage(api: Api) -> None:
    reply = api.get("/api/health", key=None)
    assert reply.status == 200
    assert reply.body["status"] == "ok" and reply.body["storage"] == "reachable"
    assert reply.body["ai"] == "not_configured"
    assert reply.body["timestamp"] == "2025-01-01T00:00:00.000Z"


def test_health_is_503_when_storage_unreachable(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chalicelib.api.system.storage_reachable", lambda settings: False)
    reply = api.get("/api/health", key=None)
    assert reply.status == 503
    assert reply.body["status"] == "degraded"


def test_openapi_document_is_valid_and_generated_from_models(api: Api) -> None:
    doc = api.get("/api/doc", key=None).body
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    create = doc["paths"]["/api/jobs/{jobId}/endpoints"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_name.split("/")[-1]]
    assert "baselineIntervalMs" in schema["properties"]
    for path in ("/api/jobs/{jobId}/archive", "/api/sessions/{sessionId}", "/api/health"):
        assert path in doc["paths"]
    page = api.get("/api/reference", key=None)
    assert page.status == 200 and "<html" in page.body


def test_admin_routes_need_the_token(api: Api) -> None:
    body = {"name": "Globex", "id": "globex"}
    assert api.post("/api/admin/tenants", body, key=None).status == 401
    wrong = api.post("/api/admin/tenants", body, key=None, headers={"x-admin-token": "nope"})
    assert wrong.status == 401
    ok = api.post(
        "/api/admin/tenants", body, key=None, headers={"x-admin-token": "test-admin-token"}
    )
    assert ok.status == 201
    assert ok.body["tenant"]["id"] == "globex"
    assert ok.body["tenant"]["limits"]["minIntervalMs"] == 1000
    new_key = ok.body["apiKey"]["key"]
    assert api.get("/api/jobs", key=new_key).status == 200
    again = api.post(
        "/api/admin/tenants", body, key=None, headers={"x-admin-token": "test-admin-token"}
    )
    assert again.status == 409
    listed = api.get("/api/admin/tenants", key=None, headers={"x-admin-token": "test-admin-token"})
    assert {t["id"] for t in listed.body["tenants"]} == {"acme", "globex"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    *list(ENDPOINT),
    "baselineCron",
    "minIntervalMs",
    "maxIntervalMs",
    "headersJson",
    "timezone",
    "maxResponseSizeKb",
    "description",
    "bodyJson",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8))
def test_no_endpoint_body_produces_a_500(
    api: Api, job: dict[str, Any], body: dict[str, Any]
) -> None:
    reply = api.post(f"/api/jobs/{job['id']}/endpoints", body)
    assert reply.status in {201, 400}, (body, reply.body)
    patched = api.patch(f"/api/jobs/{job['id']}", body)
    assert patched.status in {200, 400}, (body, patched.body)
