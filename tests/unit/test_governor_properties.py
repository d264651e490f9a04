"""Property tests of the governor: invariants over arbitrary endpoints and instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.entities import Endpoint, ScheduleSource
from chalicelib.domain.governor import plan_next_run

SETTINGS = settings(max_examples=200, deadline=None)
DAY_MS = 86_400_000
CRONS = [
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "15,45 */3 * * *",
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]

nows = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
intervals = st.integers(min_value=1_000, max_value=7 * DAY_MS)
offsets = st.integers(min_value=-DAY_MS, max_value=DAY_MS).map(
    lambda ms: timedelta(milliseconds=ms)
)


def make(now: datetime, **fields: Any) -> Endpoint:
    base: dict[str, Any] = {
        "tenant_id": "tenant-1",
        "id": "ep-1",
        "job_id": "job-1",
        "name": "probe",
        "url": "https://example.com/hook",
        "next_run_at": now,
        "created_at": now,
        "updated_at": now,
    }
    base.update(fields)
    return Endpoint(**base)


@st.composite
def endpoints(
    draw: st.DrawFn, /, now: datetime, *, hints: str = "any", paused: bool | None = None
) -> Endpoint:
    """An arbitrary endpoint planned at `now`.

    hints: "any" (none, fresh or expired), "expired" (always present and expired), "none".
    paused: None for either, True for a pause in the future, False for no active pause.
    """
    fields: dict[str, Any] = {"failure_count": draw(st.integers(0, 50))}
    baseline = draw(st.sampled_from(["interval", "cron", "none"]))
    if baseline == "interval":
        fields["baseline_interval_ms"] = draw(intervals)
    elif baseline == "cron":
        fields["baseline_cron"] = draw(st.sampled_from(CRONS))
        fields["timezone"] = draw(st.sampled_from(ZONES))
    low = draw(st.none() | intervals)
    high = draw(st.none() | intervals)
    if low is not None and high is not None and low > high:
        low, high = high, low
    fields["min_interval_ms"] = low
    fields["max_interval_ms"] = high
    # The limits count from the last run: never run, just ran, or up to two days ago.
    fields["last_run_at"] = draw(
        st.none() | st.integers(0, 2 * DAY_MS).map(lambda ms: now - timedelta(milliseconds=ms))
    )

    if hints != "none" and (hints == "expired" or draw(st.booleans())):
        fields["ai_hint_interval_ms"] = draw(st.none() | intervals)
        fields["ai_hint_next_run_at"] = draw(st.none() | offsets.map(lambda d: now + d))
        if hints == "expired" or draw(st.booleans()):
            expiry = -draw(st.integers(0, DAY_MS))  # at or before now
        else:
            expiry = draw(st.integers(1, DAY_MS))
        fields["ai_hint_expires_at"] = now + timedelta(milliseconds=expiry)

    if paused is True:
        fields["paused_until"] = now + timedelta(milliseconds=draw(st.integers(1, DAY_MS)))
    elif paused is False:
        fields["paused_until"] = draw(
            st.none() | st.integers(0, DAY_MS).map(lambda ms: now - timedelta(milliseconds=ms))
        )
    else:
        fields["paused_until"] = draw(st.none() | offsets.map(lambda d: now + d))
    return make(now, **fields)


@st.composite
def cases(draw: st.DrawFn, /, **kwargs: Any) -> tuple[datetime, Endpoint]:
    now = draw(nows)
    return now, draw(endpoints(now, **kwargs))


@SETTINGS
@given(cases())
def test_never_before_now_and_source_is_known(case: tuple[datetime, Endpoint]) -> None:
    now, ep = case
    plan = plan_next_run(now, ep)
    assert plan.next_run_at >= now
    assert plan.source in get_args(ScheduleSource)
    assert plan.next_run_at.tzinfo is not None


@SETTINGS
@given(cases(paused=False))
def test_clamps_hold_when_not_paused(case: tuple[datetime, Endpoint]) -> None:
    now, ep = case
    plan = plan_next_run(now, ep)
    assert plan.source != "paused"
    last = ep.last_run_at
    if ep.max_interval_ms:
        latest = max(now, (last or now) + timedelta(milliseconds=ep.max_interval_ms))
        assert plan.next_run_at <= latest
    if ep.min_interval_ms and last is not None:  # the generator keeps min <= max
        assert plan.next_run_at >= last + timedelta(milliseconds=ep.min_interval_ms)


@SETTINGS
@given(cases(paused=False))
def test_a_never_run_endpoint_is_not_held_back_by_its_minimum(
    case: tuple[datetime, Endpoint],
) -> None:
    now, ep = case
    never_ran = replace(ep, last_run_at=None)
    assert plan_next_run(now, never_ran) == plan_next_run(
        now, replace(never_ran, min_interval_ms=None)
    )


@SETTINGS
@given(cases(paused=False))
def test_the_minimum_only_ever_delays_to_last_run_plus_min(
    case: tuple[datetime, Endpoint],
) -> None:
    now, ep = case
    plan = plan_next_run(now, ep)
    if plan.source == "clamped-min":
        assert ep.last_run_at is not None and ep.min_interval_ms
        earliest = ep.last_run_at + timedelta(milliseconds=ep.min_interval_ms)
        assert plan.next_run_at == max(now, earliest)


@SETTINGS
@given(cases(paused=True))
def test_pause_always_wins(case: tuple[datetime, Endpoint]) -> None:
    now, ep = case
    plan = plan_next_run(now, ep)
    assert (plan.next_run_at, plan.source) == (ep.paused_until, "paused")


@SETTINGS
@given(nows, intervals, st.integers(0, 50))
def test_interval_backoff_is_capped_at_x32(now: datetime, interval: int, failures: int) -> None:
    ep = make(now, baseline_interval_ms=interval, failure_count=failures)
    plan = plan_next_run(now, ep)
    multiplier = 32 if failures >= 5 else 2**failures
    assert plan.next_run_at == now + timedelta(milliseconds=interval * multiplier)
    assert plan.source == "baseline-interval"


@SETTINGS
@given(nows, st.sampled_from(CRONS), st.sampled_from(ZONES), st.integers(0, 50))
def test_cron_baseline_ignores_failures(now: datetime, cron: str, tz: str, failures: int) -> None:
    plain = plan_next_run(now, make(now, baseline_cron=cron, timezone=tz))
    failing = plan_next_run(now, make(now, baseline_cron=cron, timezone=tz, failure_count=failures))
    assert failing == plain
    assert plain.source == "baseline-cron"
    assert plain.next_run_at > now


@SETTINGS
@given(cases(hints="expired"))
def test_expired_hints_change_nothing(case: tuple[datetime, Endpoint]) -> None:
    now, ep = case
    assert ep.ai_hint_expires_at is not None and ep.ai_hint_expires_at <= now
    without = replace(
        ep,
        ai_hint_interval_ms=None,
        ai_hint_next_run_at=None,
        ai_hint_expires_at=None,
        ai_hint_reason=None,
    )
    assert plan_next_run(now, ep) == plan_next_run(now, without)


@SETTINGS
@given(cases())
def test_deterministic(case: tuple[datetime, Endpoint]) -> None:
    now, ep = case
    assert plan_next_run(now, ep) == plan_next_run(now, replace(ep))
