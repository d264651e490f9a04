"""Every planner scenario, by key, in report order."""

from __future__ import annotations

from collections.abc import Callable

from bench.scenarios import flash_sale, load, recovery, sync
from bench.scenarios.spec import Scenario

BUILDERS: tuple[Callable[[], Scenario], ...] = (
    flash_sale.reference,
    load.load_management,
    recovery.automated_recovery,
    sync.volume_sync,
    sync.etl_pipeline,
    recovery.cache_warm,
    load.tiered,
    recovery.cross_job,
)


def scenarios(keys: list[str] | None = None) -> list[Scenario]:
    """All scenarios, or those whose key starts with one of `keys`."""
    found = [build() for build in BUILDERS]
    if not keys:
        return found
    chosen = [s for s in found if any(s.key.startswith(k) for k in keys)]
    if not chosen:
        raise SystemExit(f"no scenario matches {keys}; known: {[s.key for s in found]}")
    return chosen
