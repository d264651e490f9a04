"""Cron evaluation through cronsim: standard 5-field expressions, IANA timezones, DST-correct."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from chalicelib.domain.errors import CronError

CRON_HELP = "Invalid cron expression. Use standard 5-field format (minute hour day month weekday)"
# cronsim does not understand the `@` macros, so they are expanded to their 5-field meaning.
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Occurrences skipped because they fall at or before `after` (only inside a DST repeated hour,
# at most one per minute of it); a bound so a library surprise cannot spin forever.
_MAX_SKIPPED = 10_000


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ValueError for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown IANA timezone {name!r}") from exc


def _five_fields(expr: str) -> str:
    """`expr` with whitespace normalised and macros expanded; CronError unless 5 fields.

    cronsim itself also accepts a 6-field form (with seconds), which must not slip through:
    an endpoint would then fire every second.
    """
    normalised = " ".join(expr.split())
    expanded = _MACROS.get(normalised.lower(), normalised)
    if len(expanded.split(" ")) != 5:
        raise CronError(f'Invalid cron expression "{expr}": expected 5 fields')
    return expanded


def validate_cron(expr: str) -> str:
    """Return the normalised expression or raise CronError naming it."""
    normalised = " ".join(expr.split())
    try:
        CronSim(_five_fields(expr), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise CronError(f'Invalid cron expression "{expr}": {exc}') from exc
    return normalised


def next_cron(expr: str, after: datetime, tz: str = "UTC") -> datetime:
    """First occurrence strictly after `after`, evaluated in `tz`, returned in UTC.

    DST follows cronsim (Debian cron): a fixed-time job whose wall time falls in a spring-forward
    gap runs at the first wall time after the gap; one whose wall time repeats in a fall-back
    overlap runs once, at the first occurrence; `*`-minute or `*`-hour jobs follow real time.
    """
    if after.tzinfo is None:
        raise ValueError("next_cron needs a timezone-aware instant")
    local = after.astimezone(zone(tz))
    try:
        occurrences = CronSim(_five_fields(expr), local)
        # cronsim works on wall time for fixed-time jobs and drops the fold: from inside a
        # repeated hour it can return the first (already past) occurrence of that wall time.
        for _ in range(_MAX_SKIPPED):
            occurrence = next(occurrences).astimezone(UTC)
            if occurrence > after:
                return occurrence
    except CronSimError as exc:
        raise CronError(f'Invalid cron expression "{expr}": {exc}') from exc
    raise CronError(f'Invalid cron expression "{expr}": no occurrence after {after.isoformat()}')
