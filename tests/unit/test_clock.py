"""The clocks (chalicelib/clock.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib import clock as clock_module
from chalicelib.clock import ManualClock, SystemClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_manual_clock_starts_where_told_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = ManualClock(datetime(2025, 1, 1, 2, tzinfo=plus_two))
    assert clock.now() == T0
    assert clock.now().tzinfo is UTC


def test_manual_clock_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(T0)
    assert clock.now() == clock.now() == T0
    assert clock.advance(timedelta(seconds=90)) == T0 + timedelta(seconds=90)
    assert clock.now() == T0 + timedelta(seconds=90)
    assert clock.advance(timedelta(0)) == T0 + timedelta(seconds=90)


def test_manual_clock_refuses_negative_advance() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(milliseconds=-1))
    assert clock.now() == T0


def test_manual_clock_set_jumps_forward_only() -> None:
    clock = ManualClock(T0)
    clock.set(T0 + timedelta(hours=1))
    assert clock.now() == T0 + timedelta(hours=1)
    clock.set(T0 + timedelta(hours=1))  # same instant is fine
    with pytest.raises(ValueError, match="forward"):
        clock.set(T0)
    assert clock.now() == T0 + timedelta(hours=1)


def test_manual_clock_set_normalises_to_utc() -> None:
    clock = ManualClock(T0)
    clock.set(datetime(2025, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))))  # 00:00Z
    assert clock.now() == T0
    assert clock.now().tzinfo is UTC


def test_system_clock_is_aware_utc_with_millisecond_precision() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0


def test_system_clock_truncates_to_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = datetime(2025, 1, 1, 0, 0, 0, 123_987, tzinfo=UTC)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            assert tz is UTC
            return cls.fromtimestamp(fixed.timestamp(), UTC)

    monkeypatch.setattr(clock_module, "datetime", FrozenDatetime)
    assert SystemClock().now() == datetime(2025, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
