"""The store's heap trim: arenas capped unless the user chose, malloc_trim called when present."""

from __future__ import annotations

import platform

import pytest

from chalicelib.local.heap_trim import (
    ARENA_ENV,
    PYTHON_ALLOCATOR_ENV,
    HeapTrim,
    store_allocator,
)


def test_arenas_are_capped_unless_the_user_set_a_cap() -> None:
    env: dict[str, str] = {"PATH": "/usr/bin"}
    store_allocator(env, trimmable=False)
    assert env == {"PATH": "/usr/bin", ARENA_ENV: "2"}
    mine = {ARENA_ENV: "8"}
    store_allocator(mine, trimmable=False)
    assert mine == {ARENA_ENV: "8"}


def test_python_objects_come_from_malloc_only_where_a_trim_returns_them() -> None:
    env: dict[str, str] = {}
    store_allocator(env, trimmable=True)
    assert env == {ARENA_ENV: "2", PYTHON_ALLOCATOR_ENV: "malloc"}
    mine = {PYTHON_ALLOCATOR_ENV: "pymalloc"}
    store_allocator(mine, trimmable=True)
    assert mine == {ARENA_ENV: "2", PYTHON_ALLOCATOR_ENV: "pymalloc"}


def test_the_allocator_follows_what_this_machine_can_trim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    env: dict[str, str] = {}
    store_allocator(env)
    assert PYTHON_ALLOCATOR_ENV not in env


def test_a_trim_asks_for_every_arena_and_reports_what_came_back() -> None:
    calls: list[int] = []

    def fake(pad: int) -> int:
        calls.append(pad)
        return len(calls) % 2  # released memory on the first call only

    trim = HeapTrim(fake)
    assert trim.available
    assert trim() is True
    assert trim() is False
    assert calls == [0, 0]


def test_without_an_allocator_to_trim_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    # As where no C library is found; on musl or macOS the symbol is missing instead.
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    trim = HeapTrim()
    assert not trim.available
    assert trim() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_is_found_and_trimmed_for_real() -> None:
    trim = HeapTrim()
    assert trim.available
    assert isinstance(trim(), bool)
