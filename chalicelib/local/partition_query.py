"""Answer moto's queries from the partition asked for, not from a sorted copy of the table.

moto answers every Query by listing all items of the table, sorting them, and only then keeping
the asked partition (on the table) or the matching items (on an index). At 100 000 runs that is
a sort of 100 000 items for each "latest run of this endpoint", so the store's cost per run grew
with the history it held. While a Query runs, the table's item listing is narrowed:

- on the table itself, to the items of the queried partition (moto keys its items by partition,
  so this is a dictionary lookup);
- on an index, to every item unsorted: moto sorts the matches afterwards by the index key and the
  table key, which together are unique, so the order of the answer is unchanged.

Scans and everything else still see the sorted listing (a Scan pages by position in it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

# (table, partition key or None for "the whole table, unsorted") while a Query runs.
_SCOPE: ContextVar[tuple[Any, Any] | None] = ContextVar("cronpilot_query_scope", default=None)
# Position of `index_name` among Table.query's arguments after `self` (moto 5.2).
_INDEX_NAME_AT = 7
_installed: list[tuple[Callable[..., Any], Callable[..., Any]]] = []


def install() -> None:
    """Narrow moto's item listing during queries; idempotent."""
    from moto.dynamodb.models.table import Table

    if _installed:
        return
    query, all_items = Table.query, Table.all_items

    def scoped_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        at = _INDEX_NAME_AT
        index_name = kwargs.get("index_name", args[at] if len(args) > at else None)
        hash_key = kwargs.get("hash_key", args[0] if args else None)
        if not index_name and hash_key is None:
            return query(self, *args, **kwargs)
        token = _SCOPE.set((self, None if index_name else hash_key))
        try:
            return query(self, *args, **kwargs)
        finally:
            _SCOPE.reset(token)

    def scoped_items(self: Any) -> list[Any]:
        scope = _SCOPE.get()
        if scope is None or scope[0] is not self:
            return all_items(self)
        partition = scope[1]
        if partition is None:
            if not self.range_key_attr:
                return list(self.items.values())
            return [item for part in list(self.items.values()) for item in list(part.values())]
        # .get: the items are a defaultdict, and a miss must not add an empty partition.
        found = self.items.get(partition)
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]

    _installed.append((query, all_items))
    Table.query = scoped_query  # type: ignore[method-assign]
    Table.all_items = scoped_items  # type: ignore[method-assign]


def uninstall() -> None:
    """Give moto back its own query (tests compare the two)."""
    from moto.dynamodb.models.table import Table

    if _installed:
        query, all_items = _installed.pop()
        Table.query = query  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
