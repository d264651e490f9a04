"""`cronpilot admin tenants`, `keys` and `signing-key`: each test works in a tenant of its own."""

from __future__ import annotations

import uuid

import pytest

from tests.client.conftest import ADMIN_TOKEN, Cli


@pytest.fixture
def tenant_key(cli: Cli) -> str:
    """A new tenant, created through the CLI; its first API key."""
    tenant_id = "t" + uuid.uuid4().hex[:10]
    created = cli(
        "admin", "tenants", "create", "Client Tests", "--id", tenant_id,
        "--max-endpoints", "5", "--min-interval", "5s", "--json",
        env={"CRONPILOT_ADMIN_TOKEN": ADMIN_TOKEN},
    )  # fmt: skip
    assert created.code == 0, created.err
    body = created.json()
    assert body["tenant"]["id"] == tenant_id
    assert body["tenant"]["limits"]["maxEndpoints"] == 5
    assert body["tenant"]["limits"]["minIntervalMs"] == 5_000
    key: str = body["apiKey"]["key"]
    return key


def test_admin_tenants_need_the_admin_token(cli: Cli) -> None:
    table = cli(
        "admin", "tenants", "create", "Readable", env={"CRONPILOT_ADMIN_TOKEN": ADMIN_TOKEN}
    )
    assert table.code == 0, table.err
    assert "API key: cp_" in table.out and "not shown again" in table.err

    listed = cli("admin", "tenants", "list", "--admin-token", ADMIN_TOKEN)
    assert listed.code == 0 and "Readable" in listed.out

    wrong = cli("admin", "tenants", "list", "--admin-token", "not-the-token")
    assert wrong.code == 4 and "UNAUTHORIZED (401)" in wrong.err
    missing = cli("admin", "tenants", "list")
    assert missing.code == 4 and "no admin token" in missing.err
    bad_id = cli("admin", "tenants", "create", "X", "--id", "Bad Id!", "--admin-token", ADMIN_TOKEN)
    assert bad_id.code == 6 and "id" in bad_id.err
    short_key = cli("admin", "tenants", "create", "X", "--tenant-api-key", "short",
                    "--admin-token", ADMIN_TOKEN)  # fmt: skip
    assert short_key.code == 6 and "apiKey" in short_key.err


def test_keys_create_list_revoke(cli: Cli, tenant_key: str) -> None:
    as_tenant = {"CRONPILOT_API_KEY": tenant_key}
    created = cli(
        "keys", "create", "--name", "ci", "--expires-in-days", "30", "--json", env=as_tenant
    )
    assert created.code == 0, created.err
    new_key = created.json()
    assert new_key["name"] == "ci" and new_key["key"].startswith(new_key["start"])

    listed = cli("keys", env=as_tenant)  # `list` is the default verb
    assert listed.code == 0
    assert new_key["id"] in listed.out and new_key["key"] not in listed.out

    # The new key works on its own, until it is revoked.
    assert cli("jobs", "--api-key", new_key["key"]).code == 0
    revoked = cli("keys", "revoke", new_key["id"], env=as_tenant)
    assert revoked.code == 0 and revoked.out.strip() == f"API key {new_key['id']} revoked."
    refused = cli("jobs", "--api-key", new_key["key"])
    assert refused.code == 4 and "UNAUTHORIZED (401)" in refused.err
    assert "Check the API key" in refused.err

    assert cli("keys", "create", "--expires-in-days", "0", env=as_tenant).code == 6
    assert cli("keys", "revoke", "key_missing", env=as_tenant).code == 5


def test_signing_key_lifecycle(cli: Cli, tenant_key: str) -> None:
    as_tenant = {"CRONPILOT_API_KEY": tenant_key}
    none_yet = cli("signing-key", "--json", env=as_tenant)  # `show` is the default verb
    assert none_yet.code == 0 and none_yet.json()["hasKey"] is False
    assert cli("signing-key", "rotate", env=as_tenant).code == 5

    created = cli("signing-key", "create", "--json", env=as_tenant)
    assert created.code == 0, created.err
    raw = created.json()["rawKey"]
    assert len(raw) == 64
    again = cli("signing-key", "create", env=as_tenant)
    assert again.code == 1 and "CONFLICT (409)" in again.err

    shown = cli("signing-key", "show", env=as_tenant)
    assert shown.code == 0 and "hasKey" in shown.out and raw not in shown.out

    rotated = cli("signing-key", "rotate", "--json", env=as_tenant).json()
    assert rotated["rawKey"] != raw
    assert rotated["keyPrefix"] == "sk_" + rotated["rawKey"][:8]
    assert rotated["previousKeyPrefix"] == "sk_" + raw[:8]  # signs alongside for 24 h
    info = cli("signing-key", "show", "--json", env=as_tenant).json()
    assert info["keyPrefix"] == rotated["keyPrefix"] and info["rotatedAt"]
    assert info["previousKeyExpiresAt"] == rotated["previousKeyExpiresAt"]

    at_once = cli("signing-key", "rotate", "--grace-minutes", "0", env=as_tenant)
    assert at_once.code == 0 and "no longer verify" in at_once.err
    assert "previousKeyPrefix" not in cli("signing-key", "show", "--json", env=as_tenant).json()
