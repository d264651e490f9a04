"""Answer moto's queries from the partition asked for, not from a sorted copy of the table.

moto answers every Query by listing all items of the table, sorting them, and only then keeping
the asked partition (on the table) or the matching items (on an index). At 100 000 runs that is
a sort of 100 000 items for each "latest run of this endpoint", so the store's cost per run grew
with the history it held. While a Query runs, the table's item listing is narrowed:

- on the table itself, to the items of the queried partition (moto keys its items by partition,
  so this is a dictionary lookup) that meet the query's range condition, if it has one;
- on an index, to every item unsorted: moto sorts the matches afterwards by the index key and the
  table key, which together are unique, so the order of the answer is unchanged.

Scans and everything else still see the sorted listing (a Scan pages by position in it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

# (table, partition key or None for "the whole table, unsorted", range condition or None)
# while a Query runs.
_SCOPE: ContextVar[tuple[Any, Any, tuple[str, Any] | None] | None] = ContextVar(
    "cronpilot_query_scope", default=None
)
# Positions among Table.query's arguments after `self` (moto 5.2).
_RANGE_COMPARISON_AT = 1
_RANGE_OBJS_AT = 2
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
        condition = None
        if not index_name:
            comparison = _argument(args, kwargs, "range_comparison", _RANGE_COMPARISON_AT)
            if comparison:
                condition = (comparison, _argument(args, kwargs, "range_objs", _RANGE_OBJS_AT))
        token = _SCOPE.set((self, None if index_name else hash_key, condition))
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
        if not self.range_key_attr:
            return [found]
        condition = scope[2]
        if condition is None:
            return list(found.values())
        return _within(list(found.values()), *condition)

    _installed.append((query, all_items))
    Table.query = scoped_query  # type: ignore[method-assign]
    Table.all_items = scoped_items  # type: ignore[method-assign]


def _within(items: list[Any], comparison: str, objs: Any) -> list[Any]:
    """The items meeting the range condition, and the nearest one on each side of them.

    moto sorts the whole partition before applying the range condition: at a thousand
    endpoints a tenant, reading one endpoint's two items (a `between`) sorted them all. A range
    condition holds for one run of keys in sort order, and moto's paging looks past that run
    only at the first item after it (a page that stops at its limit there says so), so the
    run and its two neighbours give the same answers with little to sort.
    """
    from moto.dynamodb.comparisons import get_comparison_func

    # DynamoType.compare, with the condition's values cast once rather than once per item.
    holds = get_comparison_func(comparison)
    values = [obj.cast_value for obj in objs]
    inside: list[Any] = []
    keys: list[Any] = []
    outside: list[tuple[Any, Any]] = []
    for item in items:
        # A key table's range keys are all of one type: their plain values sort as they do.
        key = item.range_key.cast_value
        if holds(key, *values):
            inside.append(item)
            keys.append(key)
        else:
            outside.append((key, item))
    if not inside:
        return []
    low, high = min(keys), max(keys)
    below = [pair for pair in outside if pair[0] < low]
    above = [pair for pair in outside if pair[0] > high]
    if below:
        inside.append(max(below, key=lambda pair: pair[0])[1])
    if above:
        inside.append(min(above, key=lambda pair: pair[0])[1])
    return inside


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, at: int) -> Any:
    return kwargs.get(name, args[at] if len(args) > at else None)


def uninstall() -> None:
    """Give moto back its own query (tests compare the two)."""
    from moto.dynamodb.models.table import Table

    if _installed:
        query, all_items = _installed.pop()
        Table.query = query  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
