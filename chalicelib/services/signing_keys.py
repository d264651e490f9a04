"""Signing keys of a tenant: created on demand, rotated in place, never listed raw.

A tenant has no key until it asks for one (`POST /signing-keys`); until then its outbound
requests carry no signature headers.
"""

from __future__ import annotations

from chalicelib.deps import Deps
from chalicelib.domain.entities import Tenant
from chalicelib.domain.signing import SigningKey, new_key_hex, prefix_of
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


def rotate_key(deps: Deps, tenant: Tenant) -> SigningKey:
    """Replace the tenant's key with a new one at once (NotFound when it has none)."""
    return deps.signing_keys.rotate(tenant.id, new_key_hex(), deps.clock.now())
