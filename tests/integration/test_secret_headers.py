"""Secret header values: sealed at rest with moto's KMS, masked in every answer, kept when
the mask is sent back, and opened only for the call itself (a loopback target sees them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.secret_headers import MASK
from chalicelib.engine.caller import Caller
from chalicelib.sealing.envelope import SealingError
from chalicelib.store.models import EndpointItem
from tests.conftest import ENDPOINT, Api, snapshot
from tests.integration.test_caller import Target

BEARER = "Bearer test-fake-bearer-0001"
HEADERS = {
    "Authorization": BEARER,
    "X-Api-Key": "test-fake-api-key",
    "Cookie": "session=test-fake-cookie",
    "Proxy-Authorization": "Basic dGVzdDpmYWtl",
    "X-Session-Token": "test-fake-token",
    "X-Client-Secret": "test-fake-secret",
    "X-Custom-Auth": "test-fake-auth",
    "X-Vendor": "test-fake-marked",
    "X-Team": "ops",
    "Accept": "application/json",
}
SECRET_VALUES = [v for n, v in HEADERS.items() if n not in {"X-Team", "Accept"}]


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


def _path(job: dict[str, Any], endpoint_id: str = "") -> str:
    base = f"/api/jobs/{job['id']}/endpoints"
    return f"{base}/{endpoint_id}" if endpoint_id else base


def _create(
    api: Api, job: dict[str, Any], url: str = "https://api.example.com/health"
) -> dict[str, Any]:
    body = {**ENDPOINT, "url": url, "headersJson": HEADERS, "secretHeaders": ["x-vendor"]}
    reply = api.post(_path(job), body)
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.body
    return created


def _stored(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    headers: dict[str, str] = EndpointItem.get(tenant_id, endpoint_id).headers_json
    return headers


def test_secret_values_are_masked_in_every_answer(api: Api, job: dict[str, Any]) -> None:
    created = _create(api, job)
    expected = {n: (v if n in {"X-Team", "Accept"} else MASK) for n, v in HEADERS.items()}
    assert created["headersJson"] == expected
    assert created["secretHeaders"] == [n for n in HEADERS if n not in {"X-Team", "Accept"}]
    answers = [
        api.get(_path(job, created["id"])).body,
        api.get(_path(job)).body,
        api.post(f"/api/jobs/{job['id']}/endpoints/{created['id']}/archive").body,
    ]
    for answer in answers:
        text = json.dumps(answer)
        assert not [v for v in SECRET_VALUES if v in text], text
        assert "cpsealed" not in text


def test_secret_values_are_sealed_at_rest(api: Api, job: dict[str, Any]) -> None:
    created = _create(api, job)
    stored = _stored("acme", created["id"])
    assert stored["X-Team"] == "ops" and stored["Accept"] == "application/json"
    for name in HEADERS:
        if name not in {"X-Team", "Accept"}:
            assert stored[name].startswith("cpsealed:v1:kms:"), name
    everything = json.dumps(snapshot())
    assert not [v for v in SECRET_VALUES if v in everything]


def test_the_call_carries_the_clear_values(
    api: Api, deps: Deps, job: dict[str, Any], target: Target, clock: ManualClock
) -> None:
    deps.settings = replace(deps.settings, allow_private_targets=True)
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    created = _create(api, job, url=target.url + "/hook")
    reply = api.post(f"/api/endpoints/{created['id']}/test")
    assert reply.status == 200 and reply.body["status"] == "success", reply.body
    sent = target.received[0]["headers"]
    for name, value in HEADERS.items():
        assert sent[name] == value


def test_patch_with_the_mask_keeps_the_stored_value(
    api: Api, deps: Deps, job: dict[str, Any]
) -> None:
    created = _create(api, job)
    before = _stored("acme", created["id"])
    shown = dict(created["headersJson"], **{"X-Team": "dev", "Authorization": MASK})
    reply = api.patch(_path(job, created["id"]), {"headersJson": shown})
    assert reply.status == 200, reply.body
    after = _stored("acme", created["id"])
    assert after["Authorization"] == before["Authorization"]  # not even re-sealed
    assert after["X-Team"] == "dev"
    endpoint = deps.endpoints.get("acme", created["id"])
    assert endpoint is not None
    opened = deps.sealer.open(
        endpoint.headers_json or {}, {"tenantId": "acme", "endpointId": created["id"]}
    )
    assert opened["Authorization"] == BEARER and opened["X-Vendor"] == "test-fake-marked"

    replaced = api.patch(
        _path(job, created["id"]), {"headersJson": {"authorization": "Bearer test-fake-new"}}
    )
    assert replaced.body["headersJson"] == {"authorization": MASK}
    endpoint = deps.endpoints.get("acme", created["id"])
    assert endpoint is not None and endpoint.headers_json is not None
    opened = deps.sealer.open(
        endpoint.headers_json, {"tenantId": "acme", "endpointId": created["id"]}
    )
    assert opened == {"authorization": "Bearer test-fake-new"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"headersJson": {"X-Not-Stored": MASK}}, "headersJson.X-Not-Stored"),
        ({"headersJson": {"Authorization": "cpsealed:v1:kms:a:b:c"}}, "headersJson"),
        ({"secretHeaders": ["bad name"]}, "secretHeaders"),
        ({"secretHeaders": "X-A"}, "secretHeaders"),
    ],
)
def test_bad_secret_input_is_400_and_changes_nothing(
    api: Api, job: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    created = _create(api, job)
    before = snapshot()
    reply = api.patch(_path(job, created["id"]), body)
    assert reply.status == 400, reply.body
    assert reply.error["details"][0]["field"] == field
    assert snapshot() == before


def test_a_mask_on_create_is_400(api: Api, job: dict[str, Any]) -> None:
    before = snapshot()
    reply = api.post(_path(job), {**ENDPOINT, "headersJson": {"Authorization": MASK}})
    assert reply.status == 400 and reply.error["details"][0]["field"] == "headersJson.Authorization"
    assert snapshot() == before


def test_marking_a_header_later_seals_its_stored_value(api: Api, job: dict[str, Any]) -> None:
    reply = api.post(_path(job), {**ENDPOINT, "headersJson": {"X-Plain": "test-fake-later"}})
    endpoint_id = reply.body["id"]
    assert _stored("acme", endpoint_id) == {"X-Plain": "test-fake-later"}
    marked = api.patch(_path(job, endpoint_id), {"secretHeaders": ["X-Plain"]})
    assert marked.body["headersJson"] == {"X-Plain": MASK}
    assert _stored("acme", endpoint_id)["X-Plain"].startswith("cpsealed:v1:")
    # Unmarking does not reveal a sealed value: it stays hidden until a new one is sent.
    unmarked = api.patch(_path(job, endpoint_id), {"secretHeaders": None})
    assert unmarked.body["headersJson"] == {"X-Plain": MASK}
    assert unmarked.body["secretHeaders"] == ["X-Plain"]


def test_a_value_stored_in_clear_before_sealing_is_masked_then_sealed(
    api: Api, job: dict[str, Any]
) -> None:
    reply = api.post(_path(job), {**ENDPOINT, "name": "Legacy"})
    endpoint_id = reply.body["id"]
    item = EndpointItem.get("acme", endpoint_id)
    item.update(actions=[EndpointItem.headers_json.set({"Authorization": BEARER})])
    shown = api.get(_path(job, endpoint_id)).body
    assert shown["headersJson"] == {"Authorization": MASK}
    api.patch(_path(job, endpoint_id), {"description": "any change seals it"})
    assert _stored("acme", endpoint_id)["Authorization"].startswith("cpsealed:v1:kms:")


def test_a_sealed_value_does_not_open_for_another_endpoint(
    api: Api, deps: Deps, job: dict[str, Any]
) -> None:
    first, second = _create(api, job), _create(api, job)
    stolen = _stored("acme", first["id"])["Authorization"]
    with pytest.raises(SealingError):
        deps.sealer.open(
            {"Authorization": stolen}, {"tenantId": "acme", "endpointId": second["id"]}
        )
    with pytest.raises(SealingError):
        deps.sealer.open({"X-Api-Key": stolen}, {"tenantId": "acme", "endpointId": first["id"]})


def test_a_value_that_cannot_be_opened_fails_the_run_unsent(
    api: Api, deps: Deps, job: dict[str, Any], target: Target, clock: ManualClock
) -> None:
    deps.settings = replace(deps.settings, allow_private_targets=True)
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    created = _create(api, job, url=target.url + "/hook")
    other = _create(api, job)
    foreign = _stored("acme", other["id"])["Authorization"]
    item = EndpointItem.get("acme", created["id"])
    item.update(actions=[EndpointItem.headers_json.set({"Authorization": foreign})])
    reply = api.post(f"/api/endpoints/{created['id']}/test")
    assert reply.body["status"] == "failed" and reply.body["errorKind"] == "secret"
    assert "not sent" in reply.body["errorMessage"]
    assert target.received == []


def test_openapi_documents_the_secret_fields(api: Api) -> None:
    doc = api.get("/api/doc", key=None).body
    schemas = doc["components"]["schemas"]
    assert "secretHeaders" in schemas["EndpointResponse"]["properties"]
    create = doc["paths"]["/api/jobs/{jobId}/endpoints"]["post"]["requestBody"]
    ref = create["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "secretHeaders" in schemas[ref]["properties"]
    assert MASK in schemas[ref]["properties"]["headersJson"]["description"]


def test_stored_secrets_do_not_follow_the_url_to_another_origin(
    api: Api, job: dict[str, Any]
) -> None:
    created = _create(api, job)
    path = _path(job, created["id"])
    before = snapshot()
    for body in [
        {"url": "https://collector.example.net/health"},
        {"url": "http://api.example.com/health"},  # the scheme is part of the origin
        {"url": "https://api.example.com:8443/health", "headersJson": created["headersJson"]},
    ]:
        reply = api.patch(path, body)
        assert reply.status == 400, (body, reply.body)
        assert reply.error["details"][0]["field"] == "headersJson.Authorization"
        assert snapshot() == before
    same_origin = api.patch(path, {"url": "https://API.example.com:443/v2/health"})
    assert same_origin.status == 200, same_origin.body
    fresh = {"Authorization": "Bearer test-fake-elsewhere", "X-Team": "ops"}
    moved = api.patch(path, {"url": "https://collector.example.net/", "headersJson": fresh})
    assert moved.status == 200, moved.body
    assert moved.body["headersJson"] == {"Authorization": MASK, "X-Team": "ops"}
