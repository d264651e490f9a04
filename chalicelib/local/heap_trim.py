"""Give the store's freed heap memory back to the system.

The store serves each connection on its own thread and holds every item in memory, and items
come and go all day (runs written, the TTL sweep deleting the expired ones). glibc's allocator
gives threads their own arenas (up to eight per core) and returns freed memory only from the
top of a heap, so the store's resident memory crept up by about 1 MB a minute with a flat item
count: memory Python had freed, kept by the allocator. Two settings bound it: one arena for
the store process (set in its environment before it starts) and a trim at each TTL sweep pass.
Elsewhere than glibc both are no-ops.

One arena, not two: with two, the items restored at start stay in the main heap while the
request threads write new runs into their own arena, so as the history turns over, memory freed
in one does not serve the other (an hour-long soak at the retention limit rose 17 MB; with one
arena it fell 8). The interpreter lock already serialises allocation: nothing is lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable, MutableMapping

log = logging.getLogger("cronpilot-local.heap")

# glibc reads it once, at process start: it must be in the store's environment.
ARENA_ENV = "MALLOC_ARENA_MAX"
ARENAS = "1"


def limit_arenas(env: MutableMapping[str, str]) -> None:
    """Cap the store's malloc arenas unless the user set a cap of their own."""
    env.setdefault(ARENA_ENV, ARENAS)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


class HeapTrim:
    """Calls glibc's malloc_trim(0): frees the unused pages of every arena, not only the top."""

    def __init__(self, trim: Callable[[int], int] | None = None) -> None:
        self._trim = trim if trim is not None else _malloc_trim()

    @property
    def available(self) -> bool:
        """Whether this process's allocator can be trimmed."""
        return self._trim is not None

    def __call__(self) -> bool:
        """Trim now; whether any memory went back to the system."""
        if self._trim is None:
            return False
        return bool(self._trim(0))
