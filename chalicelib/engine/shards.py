"""Changing `CRONPILOT_DUE_SHARDS` on a live stage: endpoints are migrated, never stranded.

The dispatchers read shards `0 .. count-1`. Raising the count strands nothing (old shards are
still read; new endpoints spread over all of them). Lowering it would leave endpoints in the
retired shards unread, so the dispatcher moves every endpoint it finds in a shard at or above
the configured count into its shard under the new count: on its first tick (a configuration
change starts new containers) and every `CHECK_EVERY` after, which also catches an endpoint an
API container still running the old configuration wrote during the rollout.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.engine.scheduling import due_shard
from chalicelib.settings import MAX_DUE_SHARDS

log = logging.getLogger("cronpilot.engine")

CHECK_EVERY = timedelta(minutes=15)


def rehome_due(deps: Deps, now: datetime) -> int:
    """Migrate stranded endpoints if a check is due; the number moved."""
    checked = deps.shards_checked_at
    if checked is not None and now < checked + CHECK_EVERY:
        return 0
    deps.shards_checked_at = now
    return rehome_stranded(deps)


def rehome_stranded(deps: Deps) -> int:
    """Move every endpoint of a retired shard (>= the configured count) into its shard under
    the configured count. Costs one empty query per retired shard when nothing is stranded."""
    shards = deps.settings.due_shards
    moved = 0
    for retired in range(shards, MAX_DUE_SHARDS):
        for endpoint in deps.endpoints.in_shard(str(retired)):
            target = due_shard(endpoint.id, shards)
            if deps.endpoints.move_shard(endpoint.tenant_id, endpoint.id, str(retired), target):
                moved += 1
    if moved:
        log.warning("moved %d endpoints out of retired due shards (now %d shards)", moved, shards)
    return moved
