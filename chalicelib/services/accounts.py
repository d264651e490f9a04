"""Tenants, API keys and authentication."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from chalicelib import secrets
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.entities import ApiKey, Tenant, TenantLimits
from chalicelib.domain.errors import Conflict, Unauthorized
from chalicelib.domain.schemas import ApiKeyCreate, TenantCreate
from chalicelib.domain.timeutil import to_ms

KEY_START_CHARS = 10


def hash_key(raw: str) -> str:
    """SHA-256 hex of a raw API key: keys are 256-bit random, so no slow hash is needed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def authenticate(deps: Deps, raw_key: str | None) -> tuple[Tenant, ApiKey]:
    """The tenant behind a usable key, or Unauthorized.

    A successful lookup is remembered for `auth_cache_seconds` (two reads saved per request);
    revoking through this process forgets it at once, other processes within that time.
    """
    if not raw_key:
        raise Unauthorized("Missing API key: send it in the x-api-key header")
    return authenticate_digest(deps, hash_key(raw_key.strip()))


def authenticate_digest(deps: Deps, digest: str) -> tuple[Tenant, ApiKey]:
    """`authenticate` given the key's hash (a web session keeps the hash, never the key)."""
    now = deps.clock.now()
    cached = deps.auth_cache.get(digest, now)
    if cached is not None and cached[1].usable(now):
        return cached
    key = deps.keys.by_hash(digest)
    if key is None or not key.usable(now):
        raise Unauthorized("Invalid, revoked or expired API key")
    tenant = deps.tenants.get(key.tenant_id)
    if tenant is None:
        raise Unauthorized("Invalid, revoked or expired API key")
    deps.auth_cache.put(digest, (tenant, key), now)
    return tenant, key


def check_admin(deps: Deps, token: str | None) -> None:
    """Admin routes need CRONPILOT_ADMIN_TOKEN; with none configured they are closed."""
    expected = secrets.admin_token(deps.settings)
    if not expected:
        raise Unauthorized("Admin routes are disabled: CRONPILOT_ADMIN_TOKEN is not set")
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("Invalid admin token")


def _limits(deps: Deps, request: TenantCreate) -> TenantLimits:
    d = deps.settings.tenant_defaults
    given = request.limits
    return TenantLimits(
        max_endpoints=(given and given.max_endpoints) or d.max_endpoints,
        min_interval_ms=(given and given.min_interval_ms) or d.min_interval_ms,
        ai_monthly_tokens=(
            given.ai_monthly_tokens
            if given and given.ai_monthly_tokens is not None
            else d.ai_monthly_tokens
        ),
        mutations_per_minute=(given and given.mutations_per_minute) or d.mutations_per_minute,
        reads_per_minute=(given and given.reads_per_minute) or d.reads_per_minute,
    )


def create_tenant(deps: Deps, request: TenantCreate) -> tuple[Tenant, ApiKey, str]:
    """A new tenant with its first API key (raw key returned once)."""
    now = deps.clock.now()
    tenant = Tenant(
        id=request.id or ids.tenant_id(),
        name=request.name,
        limits=_limits(deps, request),
        created_at=now,
    )
    raw = request.api_key or ids.raw_api_key()
    if deps.keys.by_hash(hash_key(raw)) is not None:
        raise Conflict("That API key is already in use")
    deps.tenants.create(tenant)
    key = _new_key(deps, tenant.id, raw, "initial", None)
    return tenant, key, raw


def ensure_tenant(deps: Deps, tenant_id: str, name: str, raw_key: str | None) -> str | None:
    """Make sure `tenant_id` exists and, when `raw_key` is given, that it is a live key of it.

    Returns a newly minted raw key when the tenant had to be created without one.
    """
    if deps.tenants.get(tenant_id) is None:
        _, _, raw = create_tenant(deps, TenantCreate(name=name, id=tenant_id, api_key=raw_key))
        return None if raw_key else raw
    if raw_key is not None:
        existing = deps.keys.by_hash(hash_key(raw_key))
        if existing is None:
            _new_key(deps, tenant_id, raw_key, "seeded", None)
        elif existing.tenant_id != tenant_id:
            raise Conflict("CRONPILOT_API_KEY belongs to another tenant")
    return None


def _new_key(
    deps: Deps, tenant_id: str, raw: str, name: str | None, ttl: timedelta | None
) -> ApiKey:
    now = deps.clock.now()
    key = ApiKey(
        id=ids.key_id(),
        tenant_id=tenant_id,
        key_hash=hash_key(raw),
        start=raw[:KEY_START_CHARS],
        name=name,
        created_at=now,
        expires_at=None if ttl is None else now + ttl,
    )
    deps.keys.create(key)
    return key


def create_key(deps: Deps, tenant: Tenant, request: ApiKeyCreate) -> tuple[ApiKey, str]:
    raw = ids.raw_api_key()
    ttl = timedelta(days=request.expires_in_days) if request.expires_in_days else None
    return _new_key(deps, tenant.id, raw, request.name, ttl), raw


def list_keys(deps: Deps, tenant: Tenant) -> list[ApiKey]:
    return deps.keys.list(tenant.id)


def revoke_key(deps: Deps, tenant: Tenant, key_id: str) -> ApiKey:
    """Revoke one of the tenant's keys; it stops working at once."""
    key = deps.keys.revoke(tenant.id, key_id, to_ms(deps.clock.now()))
    deps.auth_cache.forget(key.key_hash)
    return key
