"""Small conversions between stored numbers and domain instants."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.timeutil import from_ms, to_ms


def ms_or_none(instant: datetime | None) -> int | None:
    return None if instant is None else to_ms(instant)


def instant_or_none(value: float | int | None) -> datetime | None:
    return None if value is None else from_ms(int(value))


def int_or_none(value: float | int | None) -> int | None:
    return None if value is None else int(value)
