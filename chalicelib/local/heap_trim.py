"""Give the store's freed heap memory back to the system.

The store serves each connection on its own thread and holds every item in memory, and items
come and go all day (runs written, the TTL sweep deleting the expired ones). glibc's allocator
gives threads their own arenas (up to eight per core) and returns freed memory only from the
top of a heap, so the store's resident memory crept up by about 1 MB a minute with a flat item
count: memory Python had freed, kept by the allocator. Two settings bound it: fewer arenas for
the store process (set in its environment before it starts) and a trim at each TTL sweep pass.
Elsewhere than glibc both are no-ops.

The trim cannot reach what pymalloc holds, though: CPython takes memory for objects of up to
512 bytes (most of an item's) in 1 MiB arenas, and gives an arena back only once every object in
it is gone. Runs turning over (written all day, swept when they expire) leave arenas partly
used, each kept by a few live objects: the store grew by 17-19 MB an hour in the soaks with a
flat item count, while the objects in use did not grow. So the store allocates every Python
object from glibc (`PYTHONMALLOC=malloc`), where the trim gives free pages back 4 KB at a time:
a 24-minute soak went from +19.3 +- 2.0 to -19.8 +- 3.6 MB an hour (bench/results/local_soak.txt),
for about 24 MB more to start with (glibc's per-object header). Set only where the trim exists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable, MutableMapping

log = logging.getLogger("cronpilot-local.heap")

# glibc and CPython read these once, at process start: they must be in the store's environment.
ARENA_ENV = "MALLOC_ARENA_MAX"
ARENAS = "2"
PYTHON_ALLOCATOR_ENV = "PYTHONMALLOC"


def store_allocator(env: MutableMapping[str, str], trimmable: bool | None = None) -> None:
    """The store's allocator settings, unless the user chose their own: few malloc arenas, and
    Python objects from malloc where a trim can give their memory back (`trimmable`: found)."""
    env.setdefault(ARENA_ENV, ARENAS)
    if trimmable is None:
        trimmable = _malloc_trim() is not None
    if trimmable:
        env.setdefault(PYTHON_ALLOCATOR_ENV, "malloc")


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
