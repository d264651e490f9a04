"""Rate-limit counters shared by every API container: one item per key and minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.domain.ratelimit import WINDOW_MS
from chalicelib.domain.timeutil import from_ms
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import RateLimitItem

# A slot's item is read as "previous" during the next slot, then TTL may take it.
KEEP_FOR = timedelta(minutes=3)


def _bucket(key: str, slot: int) -> str:
    return f"{key}#{slot}"


class DynamoCounters:
    """`SlotCounters` on the rate-limits table: a conditional ADD per admitted request."""

    def count(self, key: str, slot: int) -> int:
        try:
            item = RateLimitItem.get(_bucket(key, slot))
        except RateLimitItem.DoesNotExist:
            return 0
        return int(item.hits or 0)

    def add_below(self, key: str, slot: int, cap: int) -> int | None:
        r = RateLimitItem
        expires: datetime = from_ms(slot * WINDOW_MS) + KEEP_FOR
        try:
            data = r._get_connection().update_item(
                _bucket(key, slot),
                actions=[r.hits.add(1), r.expires_at.set(expires)],
                condition=r.hits.does_not_exist() | (r.hits < cap),
                return_values="UPDATED_NEW",
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return int(data["Attributes"]["hits"]["N"])
