"""The dispatcher: the once-a-period safety net that puts due slots in flight.

It reads the sharded due index up to one period plus a margin ahead (reads grow with what is
due, not with how many endpoints exist), skips slots being run or already in flight, marks and
sends the rest with a delay so each becomes visible on its second, re-sends slots whose message
was lost, and sweeps runs abandoned past their deadline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine.queue import QueuedSlot, SlotQueue

log = logging.getLogger("cronpilot.engine")

# A slot this far past due and still unclaimed lost its message: send it again. A duplicate is
# harmless (the claim drops it).
RESEND_AFTER = timedelta(seconds=30)
ZOMBIE_MESSAGE = "Worker crashed or timed out (no result before the run's deadline)"


@dataclass(frozen=True, slots=True)
class DispatchReport:
    items_read: int
    sent: int
    resent: int
    running: int
    in_flight: int
    zombies: int


def _in_flight(endpoint: Endpoint, now: datetime) -> bool:
    return endpoint.enqueued_slot == endpoint.next_run_at and endpoint.next_run_at > (
        now - RESEND_AFTER
    )


def dispatch(deps: Deps, queue: SlotQueue, now: datetime) -> DispatchReport:
    """One tick: send every due, unclaimed slot not already in flight; sweep zombies."""
    until = now + timedelta(seconds=deps.settings.dispatch_lookahead_s)
    read = running = in_flight = resent = 0
    batch: list[QueuedSlot] = []
    for shard in range(deps.settings.due_shards):
        for endpoint in deps.endpoints.due(str(shard), to_ms(until)):
            read += 1
            if endpoint.locked_until is not None and endpoint.locked_until > now:
                running += 1  # its run will settle and send the next slot
                continue
            if _in_flight(endpoint, now):
                in_flight += 1
                continue
            if endpoint.paused_at(now):
                continue
            if not deps.endpoints.mark_enqueued(
                endpoint.tenant_id, endpoint.id, endpoint.next_run_at, now
            ):
                continue  # moved meanwhile; whoever moved it scheduled it
            if endpoint.enqueued_slot == endpoint.next_run_at:
                resent += 1
            lock_ms = int(lock_duration(endpoint) / timedelta(milliseconds=1))
            batch.append(QueuedSlot(endpoint.tenant_id, endpoint.id, endpoint.next_run_at, lock_ms))
    queue.send(batch, now)
    zombies = sweep_zombies(deps, now)
    report = DispatchReport(read, len(batch), resent, running, in_flight, zombies)
    if batch or zombies:
        log.info("dispatch: %s", report)
    return report


def sweep_zombies(deps: Deps, now: datetime) -> int:
    """Mark runs still `running` past their deadline as failed zombies. Their endpoint's lock
    has expired by then, so the slot is sent again by the next tick."""
    count = 0
    for run in deps.runs.overdue(now):
        deps.runs.put(
            replace(
                run,
                status="failed",
                finished_at=now,
                error_kind="zombie",
                error_message=ZOMBIE_MESSAGE,
            )
        )
        count += 1
    return count
