"""Signing-key routes and repository (behaviours-to-test.md 166 storage part, 181)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from openapi_spec_validator import validate

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.signing import SigningKey, new_key_hex, prefix_of, signed_headers, verify
from chalicelib.domain.timeutil import to_ms
from chalicelib.store.signing_keys import SigningKeyRepo
from tests.conftest import T0, Api, new_tenant, snapshot

HEX64 = re.compile(r"[0-9a-f]{64}")
EMPTY = {"hasKey": False, "keyPrefix": None, "createdAt": None, "rotatedAt": None}
CONFLICT_MESSAGE = "Signing key already exists. Use POST /signing-keys/rotate to replace it."
NOT_FOUND_MESSAGE = "No signing key exists. Use POST /signing-keys to create one."


def _create(api: Api, **kw: Any) -> dict[str, Any]:
    reply = api.post("/api/signing-keys", **kw)
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


# 181, step by step.


def test_new_tenant_has_no_key(api: Api) -> None:
    reply = api.get("/api/signing-keys")
    assert reply.status == 200
    assert reply.body == EMPTY  # the nullable fields are present as null, not left out


def test_create_returns_the_raw_key_once(api: Api, deps: Deps) -> None:
    created = _create(api)
    assert set(created) == {"rawKey", "keyPrefix"}
    raw = created["rawKey"]
    assert HEX64.fullmatch(raw)
    assert created["keyPrefix"] == "sk_" + raw[:8]

    stored = deps.signing_keys.get("acme")
    assert stored is not None and stored.key_hex == raw

    info = api.get("/api/signing-keys")
    assert info.status == 200
    assert info.body == {
        "hasKey": True,
        "keyPrefix": created["keyPrefix"],
        "createdAt": "2025-01-01T00:00:00.000Z",
        "rotatedAt": None,
    }
    assert raw not in json.dumps(info.body)


def test_second_create_is_409_and_changes_nothing(api: Api) -> None:
    first = _create(api)
    before = snapshot()
    again = api.post("/api/signing-keys")
    assert again.status == 409
    assert again.body == {
        "error": {"code": "CONFLICT", "message": CONFLICT_MESSAGE, "details": None}
    }
    assert snapshot() == before
    assert api.get("/api/signing-keys").body["keyPrefix"] == first["keyPrefix"]


def test_rotate_without_grace_replaces_the_key_at_once(
    api: Api, deps: Deps, clock: ManualClock
) -> None:
    old = _create(api)["rawKey"]
    body = '{"ping":true}'
    ts = int(T0.timestamp())
    old_headers = signed_headers(old, ts, body)

    clock.advance(timedelta(hours=1, milliseconds=250))
    rotated = api.post("/api/signing-keys/rotate", {"graceMinutes": 0})
    assert rotated.status == 200, rotated.body
    assert set(rotated.body) == {"rawKey", "keyPrefix"}
    new = rotated.body["rawKey"]
    assert HEX64.fullmatch(new) and new != old
    assert rotated.body["keyPrefix"] == prefix_of(new)

    stored = deps.signing_keys.get("acme")
    assert stored is not None and stored.key_hex == new
    assert to_ms(stored.rotated_at or T0) == to_ms(clock.now())

    stamp, sig = old_headers["X-Cronpilot-Timestamp"], old_headers["X-Cronpilot-Signature"]
    assert verify(old, stamp, sig, body, ts)
    assert not verify(new, stamp, sig, body, ts)
    assert stored.signing_keys(clock.now()) == (new,)  # no grace window: the old key is gone
    fresh = signed_headers(stored.key_hex, ts, body)
    assert verify(new, fresh["X-Cronpilot-Timestamp"], fresh["X-Cronpilot-Signature"], body, ts)

    info = api.get("/api/signing-keys").body
    assert info == {
        "hasKey": True,
        "keyPrefix": prefix_of(new),
        "createdAt": "2025-01-01T01:00:00.250Z",  # the current key's creation: the rotation
        "rotatedAt": "2025-01-01T01:00:00.250Z",
    }


def test_rotate_keeps_the_old_key_signing_for_the_default_grace_window(
    api: Api, deps: Deps, clock: ManualClock
) -> None:
    old = _create(api)
    clock.advance(timedelta(minutes=5))
    rotated = api.post("/api/signing-keys/rotate")  # no body: the 24 h default
    assert rotated.status == 200, rotated.body
    assert rotated.body["previousKeyPrefix"] == old["keyPrefix"]
    assert rotated.body["previousKeyExpiresAt"] == "2025-01-02T00:05:00.000Z"
    new = rotated.body["rawKey"]
    stored = deps.signing_keys.get("acme")
    assert stored is not None
    assert stored.signing_keys(clock.now()) == (new, old["rawKey"])
    info = api.get("/api/signing-keys").body
    assert info["previousKeyPrefix"] == old["keyPrefix"]
    assert info["previousKeyExpiresAt"] == "2025-01-02T00:05:00.000Z"
    assert "rawKey" not in info and old["rawKey"] not in json.dumps(info)

    clock.advance(timedelta(hours=24))
    assert stored.signing_keys(clock.now()) == (new,)
    after = api.get("/api/signing-keys").body
    assert "previousKeyPrefix" not in after and "previousKeyExpiresAt" not in after


def test_rotating_again_drops_the_oldest_key(api: Api, deps: Deps, clock: ManualClock) -> None:
    _create(api)
    second = api.post("/api/signing-keys/rotate", {"graceMinutes": 60}).body
    third = api.post("/api/signing-keys/rotate", {"graceMinutes": 60}).body
    assert third["previousKeyPrefix"] == second["keyPrefix"]
    stored = deps.signing_keys.get("acme")
    assert stored is not None
    assert stored.signing_keys(clock.now()) == (third["rawKey"], second["rawKey"])


@pytest.mark.parametrize(
    "body", [{"graceMinutes": -1}, {"graceMinutes": 10081}, {"graceMinutes": "60"}, [1]]
)
def test_rotate_rejects_a_bad_grace_window_and_changes_nothing(api: Api, body: Any) -> None:
    _create(api)
    before = snapshot()
    reply = api.post("/api/signing-keys/rotate", body)
    assert reply.status == 400 and reply.error["code"] == "VALIDATION_ERROR"
    assert snapshot() == before
    if isinstance(body, dict):
        assert reply.error["details"][0]["field"] == "graceMinutes"


def test_rotate_without_a_key_is_404_and_changes_nothing(api: Api) -> None:
    before = snapshot()
    reply = api.post("/api/signing-keys/rotate")
    assert reply.status == 404
    assert reply.body == {
        "error": {"code": "NOT_FOUND", "message": NOT_FOUND_MESSAGE, "details": None}
    }
    assert snapshot() == before
    assert api.get("/api/signing-keys").body == EMPTY


def test_another_tenant_never_sees_or_rotates_the_key(api: Api, deps: Deps) -> None:
    mine = _create(api)
    intruder = new_tenant(deps, "intruder")
    before = snapshot()

    assert api.get("/api/signing-keys", key=intruder).body == EMPTY
    reply = api.post("/api/signing-keys/rotate", key=intruder)
    assert reply.status == 404 and reply.error["code"] == "NOT_FOUND"
    assert snapshot() == before

    theirs = _create(api, key=intruder)  # its own key, not a conflict with acme's
    assert theirs["rawKey"] != mine["rawKey"]
    rotated = api.post("/api/signing-keys/rotate", key=intruder).body["rawKey"]

    stored = deps.signing_keys.get("acme")
    assert stored is not None and stored.key_hex == mine["rawKey"]
    assert api.get("/api/signing-keys").body["keyPrefix"] == mine["keyPrefix"]
    other = deps.signing_keys.get("intruder")
    assert other is not None and other.key_hex == rotated


def test_routes_need_an_api_key(api: Api) -> None:
    for method in ("GET", "POST"):
        reply = api.call(method, "/api/signing-keys", key=None)
        assert reply.status == 401 and reply.error["code"] == "UNAUTHORIZED"
    assert api.post("/api/signing-keys/rotate", key=None).status == 401


def test_openapi_documents_the_routes(api: Api) -> None:
    doc = api.get("/api/doc", key=None).body
    validate(doc)
    schemas = doc["components"]["schemas"]
    info_ref = doc["paths"]["/api/signing-keys"]["get"]["responses"]["200"]
    created_ref = doc["paths"]["/api/signing-keys"]["post"]["responses"]["201"]
    rotated_ref = doc["paths"]["/api/signing-keys/rotate"]["post"]["responses"]["200"]
    assert info_ref["content"]["application/json"]["schema"]["$ref"].endswith("/SigningKeyInfo")
    for ref in (created_ref, rotated_ref):
        assert ref["content"]["application/json"]["schema"]["$ref"].endswith("/SigningKeyCreated")
    grace = {"previousKeyPrefix", "previousKeyExpiresAt"}
    assert set(schemas["SigningKeyInfo"]["properties"]) == set(EMPTY) | grace
    assert set(schemas["SigningKeyCreated"]["properties"]) == {"rawKey", "keyPrefix"} | grace
    rotate_body = doc["paths"]["/api/signing-keys/rotate"]["post"]["requestBody"]
    assert rotate_body["required"] is False  # existing clients send no body
    rotate_ref = rotate_body["content"]["application/json"]["schema"]["$ref"]
    assert set(schemas[rotate_ref.rsplit("/", 1)[1]]["properties"]) == {"graceMinutes"}
    assert "409" in doc["paths"]["/api/signing-keys"]["post"]["responses"]


# 166, storage part: the repository on its own.


def _key(tenant_id: str = "acme") -> SigningKey:
    key_hex = new_key_hex()
    return SigningKey(tenant_id, key_hex, prefix_of(key_hex), T0)


def test_repo_create_get_rotate_delete(deps: Deps) -> None:
    repo = deps.signing_keys
    assert repo.get("acme") is None
    first = _key()
    repo.create(first)
    assert repo.get("acme") == first
    with pytest.raises(Conflict):
        repo.create(_key())
    assert repo.get("acme") == first

    later = T0 + timedelta(days=1)
    replacement = new_key_hex()
    rotated = repo.rotate("acme", replacement, later)
    assert (rotated.key_hex, rotated.rotated_at, rotated.created_at) == (replacement, later, later)
    assert repo.get("acme") == rotated

    repo.delete("acme")
    assert repo.get("acme") is None
    repo.delete("acme")  # idempotent
    with pytest.raises(NotFound):
        repo.rotate("acme", new_key_hex(), later)
    assert repo.get("acme") is None


def test_concurrent_rotations_do_not_both_hand_out_a_key(deps: Deps) -> None:
    """A rotation that read a key another rotation has since replaced is refused: otherwise its
    caller would be handed a raw key that no longer signs anything."""
    first = _key()
    deps.signing_keys.create(first)

    class Stale(SigningKeyRepo):
        """Its first read returns the key as it was before the other rotation."""

        reads = 0

        def get(self, tenant_id: str) -> SigningKey | None:
            self.reads += 1
            return first if self.reads == 1 else super().get(tenant_id)

    winner = deps.signing_keys.rotate("acme", new_key_hex(), T0)
    with pytest.raises(Conflict):
        Stale().rotate("acme", new_key_hex(), T0)
    assert deps.signing_keys.get("acme") == winner
