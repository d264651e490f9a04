"""Cron evaluation through cronsim: standard 5-field expressions, IANA timezones, DST-correct."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from chalicelib.domain.errors import CronError

CRON_HELP = "Invalid cron expression. Use standard 5-field format (minute hour day month weekday)"
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ValueError for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown IANA timezone {name!r}") from exc


def validate_cron(expr: str) -> str:
    """Return the normalised expression or raise CronError naming it."""
    normalised = " ".join(expr.split())
    if normalised.lower() not in _MACROS and len(normalised.split(" ")) != 5:
        raise CronError(f'Invalid cron expression "{expr}": expected 5 fields')
    try:
        CronSim(normalised, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise CronError(f'Invalid cron expression "{expr}": {exc}') from exc
    return normalised


def next_cron(expr: str, after: datetime, tz: str = "UTC") -> datetime:
    """First occurrence strictly after `after`, evaluated in `tz`, returned in UTC."""
    local = after.astimezone(zone(tz))
    try:
        occurrence = next(CronSim(expr, local))
    except CronSimError as exc:
        raise CronError(f'Invalid cron expression "{expr}": {exc}') from exc
    return occurrence.astimezone(UTC)
