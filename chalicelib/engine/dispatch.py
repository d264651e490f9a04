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
from chalicelib.domain.claim import lock_duration, run_anchor
from chalicelib.domain.entities import Run
from chalicelib.domain.errors import NotFound
from chalicelib.domain.inflight import locked, message_live, refused_by_pause
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.queue import QueuedSlot, SlotQueue
from chalicelib.engine.scheduling import LockLost
from chalicelib.engine.shards import rehome_due

log = logging.getLogger("cronpilot.engine")

SEND_EVERY = 10  # one SQS batch
ZOMBIE_MESSAGE = "Worker crashed or timed out (no result before the run's deadline)"


@dataclass(frozen=True, slots=True)
class DispatchReport:
    items_read: int
    sent: int
    resent: int
    running: int
    in_flight: int
    zombies: int
    rehomed: int = 0


def dispatch(deps: Deps, queue: SlotQueue, now: datetime) -> DispatchReport:
    """One tick: sweep zombies, then send every due, unclaimed slot not already in flight.

    The sweep comes first: a zombie's endpoint settles as a failed run (backoff), and the slot
    that settling plans is the one this tick sends, not the abandoned one again.
    """
    zombies = sweep_zombies(deps, now)
    rehomed = rehome_due(deps, now)
    until = now + timedelta(seconds=deps.settings.dispatch_lookahead_s)
    read = running = in_flight = resent = sent = 0
    batch: list[QueuedSlot] = []
    for shard in range(deps.settings.due_shards):
        for endpoint in deps.endpoints.due(str(shard), to_ms(until)):
            read += 1
            if locked(endpoint, now):
                running += 1  # its run will settle and send the next slot
                continue
            if message_live(endpoint, now):
                in_flight += 1
                continue
            if refused_by_pause(endpoint):
                continue
            if not deps.endpoints.mark_enqueued(
                endpoint.tenant_id, endpoint.id, endpoint.next_run_at, now
            ):
                continue  # moved meanwhile; whoever moved it scheduled it
            if endpoint.enqueued_slot == endpoint.next_run_at:
                resent += 1
            lock_ms = int(lock_duration(endpoint) / timedelta(milliseconds=1))
            batch.append(QueuedSlot(endpoint.tenant_id, endpoint.id, endpoint.next_run_at, lock_ms))
            if len(batch) >= SEND_EVERY:
                # Send as the marks are made: a tick that dies part way (an error, the Lambda
                # timeout) leaves at most this many marked but unsent, re-sent 30 s late.
                queue.send(batch, now)
                sent += len(batch)
                batch = []
    queue.send(batch, now)
    sent += len(batch)
    report = DispatchReport(read, sent, resent, running, in_flight, zombies, rehomed)
    if sent or zombies or rehomed:
        log.info("dispatch: %s", report)
    return report


def sweep_zombies(deps: Deps, now: datetime) -> int:
    """Mark runs still `running` past their deadline as failed zombies, and settle each one's
    endpoint as after a failed run: the failure counts for backoff and for the planner's
    incident detection, exactly as a run that answered with an error."""
    count = 0
    for run in deps.runs.overdue(now):
        zombie = replace(
            run, status="failed", finished_at=now, error_kind="zombie", error_message=ZOMBIE_MESSAGE
        )
        # Only while still running: an executor that finished meanwhile keeps its result.
        if deps.runs.put_if_running(zombie):
            count += 1
            _settle_abandoned(deps, zombie, now)
    return count


def _settle_abandoned(deps: Deps, run: Run, now: datetime) -> None:
    """Finish the abandoned run's claim as a failure, if the endpoint is still on that run's
    slot and no newer claim holds it (its lock expired with the run's deadline), then tell the
    run-finished listeners, as the executor would have: the planner, reflexes and incidents
    hear of a zombie like of any failed run."""
    endpoint = deps.endpoints.get(run.tenant_id, run.endpoint_id)
    if (
        endpoint is None
        or endpoint.lock_token is None
        or endpoint.next_run_at != run.slot_at
        or locked(endpoint, now)
    ):
        return
    try:
        settled, urgent = deps.scheduling.finish_run(
            run.tenant_id,
            run.endpoint_id,
            endpoint.lock_token,
            run_anchor(run.started_at, run.slot_at),
            False,
        )
    except (LockLost, NotFound):
        return  # claimed again or deleted meanwhile: the newer owner settles it
    deps.run_finished.publish(RunFinished(settled, run, urgent))
