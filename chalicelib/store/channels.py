"""Alert channels, keyed (tenantId, channelId): a tenant's channels are one query."""

from __future__ import annotations

from typing import cast

from pynamodb.exceptions import DeleteError

from chalicelib.domain.channels import Channel, ChannelKind
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import ChannelItem


class ChannelRepo:
    def list(self, tenant_id: str) -> list[Channel]:
        """Every channel of the tenant, oldest first."""
        found = [to_entity(i) for i in ChannelItem.query(tenant_id, consistent_read=True)]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def get(self, tenant_id: str, channel_id: str) -> Channel | None:
        try:
            return to_entity(ChannelItem.get(tenant_id, channel_id, consistent_read=True))
        except ChannelItem.DoesNotExist:
            return None

    def put(self, channel: Channel) -> Channel:
        """Create or replace whole."""
        to_item(channel).save()
        return channel

    def delete(self, channel: Channel) -> bool:
        """Remove; False when it was already gone."""
        try:
            ChannelItem(channel.tenant_id, channel.id).delete(
                condition=ChannelItem.channel_id.exists()
            )
        except DeleteError as exc:
            if condition_failed(exc):
                return False
            raise
        return True


def to_item(c: Channel) -> ChannelItem:
    return ChannelItem(
        c.tenant_id,
        c.id,
        name=c.name,
        kind=c.kind,
        target=c.target,
        job_ids=list(c.job_ids) if c.job_ids is not None else None,
        enabled=c.enabled,
        created_at=to_ms(c.created_at),
        updated_at=to_ms(c.updated_at),
    )


def to_entity(i: ChannelItem) -> Channel:
    return Channel(
        tenant_id=i.tenant_id,
        id=i.channel_id,
        name=i.name,
        kind=cast(ChannelKind, i.kind),
        target=i.target,
        created_at=from_ms(int(i.created_at)),
        updated_at=from_ms(int(i.updated_at)),
        job_ids=tuple(str(j) for j in i.job_ids) if i.job_ids is not None else None,
        enabled=bool(i.enabled),
    )
