"""In-process moto with DynamoDB's atomic conditional writes.

moto evaluates a write's condition and applies the write without a lock, so two threads of one
process (the executor runs a batch's messages concurrently) can both pass a condition that only
one of them should: `test_lambda_shape` saw a slot claimed twice in about one run in five.
DynamoDB applies each conditional write atomically, and so does the local store (its write
gate); the tests' moto does too while `atomic_item_writes` is active.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _serialised(write: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return write(self, *args, **kwargs)

    return locked


@contextmanager
def atomic_item_writes() -> Iterator[None]:
    """Serialise moto's DynamoDB item writes (re-entrant: a batch write calls put_item)."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in WRITES}
    for name, write in originals.items():
        setattr(DynamoDBBackend, name, _serialised(write, lock))
    try:
        yield
    finally:
        for name, write in originals.items():
            setattr(DynamoDBBackend, name, write)
