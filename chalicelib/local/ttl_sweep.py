"""DynamoDB's TTL sweep, which moto lacks: expired items leave the tables and the journal says so.

The candidates are found without the write gate, a slice per second (see Sweeper), walking a
copy of each table's top-level index (copying a dict is one step for the interpreter, so
concurrent writes cannot break the walk); they are deleted in small batches under the gate,
each re-checked first, so writes wait for one batch at most. Each deletion is journaled like
any write, so a restart does not bring the item back.
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


def _walk(backend: Any, shapes: Mapping[str, TableShape]) -> Iterator[tuple[str, Any, Any]]:
    """(table key, moto table, item) of every item of the tables with TTL on."""
    for key, shape in shapes.items():
        table = backend.tables.get(shape.name) if shape.ttl_attribute else None
        if table is not None:
            for item in _items(table):
                yield key, table, item


class Sweeper:
    """Walks the tables a slice per `step`, so a pass over a million items never stalls the store.

    Checking every item at once held the store's interpreter for seconds at a million items
    (lateness spikes once a minute); a budget per step spreads the same work over the period.
    """

    def __init__(
        self,
        backend: Any,
        shapes: Mapping[str, TableShape],
        gate_lock: threading.Lock,
        log_to: Journal | None,
        budget: int = 20_000,
    ) -> None:
        self._backend = backend
        self._shapes = dict(shapes)
        self._lock = gate_lock
        self._journal = log_to
        self._budget = budget
        self._walk: Iterator[tuple[str, Any, Any]] | None = None
        self.deleted = 0
        self.pass_deleted = 0

    @property
    def in_pass(self) -> bool:
        """Whether a pass has started and not reached the end of the tables."""
        return self._walk is not None

    def step(self, now_s: float) -> int:
        """Check the next `budget` items (starting a pass if none runs); how many were deleted."""
        if self._walk is None:
            self._walk = _walk(self._backend, self._shapes)
            self.pass_deleted = 0
        expired: dict[tuple[str, int], tuple[Any, TableShape, list[Any]]] = {}
        for checked, (key, table, item) in enumerate(self._walk, start=1):
            shape = self._shapes[key]
            expires = _expiry(item, shape.ttl_attribute or "")
            if expires is not None and expires < now_s:
                expired.setdefault((key, id(table)), (table, shape, []))[2].append(item)
            if checked >= self._budget:
                break
        else:
            self._walk = None
        deleted = 0
        for (key, _), (table, shape, items) in expired.items():
            for start in range(0, len(items), BATCH):
                batch = items[start : start + BATCH]
                deleted += _delete(table, key, shape, batch, self._lock, self._journal, now_s)
        self.deleted += deleted
        self.pass_deleted += deleted
        return deleted


def sweep(
    backend: Any,
    shapes: Mapping[str, TableShape],
    gate_lock: threading.Lock,
    log_to: Journal | None,
    now_s: float,
) -> int:
    """Delete every item whose TTL lies before `now_s` in one pass; how many were deleted."""
    sweeper = Sweeper(backend, shapes, gate_lock, log_to)
    deleted = sweeper.step(now_s)
    while sweeper.in_pass:
        deleted += sweeper.step(now_s)
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
