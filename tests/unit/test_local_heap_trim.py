"""The store's heap trim: arenas capped unless the user chose, malloc_trim called when present."""

from __future__ import annotations

import platform

import pytest

from chalicelib.local.heap_trim import ARENA_ENV, HeapTrim, limit_arenas


def test_arenas_are_capped_unless_the_user_set_a_cap() -> None:
    env: dict[str, str] = {"PATH": "/usr/bin"}
    limit_arenas(env)
    assert env == {"PATH": "/usr/bin", ARENA_ENV: "1"}
    mine = {ARENA_ENV: "8"}
    limit_arenas(mine)
    assert mine == {ARENA_ENV: "8"}


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
