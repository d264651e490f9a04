"""Tenants and their API keys."""

from __future__ import annotations

from dataclasses import asdict

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.entities import ApiKey, Tenant, TenantLimits
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import instant_or_none, ms_or_none
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import ApiKeyItem, TenantItem


class TenantRepo:
    """Tenants by id."""

    def get(self, tenant_id: str) -> Tenant | None:
        try:
            return _tenant(TenantItem.get(tenant_id))
        except TenantItem.DoesNotExist:
            return None

    def create(self, tenant: Tenant) -> None:
        item = TenantItem(
            tenant.id,
            name=tenant.name,
            created_at=to_ms(tenant.created_at),
            limits=asdict(tenant.limits),
        )
        try:
            item.save(condition=TenantItem.tenant_id.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                raise Conflict(f"Tenant {tenant.id!r} already exists") from None
            raise

    def list(self) -> list[Tenant]:
        return sorted((_tenant(i) for i in TenantItem.scan()), key=lambda t: t.created_at)

    def reserve_endpoint(self, tenant_id: str, limit: int) -> bool:
        """Take one endpoint slot if fewer than `limit` are taken; False when full."""
        item = TenantItem(tenant_id)
        has_room = TenantItem.live_endpoints.does_not_exist() | (TenantItem.live_endpoints < limit)
        try:
            item.update(
                actions=[TenantItem.live_endpoints.add(1)],
                condition=TenantItem.tenant_id.exists() & has_room,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release_endpoints(self, tenant_id: str, count: int = 1) -> None:
        """Give back `count` endpoint slots (archived, deleted, or a create that failed)."""
        if count <= 0:
            return
        TenantItem(tenant_id).update(
            actions=[TenantItem.live_endpoints.add(-count)],
            condition=TenantItem.tenant_id.exists(),
        )

    def add_ai_tokens(self, tenant_id: str, period: str, tokens: int) -> None:
        """Count `tokens` toward the tenant's usage in `period` (a new period starts at zero)."""
        t = TenantItem
        for _ in range(3):
            try:
                TenantItem(tenant_id).update(
                    actions=[t.ai_tokens_used.add(tokens)],
                    condition=t.tenant_id.exists() & (t.ai_tokens_period == period),
                )
                return
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
            try:
                TenantItem(tenant_id).update(
                    actions=[t.ai_tokens_period.set(period), t.ai_tokens_used.set(tokens)],
                    condition=t.tenant_id.exists()
                    & (t.ai_tokens_period.does_not_exist() | (t.ai_tokens_period != period)),
                )
                return
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
        raise Conflict("could not record AI token usage")

    def ai_usage(self, tenant_id: str, period: str) -> tuple[int, int | None]:
        """(tokens used in `period`, epoch ms of the last analysis skipped for budget)."""
        try:
            item = TenantItem.get(
                tenant_id, attributes_to_get=["aiTokensPeriod", "aiTokensUsed", "aiSkippedAt"]
            )
        except TenantItem.DoesNotExist:
            return 0, None
        used = int(item.ai_tokens_used or 0) if item.ai_tokens_period == period else 0
        skipped = int(item.ai_skipped_at) if item.ai_skipped_at is not None else None
        return used, skipped

    def mark_ai_skipped(self, tenant_id: str, at_ms: int) -> None:
        """Remember that an analysis was refused for budget (shown by health and the dashboard)."""
        TenantItem(tenant_id).update(
            actions=[TenantItem.ai_skipped_at.set(at_ms)], condition=TenantItem.tenant_id.exists()
        )

    def live_endpoints(self, tenant_id: str) -> int:
        try:
            item = TenantItem.get(tenant_id, attributes_to_get=["liveEndpoints"])
        except TenantItem.DoesNotExist:
            return 0
        return int(item.live_endpoints or 0)


def _tenant(item: TenantItem) -> Tenant:
    return Tenant(
        id=item.tenant_id,
        name=item.name,
        created_at=from_ms(int(item.created_at)),
        limits=TenantLimits(**item.limits),
    )


class ApiKeyRepo:
    """API keys: looked up by hash on every request, listed and revoked per tenant."""

    def by_hash(self, key_hash: str) -> ApiKey | None:
        try:
            return _key(ApiKeyItem.get(key_hash))
        except ApiKeyItem.DoesNotExist:
            return None

    def create(self, key: ApiKey) -> None:
        ApiKeyItem(
            key.key_hash,
            key_id=key.id,
            tenant_id=key.tenant_id,
            start=key.start,
            name=key.name,
            created_at=to_ms(key.created_at),
            expires_at=ms_or_none(key.expires_at),
            revoked_at=ms_or_none(key.revoked_at),
        ).save(condition=ApiKeyItem.key_hash.does_not_exist())

    def list(self, tenant_id: str) -> list[ApiKey]:
        items = ApiKeyItem.by_tenant.query(tenant_id)
        return sorted((_key(i) for i in items), key=lambda k: k.created_at)

    def revoke(self, tenant_id: str, key_id: str, at_ms: int) -> ApiKey:
        matches = list(ApiKeyItem.by_tenant.query(tenant_id, ApiKeyItem.key_id == key_id))
        if not matches:
            raise NotFound("API key not found")
        item = ApiKeyItem.get(matches[0].key_hash)
        if item.revoked_at is None:
            item.update(actions=[ApiKeyItem.revoked_at.set(at_ms)])
        return _key(item)


def _key(item: ApiKeyItem) -> ApiKey:
    return ApiKey(
        id=item.key_id,
        tenant_id=item.tenant_id,
        key_hash=item.key_hash,
        start=item.start,
        name=item.name,
        created_at=from_ms(int(item.created_at)),
        expires_at=instant_or_none(item.expires_at),
        revoked_at=instant_or_none(item.revoked_at),
    )
