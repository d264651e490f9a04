"""Roll back a cancelled moto transaction by its own items, not a copy of every table it touches.

moto makes a deep copy of each table named in a TransactWriteItems before applying it (one per
item of the transaction, each replacing the last), so that it can swap the copy back in if the
transaction is cancelled. Its cost grows with everything the table holds: creating an endpoint,
a transaction of its two items, took 33 ms instead of 12 with a few hundred endpoints stored,
and 0.9 s under 16 clients. A swapped-in copy would also leave the store's other parts (the TTL
sweep, the journal's table shapes) holding the table object moto no longer uses.

Here the tables are never copied: the items the transaction names are saved before it runs and
put back (or removed, if they did not exist) when it is cancelled. The store applies writes one
at a time (write_gate.py), so nothing else changes those items meanwhile.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

_installed: list[tuple[Any, Callable[..., Any]]] = []


def install() -> None:
    """Save and restore a transaction's own items instead of copying tables; idempotent."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if _installed:
        return
    transact = models.DynamoDBBackend.transact_write_items

    def deepcopy_but_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # moto's own rollback then swaps each table for itself: a no-op.
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _before(self, transact_items)
        try:
            transact(self, transact_items)
        except Exception:
            _restore(self, saved)
            raise

    # The module's own name for `copy`, used by its transaction backup alone among reads and
    # writes of whole tables.
    setattr(models, "copy", SimpleNamespace(deepcopy=deepcopy_but_tables))  # noqa: B010
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed.append((copy, transact))


def uninstall() -> None:
    """Give moto back its own transactions (tests)."""
    from moto.dynamodb import models

    if _installed:
        module, transact = _installed.pop()
        setattr(models, "copy", module)  # noqa: B010
        models.DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]


Saved = list[tuple[str, dict[str, Any], dict[str, Any] | None]]


def _before(backend: Any, transact_items: list[dict[str, Any]]) -> Saved:
    """(table, key, the item's attributes or None) for each item the transaction names."""
    from moto.dynamodb.exceptions import MockValidationException

    saved: Saved = []
    for entry in transact_items:
        for op in entry.values():
            if not isinstance(op, dict):
                continue  # not an operation: moto refuses the transaction itself
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue  # moto refuses the transaction itself, with nothing applied
            key = op.get("Key")
            if key is None:
                item = op.get("Item") or {}
                key = {table.hash_key_attr: item.get(table.hash_key_attr)}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = item.get(table.range_key_attr)
            try:
                current = backend.get_item(table.name, key)
            except MockValidationException:
                continue  # a key not of the table's shape: moto refuses it before any write
            attributes = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            saved.append((table.name, key, attributes))
    return saved


def _restore(backend: Any, saved: Saved) -> None:
    """Put every saved item back as it was; remove those that did not exist."""
    for name, key, attributes in reversed(saved):
        if attributes is None:
            if backend.get_item(name, key) is not None:
                backend.delete_item(name, key)
        else:
            backend.put_item(name, attributes)
