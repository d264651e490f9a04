"""The store's long-lived objects leave the cycle collector; garbage among them does not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from chalicelib.local import gc_freeze


class Node:
    """A container the cycle collector tracks; two of them make a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    # Frozen objects are never collected: hand this process's back to the collector.
    yield
    gc.unfreeze()


def test_a_settle_frees_cyclic_garbage_and_freezes_what_is_alive() -> None:
    alive = Node()
    a, b = Node(), Node()
    a.other, b.other = b, a
    garbage = weakref.ref(a)
    del a, b
    settled = gc_freeze.settle()
    assert garbage() is None, "the cycle was frozen instead of collected"
    assert settled.collected >= 2
    assert settled.frozen == gc.get_freeze_count() > 0
    # A collection after the settle walks only objects made since: the frozen are skipped.
    assert all(alive is not o for o in gc.get_objects())


def test_objects_made_after_a_settle_are_collected_as_usual() -> None:
    gc_freeze.settle()
    a, b = Node(), Node()
    a.other, b.other = b, a
    garbage = weakref.ref(a)
    del a, b
    assert garbage() is not None
    gc.collect()
    assert garbage() is None


def test_a_bulk_load_runs_without_collections_and_settles_afterwards() -> None:
    collections: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(count)
    try:
        with gc_freeze.bulk_load():
            loaded = [Node() for _ in range(20_000)]  # far past the young generation's 700
            assert not gc.isenabled()
            assert collections == []
    finally:
        gc.callbacks.remove(count)
    assert gc.isenabled()
    assert collections == ["start"], "one collection, the settle's"
    assert all(n is not loaded[0] for n in gc.get_objects())


def test_a_bulk_load_leaves_collection_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with gc_freeze.bulk_load():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failed_bulk_load_still_turns_collection_back_on() -> None:
    with pytest.raises(RuntimeError), gc_freeze.bulk_load():
        raise RuntimeError("restore failed")
    assert gc.isenabled()
