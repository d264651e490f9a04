"""Sliding-window limiter (behaviours-to-test.md P 202-208) over in-memory slot counters;
tests/integration/test_rate_limits.py runs it on the shared DynamoDB counters."""

from __future__ import annotations

import pytest

from chalicelib.domain.ratelimit import WINDOW_MS, Decision, SlidingWindowLimiter, admission_cap

T = 1_735_689_600_000  # 2025-01-01T00:00:00Z in epoch ms, a window boundary


class MemoryCounters:
    """SlotCounters in a dict: what DynamoCounters does, minus the table."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.reads = 0

    def count(self, key: str, slot: int) -> int:
        self.reads += 1
        return self.counts.get((key, slot), 0)

    def add_below(self, key: str, slot: int, cap: int) -> int | None:
        current = self.counts.get((key, slot), 0)
        if current >= cap:
            return None
        self.counts[(key, slot)] = current + 1
        return current + 1


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()


@pytest.fixture
def limiter(counters: MemoryCounters) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(counters)


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


def test_two_limiters_on_the_same_counters_share_the_limit(counters: MemoryCounters) -> None:
    one, two = SlidingWindowLimiter(counters), SlidingWindowLimiter(counters)
    decisions = [(one if n % 2 else two).hit("u1", 3, T + n) for n in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


def test_the_previous_slot_is_read_once_per_limiter_and_minute(
    limiter: SlidingWindowLimiter, counters: MemoryCounters
) -> None:
    for n in range(5):
        limiter.hit("u1", 100, T + n)
    assert counters.reads == 1
    limiter.hit("u1", 100, T + WINDOW_MS)
    limiter.hit("u1", 100, T + WINDOW_MS + 1)
    assert counters.reads == 2


@pytest.mark.parametrize(
    ("limit", "previous", "weight", "cap"),
    [(10, 0, 1.0, 10), (10, 10, 0.5, 5), (3, 3, 1 / 3, 2), (10, 10, 1.0, 0), (10, 4, 0.3, 9)],
)
def test_admission_cap(limit: int, previous: int, weight: float, cap: int) -> None:
    assert admission_cap(limit, previous, weight) == cap
