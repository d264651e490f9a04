"""Cron evaluation (scheduling.md §10, behaviours-to-test.md R 219) and DST handling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.cron import next_cron, validate_cron, zone
from chalicelib.domain.errors import CronError

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        pytest.param("* * * * *", utc(2025, 1, 1, 0, 0), utc(2025, 1, 1, 0, 1), id="every-minute"),
        pytest.param("0 * * * *", utc(2025, 1, 1, 0, 30), utc(2025, 1, 1, 1, 0), id="hourly"),
        pytest.param("0 0 * * *", utc(2025, 1, 1, 12, 0), utc(2025, 1, 2, 0, 0), id="daily"),
        pytest.param(
            "0 0 * * 0", utc(2025, 1, 1, 12, 0), utc(2025, 1, 5, 0, 0), id="weekly-wed-to-sun"
        ),
        pytest.param("*/15 * * * *", utc(2025, 1, 1, 0, 0), utc(2025, 1, 1, 0, 15), id="step"),
        pytest.param(
            "0 0 1 * *", utc(2025, 1, 31, 12, 0), utc(2025, 2, 1, 0, 0), id="month-rollover"
        ),
        pytest.param(
            "59 23 31 12 *", utc(2025, 12, 31, 23, 59), utc(2026, 12, 31, 23, 59), id="on-slot-year"
        ),
        pytest.param(
            "0 0 * * *", utc(2025, 12, 31, 23, 59, 59), utc(2026, 1, 1, 0, 0), id="year-rollover"
        ),
        pytest.param(
            "0 0 29 2 *", utc(2025, 1, 1), utc(2028, 2, 29), id="leap-day-skips-to-leap-year"
        ),
        pytest.param(
            "0 12 * * 1-5", utc(2025, 1, 3, 12, 0), utc(2025, 1, 6, 12, 0), id="weekday-range"
        ),
        pytest.param(
            "0 0 13 * 5", utc(2025, 1, 1), utc(2025, 1, 3), id="dom-or-dow-when-both-restricted"
        ),
        pytest.param("@daily", utc(2025, 1, 1, 6), utc(2025, 1, 2), id="macro-daily"),
        pytest.param("@hourly", utc(2025, 1, 1, 6, 1), utc(2025, 1, 1, 7), id="macro-hourly"),
    ],
)
def test_next_occurrence_examples(expr: str, after: datetime, expected: datetime) -> None:
    assert next_cron(expr, after) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 1, 1, 0, 0), utc(2025, 1, 1, 0, 15)),  # exactly on a slot: the following one
        (utc(2025, 1, 1, 0, 15), utc(2025, 1, 1, 0, 30)),
        (utc(2025, 1, 1, 0, 14, 59, 999_999), utc(2025, 1, 1, 0, 15)),
        (utc(2025, 1, 1, 0, 15, 0, 1), utc(2025, 1, 1, 0, 30)),
    ],
)
def test_strictly_after(after: datetime, expected: datetime) -> None:
    assert next_cron("*/15 * * * *", after) == expected


def test_result_is_aware_utc_even_for_other_zones_and_inputs() -> None:
    after = datetime(2025, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    result = next_cron("0 * * * *", after, BERLIN)
    assert result.tzinfo is UTC
    assert result == utc(2025, 6, 1, 4, 0)  # 13:00 Tokyo = 04:00 UTC


def test_naive_instant_is_refused() -> None:
    # A naive datetime would otherwise be read in the host's local zone.
    with pytest.raises(ValueError, match="timezone-aware"):
        next_cron("* * * * *", datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "expr",
    ["not a cron", "61 * * * *", "* 24 * * *", "0 0 32 * *", "0 0 31 2 *", "*/0 * * * *", "@nope"],
)
def test_invalid_expression_names_itself(expr: str) -> None:
    pattern = "^" + re.escape(f'Invalid cron expression "{expr}": ')
    with pytest.raises(CronError, match=pattern):
        validate_cron(expr)
    with pytest.raises(CronError, match=pattern):
        next_cron(expr, utc(2025, 1, 1))


@pytest.mark.parametrize("expr", ["* * * * * *", "0 0 0 * * *", "* * * *", "0 0 * *", "", "   "])
def test_only_five_fields_accepted(expr: str) -> None:
    with pytest.raises(CronError, match="expected 5 fields"):
        validate_cron(expr)
    # cronsim alone would run a 6-field expression every second: evaluation refuses it too.
    with pytest.raises(CronError, match="expected 5 fields"):
        next_cron(expr, utc(2025, 1, 1))


@pytest.mark.parametrize(
    ("expr", "normalised"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  0   9 * *  1-5 ", "0 9 * * 1-5"),
        ("0,30 8-18/2 1,15 JAN-JUN MON", "0,30 8-18/2 1,15 JAN-JUN MON"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("@weekly", "@weekly"),
    ],
)
def test_validate_returns_normalised(expr: str, normalised: str) -> None:
    assert validate_cron(expr) == normalised


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown IANA timezone"):
        zone("Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="Unknown IANA timezone"):
        next_cron("* * * * *", utc(2025, 1, 1), "Mars/Olympus_Mons")


# --- DST -------------------------------------------------------------------------------------
# cronsim follows Debian cron for jobs with a fixed minute and hour:
#   * spring forward: a wall time inside the gap (02:30 on 2025-03-30 in Berlin does not exist)
#     fires at the first wall time after the gap, 03:00 CEST = 01:00 UTC, once;
#   * fall back: a wall time inside the repeated hour (02:30 on 2025-10-26 in Berlin happens at
#     00:30 UTC and again at 01:30 UTC) fires once, at the first occurrence;
#   * jobs with `*` in the minute or hour field follow real elapsed time (a `*/30` job runs at
#     both 02:00 CEST and 02:00 CET).
# next_cron also never returns an instant at or before `after`, even when `after` lies in the
# second pass of a repeated hour (cronsim alone returns the first, already past, occurrence).


def chain(expr: str, start: datetime, count: int, tz: str) -> list[datetime]:
    out: list[datetime] = []
    current = start
    for _ in range(count):
        current = next_cron(expr, current, tz)
        out.append(current)
    return out


def test_spring_forward_gap_runs_at_end_of_gap_once() -> None:
    runs = chain("30 2 * * *", utc(2025, 3, 29, 12), 3, BERLIN)
    assert runs == [
        utc(2025, 3, 30, 1, 0),  # 02:30 does not exist: 03:00 CEST
        utc(2025, 3, 31, 0, 30),  # 02:30 CEST
        utc(2025, 4, 1, 0, 30),
    ]
    assert runs[0].astimezone(ZoneInfo(BERLIN)).strftime("%H:%M %Z") == "03:00 CEST"


def test_fall_back_overlap_runs_once() -> None:
    runs = chain("30 2 * * *", utc(2025, 10, 25, 12), 3, BERLIN)
    assert runs == [
        utc(2025, 10, 26, 0, 30),  # first 02:30 (CEST) only
        utc(2025, 10, 27, 1, 30),  # 02:30 CET
        utc(2025, 10, 28, 1, 30),
    ]


@pytest.mark.parametrize(
    "after",
    [utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 1, 5), utc(2025, 10, 26, 1, 29, 59)],
    ids=["02:00-CET", "02:05-CET", "02:29:59-CET"],
)
def test_planning_inside_repeated_hour_never_returns_the_past(after: datetime) -> None:
    # The job already ran at 00:30 UTC (02:30 CEST); re-planning during the second 02:xx
    # (e.g. after a resume or PATCH) must not go back to it nor run a second time today.
    assert next_cron("30 2 * * *", after, BERLIN) == utc(2025, 10, 27, 1, 30)


def test_wildcard_hour_job_follows_real_time_through_fall_back() -> None:
    runs = chain("*/30 * * * *", utc(2025, 10, 25, 23, 0), 6, BERLIN)
    assert runs == [utc(2025, 10, 25, 23, 30) + timedelta(minutes=30 * i) for i in range(6)]


def test_wildcard_hour_job_follows_real_time_through_spring_forward() -> None:
    runs = chain("0 * * * *", utc(2025, 3, 29, 23, 30), 5, BERLIN)
    assert runs == [utc(2025, 3, 30, 0, 0) + timedelta(hours=i) for i in range(5)]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 1, 15), utc(2025, 1, 15, 14, 0)),  # EST, UTC-5
        (utc(2025, 7, 15), utc(2025, 7, 15, 13, 0)),  # EDT, UTC-4
        (utc(2025, 3, 8, 15), utc(2025, 3, 9, 13, 0)),  # first morning after spring forward
        (utc(2025, 11, 1, 14), utc(2025, 11, 2, 14, 0)),  # first morning after fall back
    ],
)
def test_nine_am_new_york(after: datetime, expected: datetime) -> None:
    result = next_cron("0 9 * * *", after, NEW_YORK)
    assert result == expected
    assert result.tzinfo is UTC
    assert result.astimezone(ZoneInfo(NEW_YORK)).hour == 9


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, "Australia/Lord_Howe", "America/Santiago"])
@pytest.mark.parametrize("expr", ["30 2 * * *", "45 1 * * *", "*/30 * * * *", "0 1 * * *"])
@pytest.mark.parametrize(
    "start", [utc(2025, 3, 8), utc(2025, 3, 29), utc(2025, 10, 25), utc(2025, 11, 1)]
)
def test_always_strictly_after_across_transitions(tz: str, expr: str, start: datetime) -> None:
    for step in range(0, 48 * 60, 13):
        after = start + timedelta(minutes=step)
        assert next_cron(expr, after, tz) > after
