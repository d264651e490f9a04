"""The reference's 40-minute flash-sale metric timeline (spec/scheduling.md §12.2), shared by
the reference benchmark and the seed's load-management pattern."""

from __future__ import annotations

from typing import Any

from bench.scenarios.spec import Phase, minutes

# name, first minute, traffic/min, orders/min, pageLoadMs, inventoryLagMs, dbQueryMs
TIMELINE = (
    ("baseline", 0, 1000, 40, 800, 100, 120),
    ("surge", 5, 5000, 180, 1800, 250, 280),
    ("strain", 9, 5500, 160, 3200, 450, 850),
    ("critical", 13, 6000, 120, 4500, 600, 1200),
    ("recovery", 21, 1500, 50, 1100, 150, 180),
)
DURATION = minutes(40)
PHASES = tuple(
    Phase(row[0], minutes(row[1]), minutes(nxt[1]) if nxt else DURATION)
    for row, nxt in zip(TIMELINE, (*TIMELINE[1:], None), strict=True)
)


def sample(minute: int) -> dict[str, Any]:
    """The metric sample of a minute (after minute 39: recovery values)."""
    row = next(row for row in reversed(TIMELINE) if row[1] <= minute)
    _, _, traffic, orders, page, lag, db = row
    return {
        "minute": minute,
        "traffic": traffic,
        "orders": orders,
        "pageLoadMs": page,
        "inventoryLagMs": lag,
        "dbQueryMs": db,
    }


def load_status(page_load_ms: int) -> str:
    """The categorical load a monitor reports: normal, elevated, high or critical."""
    if page_load_ms < 1500:
        return "normal"
    if page_load_ms < 3000:
        return "elevated"
    return "high" if page_load_ms < 4000 else "critical"
