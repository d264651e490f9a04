"""Signing keys of a tenant: created on demand, rotated with a grace window, never listed raw.

Every outbound request is signed. A tenant that did not create its key before its first
execution gets one then (`POST /signing-keys` answers 409 afterwards; rotate to see a key).
After a rotation the replaced key signs alongside the new one until its grace window ends.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib.deps import Deps
from chalicelib.domain.entities import Tenant
from chalicelib.domain.signing import DEFAULT_GRACE, SigningKey, new_key_hex, prefix_of
from chalicelib.domain.timeutil import ms_floor


def get_key(deps: Deps, tenant: Tenant) -> SigningKey | None:
    """The tenant's signing key, or None when it has not created one."""
    return deps.signing_keys.get(tenant.id)


def create_key(deps: Deps, tenant: Tenant) -> SigningKey:
    """A new key for a tenant that has none (Conflict otherwise); the raw key is in the result."""
    key_hex = new_key_hex()
    key = SigningKey(tenant.id, key_hex, prefix_of(key_hex), ms_floor(deps.clock.now()))
    deps.signing_keys.create(key)
    return key


def rotate_key(deps: Deps, tenant: Tenant, grace: timedelta = DEFAULT_GRACE) -> SigningKey:
    """Replace the tenant's key with a new one; the old one signs too for `grace` (NotFound
    when the tenant has no key)."""
    key = deps.signing_keys.rotate(tenant.id, new_key_hex(), deps.clock.now(), grace)
    deps.signing_cache.forget(tenant.id)
    return key
