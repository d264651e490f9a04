"""VersionedCache: a value only at the version it was put with, the least recently used
dropped first."""

from __future__ import annotations

import threading

from chalicelib.store.config_cache import VersionedCache


def test_a_value_is_returned_only_at_its_version() -> None:
    cache: VersionedCache[str] = VersionedCache()
    cache.put(("t", "e"), 3, "third")
    assert cache.get(("t", "e"), 3) == "third"
    assert cache.get(("t", "e"), 2) is None
    assert cache.get(("t", "e"), 4) is None
    assert cache.get(("t", "e"), None) is None, "a state naming no version is always a miss"
    assert cache.get(("t", "other"), 3) is None
    assert cache.get(("other", "e"), 3) is None


def test_a_newer_put_replaces_the_older_version() -> None:
    cache: VersionedCache[str] = VersionedCache()
    cache.put(("t", "e"), 1, "first")
    cache.put(("t", "e"), 2, "second")
    assert cache.get(("t", "e"), 1) is None
    assert cache.get(("t", "e"), 2) == "second"
    assert len(cache) == 1


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: VersionedCache[int] = VersionedCache(limit=2)
    cache.put(("t", "a"), 1, 1)
    cache.put(("t", "b"), 1, 2)
    assert cache.get(("t", "a"), 1) == 1  # now the most recently used
    cache.put(("t", "c"), 1, 3)
    assert len(cache) == 2
    assert cache.get(("t", "b"), 1) is None
    assert cache.get(("t", "a"), 1) == 1 and cache.get(("t", "c"), 1) == 3


def test_forget_drops_an_entry_and_ignores_an_unknown_one() -> None:
    cache: VersionedCache[int] = VersionedCache()
    cache.put(("t", "a"), 1, 1)
    cache.forget(("t", "a"))
    cache.forget(("t", "never"))
    assert cache.get(("t", "a"), 1) is None and len(cache) == 0


def test_threads_sharing_a_cache_keep_it_within_its_limit() -> None:
    cache: VersionedCache[int] = VersionedCache(limit=50)
    wrong: list[tuple[int, int]] = []

    def work(offset: int) -> None:
        for i in range(500):
            key = ("t", str((offset + i) % 120))
            cache.put(key, i, i)
            got = cache.get(key, i)
            if got is not None and got != i:  # every value is put with itself as its version
                wrong.append((i, got))

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len(cache) == 50
