"""Endpoint configurations a process has read, each valid for exactly one version.

A run's claim answers with the endpoint's schedule state, and the state names the version of
the configuration written with it (`configVersion`: both items are written in one
transaction whenever the configuration changes). A configuration held at that version is the
one a read would return, so the claim skips the read. No time-based expiry is involved: a
mismatched or missing version is a miss, never a stale answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

# About 3 KB each as items (a 2 KB configuration): at most about 30 MB. Runs visit endpoints in
# a cycle, which a least-recently-used cache smaller than the cycle never hits, so the bound is
# set above the endpoints a stage usually has rather than tight.
MAX_ENTRIES = 10_000


class VersionedCache(Generic[V]):
    """At most `limit` values, the least recently used dropped first; a value is returned only
    for the version it was put with. Values are shared by the threads of a batch: read them,
    never change them."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._limit = limit
        self._entries: OrderedDict[tuple[str, str], tuple[int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: int | None) -> V | None:
        """The value put for `key` at `version`; None for any other version, or none known."""
        if version is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], version: int, value: V) -> None:
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
