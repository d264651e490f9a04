"""DynamoDB's TTL sweep, which moto lacks: expired items leave the tables and the journal says so.

The candidates are found without the write gate, walking a copy of each table's top-level
index (copying a dict is one step for the interpreter, so concurrent writes cannot break the
walk); they are deleted in small batches under the gate, each re-checked first, so writes wait
for one batch at most. Each deletion is journaled like any write, so a restart does not bring
the item back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from chalicelib.local import journal
from chalicelib.local.journal import Journal, Record
from chalicelib.local.persistence import TableShape

log = logging.getLogger("cronpilot-local.ttl")

BATCH = 200


def _expiry(item: Any, attribute: str) -> float | None:
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return None  # DynamoDB ignores TTL attributes that are not numbers
    try:
        return float(value.value)
    except ValueError:
        return None


def _items(table: Any) -> Iterator[Any]:
    for entry in list(table.items.values()):
        if table.has_range_key:
            yield from list(entry.values())
        else:
            yield entry


def sweep(
    backend: Any,
    shapes: Mapping[str, TableShape],
    gate_lock: threading.Lock,
    log_to: Journal | None,
    now_s: float,
) -> int:
    """Delete every item whose TTL lies before `now_s`; how many were deleted."""
    deleted = 0
    for key, shape in shapes.items():
        if shape.ttl_attribute is None:
            continue
        table = backend.tables.get(shape.name)
        if table is None:
            continue
        attribute = shape.ttl_attribute
        candidates = [
            item
            for item in _items(table)
            if (expires := _expiry(item, attribute)) is not None and expires < now_s
        ]
        for start in range(0, len(candidates), BATCH):
            deleted += _delete(
                table, key, shape, candidates[start : start + BATCH], gate_lock, log_to, now_s
            )
    return deleted


def _delete(
    table: Any,
    key: str,
    shape: TableShape,
    batch: list[Any],
    gate_lock: threading.Lock,
    log_to: Journal | None,
    now_s: float,
) -> int:
    lines: list[bytes] = []
    with gate_lock:
        for item in batch:
            current = table.get_item(item.hash_key, item.range_key)
            attribute = shape.ttl_attribute or ""
            if current is None or (expires := _expiry(current, attribute)) is None:
                continue
            if expires >= now_s:
                continue  # rewritten with a later expiry since the walk
            table.delete_item(item.hash_key, item.range_key)
            if table.has_range_key and not table.items.get(item.hash_key):
                table.items.pop(item.hash_key, None)  # moto leaves the emptied partition behind
            item_key = shape.key_of(current.to_json()["Attributes"])
            lines.append(journal.record_line(Record(key, item_key, expires, None)))
        ticket = log_to.append(lines) if log_to is not None and lines else None
    if ticket is not None and log_to is not None:
        log_to.wait_durable(ticket)
    return len(lines)
