"""The executor: one scheduled slot, exactly once.

A message names `(tenantId, endpointId, slot)`. The claim is one conditional write (the slot is
still the endpoint's next run, no live lock, still schedulable); a duplicate, stale or late
message loses it and is dropped without side effects. The run is recorded before and after the
call, and the endpoint's next slot is planned from state read after the call, through the
scheduling chokepoint, conditional on this execution's lock token.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.capture import storable
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.governor import plan_next_run
from chalicelib.engine.caller import DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS
from chalicelib.engine.scheduling import LockLost
from chalicelib.services.execution import call_request

log = logging.getLogger("cronpilot.engine")

# Time past the request timeout before a claim counts as abandoned (zombie).
LOCK_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Slot:
    """One scheduled execution: what a runs-queue message carries."""

    tenant_id: str
    endpoint_id: str
    at: datetime


def lock_duration(endpoint: Endpoint) -> timedelta:
    """How long a claim holds: the request timeout (or maxExecutionTimeMs) plus a margin."""
    timeout_ms = max(endpoint.timeout_ms or DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS)
    longest = max(timeout_ms, endpoint.max_execution_time_ms or 0)
    return timedelta(milliseconds=longest) + LOCK_MARGIN


class Executor:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def run_slot(self, slot: Slot) -> Run | None:
        """Execute `slot` if this call wins its claim; the finished run, or None when dropped."""
        d = self._deps
        started = d.clock.now()
        current = d.endpoints.get(slot.tenant_id, slot.endpoint_id)
        if current is None:
            return None
        token = secrets.token_hex(12)
        claimed = d.endpoints.claim(
            slot.tenant_id,
            slot.endpoint_id,
            slot.at,
            started,
            started + lock_duration(current),
            token,
        )
        if claimed is None:
            return None
        run = Run(
            endpoint_id=claimed.id,
            id=ids.run_id(started),
            tenant_id=claimed.tenant_id,
            job_id=claimed.job_id,
            status="running",
            started_at=started,
            attempt=claimed.failure_count + 1,
            source=plan_next_run(started, claimed).source,
            slot_at=slot.at,
            expires_at=started + timedelta(days=d.settings.retention_days),
        )
        d.runs.put(run)
        key = d.signing_keys.get(claimed.tenant_id)
        result = d.caller.call(call_request(claimed), key.key_hex if key else None)
        body, truncated = storable(result.response_body, result.truncated)
        finished = replace(
            run,
            status=result.status,
            finished_at=d.clock.now(),
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error_message=result.error_message,
            error_kind=result.error_kind,
            response_body=body,
            response_truncated=truncated,
        )
        d.runs.put(finished)
        try:
            d.scheduling.finish_run(
                claimed.tenant_id, claimed.id, token, started, result.status == "success"
            )
        except LockLost:
            # The claim expired mid-call and another execution owns the endpoint now; this
            # run is recorded, the schedule is theirs to write.
            log.warning("lock lost on %s for slot %s", claimed.id, slot.at.isoformat())
        return finished
