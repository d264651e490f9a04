"""Durations as people type them (`90s`, `5m`, `1h30m`) and as the API wants them (ms)."""

from __future__ import annotations

import re

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HELP = "a duration with a unit: 500ms, 30s, 5m, 1h30m, 2d"


def parse_duration_ms(text: str) -> int:
    """Milliseconds in `text`; ValueError (with examples) for anything else, bare numbers too."""
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError(f"empty duration; use {DURATION_HELP}")
    position, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * UNIT_MS[match.group(2)]
        position = match.end()
    if position != len(compact):
        raise ValueError(f"{text!r} is not {DURATION_HELP}")
    if total != int(total):
        raise ValueError(f"{text!r} is not a whole number of milliseconds")
    return int(total)


def format_ms(ms: int | float | None) -> str:
    """`90000` -> `1m30s`; sub-second values stay in ms; None -> empty."""
    if ms is None:
        return ""
    if ms < 1_000:
        return f"{ms:g}ms"
    remaining = int(ms)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = UNIT_MS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)
