"""Sliding-window limiter (behaviours-to-test.md P 202-208, adapted to hit/purge)."""

from __future__ import annotations

import pytest

from chalicelib.domain.ratelimit import WINDOW_MS, Decision, SlidingWindowLimiter

T = 1_735_689_600_000  # 2025-01-01T00:00:00Z in epoch ms, a window boundary


@pytest.fixture
def limiter() -> SlidingWindowLimiter:
    return SlidingWindowLimiter()


def test_limit_five_allows_five_with_decreasing_remaining(limiter: SlidingWindowLimiter) -> None:
    decisions = [limiter.hit("u1", 5, T + i) for i in range(5)]
    assert [d.allowed for d in decisions] == [True] * 5
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 for d in decisions)
    refused = limiter.hit("u1", 5, T + 5)
    assert (refused.allowed, refused.remaining, refused.limit) == (False, 0, 5)


def test_limit_three_refuses_the_fourth(limiter: SlidingWindowLimiter) -> None:
    assert [limiter.hit("u1", 3, T).allowed for _ in range(4)] == [True, True, True, False]


def test_refused_requests_are_not_counted(limiter: SlidingWindowLimiter) -> None:
    for _ in range(3):
        limiter.hit("u1", 3, T)
    for _ in range(10):
        assert not limiter.hit("u1", 3, T + 1_000).allowed
    # Next window at 2/3 through: previous 3 weighted by 1/3 = 1 -> exactly 2 more fit. Had the
    # ten refusals been counted, the previous slot would weigh 13/3 -> 4 and nothing would fit.
    later = T + WINDOW_MS + 40_000
    assert [limiter.hit("u1", 3, later).allowed for _ in range(3)] == [True, True, False]


def test_keys_are_independent(limiter: SlidingWindowLimiter) -> None:
    for _ in range(2):
        assert limiter.hit("u1", 2, T).allowed
    assert not limiter.hit("u1", 2, T).allowed
    other = limiter.hit("u2", 2, T)
    assert (other.allowed, other.remaining) == (True, 1)


@pytest.mark.parametrize("into_ms", [0, 1, 500, 30_000, 59_000, 59_999])
def test_refusal_reset_in_seconds_within_window(
    limiter: SlidingWindowLimiter, into_ms: int
) -> None:
    now = T + into_ms
    limiter.hit("u1", 1, now)
    refused = limiter.hit("u1", 1, now)
    assert not refused.allowed
    assert 0 < refused.reset_s <= 60
    assert refused.reset_s == max(1, -(-(WINDOW_MS - into_ms) // 1000))


def test_sliding_window_weights_previous_window(limiter: SlidingWindowLimiter) -> None:
    for i in range(10):
        assert limiter.hit("u1", 10, T + i * 1_000).allowed
    assert not limiter.hit("u1", 10, T + 10_000).allowed
    # 30 s into window 1 the 10 from window 0 weigh 10 x 0.5 = 5: exactly 5 more fit.
    half = T + WINDOW_MS + 30_000
    decisions = [limiter.hit("u1", 10, half) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]


def test_two_windows_later_fully_reset(limiter: SlidingWindowLimiter) -> None:
    for _ in range(10):
        limiter.hit("u1", 10, T)
    fresh = limiter.hit("u1", 10, T + 2 * WINDOW_MS)
    assert fresh == Decision(allowed=True, limit=10, remaining=9, reset_s=60)


def test_previous_window_still_counts_at_its_start(limiter: SlidingWindowLimiter) -> None:
    for _ in range(10):
        limiter.hit("u1", 10, T + WINDOW_MS - 1)
    assert not limiter.hit("u1", 10, T + WINDOW_MS).allowed  # weight 1.0 at the boundary


def test_purge_drops_only_counters_two_windows_old(limiter: SlidingWindowLimiter) -> None:
    limiter.hit("old", 5, T)
    limiter.hit("recent", 5, T + WINDOW_MS)
    limiter.hit("current", 5, T + 2 * WINDOW_MS)
    limiter.purge(T + 2 * WINDOW_MS + 1)
    assert set(limiter._counters) == {"recent", "current"}
    limiter.purge(T + 4 * WINDOW_MS)
    assert limiter._counters == {}


def test_purge_keeps_the_previous_window_that_still_weighs(
    limiter: SlidingWindowLimiter,
) -> None:
    for _ in range(4):
        limiter.hit("u1", 4, T)
    limiter.purge(T + WINDOW_MS)
    # Still counted after the purge: at the start of window 1 the previous 4 weigh fully.
    assert not limiter.hit("u1", 4, T + WINDOW_MS).allowed
