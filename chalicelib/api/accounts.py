"""API keys (per tenant) and the admin tenant routes (admin token)."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyResponse,
    TenantCreated,
    TenantList,
    TenantResponse,
)
from chalicelib.domain.schemas import ApiKeyCreate, TenantCreate
from chalicelib.services import accounts

api = Router(__name__, "Accounts")


def _created(key: Any, raw: str) -> ApiKeyCreated:
    return ApiKeyCreated(**ApiKeyResponse.of(key).model_dump(), key=raw)


@api.route(
    "/api-keys",
    "POST",
    "Create an API key",
    status=201,
    body=ApiKeyCreate,
    body_required=False,
    response=ApiKeyCreated,
    description="The raw key is in the response once; only its hash is stored. The body may "
    "be omitted.",
)
def create_key() -> dict[str, Any]:
    request = api.body(ApiKeyCreate, required=False)
    key, raw = accounts.create_key(deps.get(), api.tenant(), request)
    return _created(key, raw).wire()


@api.route("/api-keys", "GET", "List API keys (never the raw keys)", response=ApiKeyList)
def list_keys() -> dict[str, Any]:
    keys = accounts.list_keys(deps.get(), api.tenant())
    return ApiKeyList(api_keys=[ApiKeyResponse.of(k) for k in keys]).wire()


@api.route("/api-keys/{key_id}", "DELETE", "Revoke an API key", status=204)
def revoke_key(key_id: str) -> None:
    accounts.revoke_key(deps.get(), api.tenant(), key_id)


@api.route(
    "/admin/tenants",
    "POST",
    "Create a tenant and its first API key",
    status=201,
    body=TenantCreate,
    response=TenantCreated,
    auth="adminToken",
)
def create_tenant() -> dict[str, Any]:
    d = deps.get()
    accounts.check_admin(d, api.request.headers.get("x-admin-token"))
    tenant, key, raw = accounts.create_tenant(d, api.body(TenantCreate))
    return TenantCreated(tenant=TenantResponse.of(tenant), api_key=_created(key, raw)).wire()


@api.route("/admin/tenants", "GET", "List tenants", response=TenantList, auth="adminToken")
def list_tenants() -> dict[str, Any]:
    d = deps.get()
    accounts.check_admin(d, api.request.headers.get("x-admin-token"))
    return TenantList(tenants=[TenantResponse.of(t) for t in d.tenants.list()]).wire()
