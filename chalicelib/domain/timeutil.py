"""Instant helpers: the wire format is ISO-8601 UTC with milliseconds and `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return (instant - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=int(ms))


def iso(instant: datetime) -> str:
    """`2025-01-01T00:00:00.000Z`."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant that carries a zone (`Z` or an offset); naive times are refused."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("must include a timezone, e.g. 2025-01-01T00:00:00Z")
    return parsed.astimezone(UTC)


def ms_floor(instant: datetime) -> datetime:
    """Drop sub-millisecond precision (storage keeps milliseconds)."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def start_of_month(instant: datetime) -> datetime:
    """UTC midnight on day 1 of `instant`'s month."""
    utc = instant.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)
