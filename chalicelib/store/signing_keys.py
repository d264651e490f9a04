"""Signing keys: one per tenant, read on every dispatch, replaced in place on rotation."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.signing import SigningKey, prefix_of
from chalicelib.domain.timeutil import from_ms, ms_floor, to_ms
from chalicelib.store.codec import instant_or_none, ms_or_none
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import SigningKeyItem

ALREADY_EXISTS = "Signing key already exists. Use POST /signing-keys/rotate to replace it."
NONE_EXISTS = "No signing key exists. Use POST /signing-keys to create one."
ROTATED_CONCURRENTLY = "The signing key was rotated by another request at the same time. Retry."


class SigningKeyRepo:
    """The tenant's signing key, keyed by tenant id (so one per tenant by construction)."""

    def get(self, tenant_id: str) -> SigningKey | None:
        """The tenant's key (strongly consistent: a rotated key is never served), or None."""
        try:
            return _key(SigningKeyItem.get(tenant_id, consistent_read=True))
        except SigningKeyItem.DoesNotExist:
            return None

    def create(self, key: SigningKey) -> None:
        """Store the tenant's first key; Conflict when it already has one."""
        try:
            _item(key).save(condition=SigningKeyItem.tenant_id.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise Conflict(ALREADY_EXISTS) from None
            raise

    def rotate(
        self, tenant_id: str, key_hex: str, now: datetime, grace: timedelta = timedelta(0)
    ) -> SigningKey:
        """Replace the tenant's key with `key_hex`; the replaced key keeps signing alongside
        for `grace` (zero: it stops at once). A key still in an earlier grace window is
        dropped: at most two keys sign.

        NotFound without a key; Conflict if another rotation replaced it in between."""
        current = self.get(tenant_id)
        if current is None:
            raise NotFound(NONE_EXISTS)
        now = ms_floor(now)
        kept = grace > timedelta(0)
        # As the reference does, the new key's createdAt is the rotation time too.
        key = SigningKey(
            tenant_id,
            key_hex,
            prefix_of(key_hex),
            created_at=now,
            rotated_at=now,
            previous_key_hex=current.key_hex if kept else None,
            previous_key_prefix=current.key_prefix if kept else None,
            previous_expires_at=ms_floor(now + grace) if kept else None,
        )
        try:
            _item(key).save(condition=SigningKeyItem.key_hex == current.key_hex)
        except PutError as exc:
            if not condition_failed(exc):
                raise
            if self.get(tenant_id) is None:
                raise NotFound(NONE_EXISTS) from None
            raise Conflict(ROTATED_CONCURRENTLY) from None
        return key

    def delete(self, tenant_id: str) -> None:
        """Remove the tenant's key; removing a missing key is not an error."""
        SigningKeyItem(tenant_id).delete()


def _item(key: SigningKey) -> SigningKeyItem:
    return SigningKeyItem(
        key.tenant_id,
        key_hex=key.key_hex,
        key_prefix=key.key_prefix,
        created_at=to_ms(key.created_at),
        rotated_at=ms_or_none(key.rotated_at),
        previous_key_hex=key.previous_key_hex,
        previous_key_prefix=key.previous_key_prefix,
        previous_expires_at=ms_or_none(key.previous_expires_at),
    )


def _key(item: SigningKeyItem) -> SigningKey:
    return SigningKey(
        tenant_id=item.tenant_id,
        key_hex=item.key_hex,
        key_prefix=item.key_prefix,
        created_at=from_ms(int(item.created_at)),
        rotated_at=instant_or_none(item.rotated_at),
        previous_key_hex=item.previous_key_hex,
        previous_key_prefix=item.previous_key_prefix,
        previous_expires_at=instant_or_none(item.previous_expires_at),
    )
