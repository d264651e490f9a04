"""Chart geometry for the endpoint page, drawn as inline SVG by the templates. Pure.

The interval chart plots, for each run, the time since the run before it, inside the
endpoint's min/max band; periods when a hint set the cadence are shaded and failures marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from chalicelib.domain.entities import Endpoint, Run

WIDTH = 600
HEIGHT = 160
PAD = 8
HINT_CAUSES = frozenset({"interval-hint", "oneshot-hint", "reflex"})


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    failed: bool
    label: str


@dataclass(frozen=True, slots=True)
class Band:
    x: float
    width: float


@dataclass
class IntervalChart:
    """Everything the template draws; empty when there are fewer than two runs."""

    points: list[Point] = field(default_factory=list)
    path: str = ""
    band_top: float | None = None
    band_bottom: float | None = None
    hints: list[Band] = field(default_factory=list)
    max_label: str = ""
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not self.points


def human_ms(ms: float) -> str:
    """A duration in the largest unit that keeps it readable (850 ms, 12 s, 5 min, 2 h)."""
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.3g} s"
    if ms < 2 * 3_600_000:
        return f"{ms / 60_000:.3g} min"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.3g} h"
    return f"{ms / 86_400_000:.3g} d"


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high <= low:
        return (out_low + out_high) / 2
    return out_low + (value - low) * (out_high - out_low) / (high - low)


def interval_chart(endpoint: Endpoint, runs: list[Run]) -> IntervalChart:
    """Interval between consecutive scheduled runs (oldest to newest), in the min/max band."""
    ordered = sorted((r for r in runs if r.source != "test"), key=lambda r: r.started_at)
    if len(ordered) < 2:
        return IntervalChart()
    gaps = [
        (cur, (cur.started_at - prev.started_at).total_seconds() * 1000)
        for prev, cur in pairwise(ordered)
    ]
    low_ms, high_ms = endpoint.min_interval_ms, endpoint.max_interval_ms
    top = max([g for _, g in gaps] + [high_ms or 0]) * 1.1 or 1.0
    t0, t1 = ordered[0].started_at, ordered[-1].started_at

    def x_of(at: datetime) -> float:
        return round(
            _scale((at - t0).total_seconds(), 0, (t1 - t0).total_seconds(), PAD, WIDTH - PAD), 1
        )

    def y_of(ms: float) -> float:
        return round(_scale(ms, 0, top, HEIGHT - PAD, PAD), 1)

    points = [
        Point(x_of(run.started_at), y_of(gap), run.status == "failed", human_ms(gap))
        for run, gap in gaps
    ]
    path = "M" + " L".join(f"{p.x},{p.y}" for p in points)
    chart = IntervalChart(points=points, path=path, max_label=human_ms(top))
    chart.band_top = y_of(high_ms) if high_ms else float(PAD)
    chart.band_bottom = y_of(low_ms) if low_ms else float(HEIGHT - PAD)
    chart.hints = _hint_bands(gaps, points)
    return chart


def _hint_bands(gaps: list[tuple[Run, float]], points: list[Point]) -> list[Band]:
    """Consecutive runs whose cause was a hint (or a reflex) merged into shaded spans."""
    bands: list[Band] = []
    start: float | None = None
    previous_x = float(PAD)
    for (run, _), point in zip(gaps, points, strict=True):
        hinted = run.cause is not None and run.cause.kind in HINT_CAUSES
        if hinted and start is None:
            start = previous_x
        if not hinted and start is not None:
            bands.append(Band(start, round(previous_x - start, 1)))
            start = None
        previous_x = point.x
    if start is not None:
        bands.append(Band(start, round(max(previous_x - start, 2.0), 1)))
    return bands


def sparkline(values: list[float], width: int = 200, height: int = 32) -> str:
    """An SVG path through `values` (oldest first), scaled to the box; '' below two values."""
    if len(values) < 2:
        return ""
    high = max(values) or 1.0
    step = (width - 2) / (len(values) - 1)
    coords = [
        f"{1 + i * step:.1f},{_scale(v, 0, high, height - 2, 2):.1f}" for i, v in enumerate(values)
    ]
    return "M" + " L".join(coords)
