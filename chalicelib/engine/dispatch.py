"""The dispatcher: the once-a-period safety net that puts due slots in flight.

It reads the sharded due index up to one period plus a margin ahead (reads grow with what is
due, not with how many endpoints exist), skips slots being run or already in flight, marks and
sends the rest with a delay so each becomes visible on its second, re-sends slots whose message
was lost, and marks runs abandoned past their deadline (zombies.py), settling their endpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.inflight import abandoned, locked, message_live, refused_by_pause
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine import zombies
from chalicelib.engine.queue import QueuedSlot, SlotQueue
from chalicelib.engine.shards import rehome_due

log = logging.getLogger("cronpilot.engine")

SEND_EVERY = 10  # one SQS batch


@dataclass(frozen=True, slots=True)
class DispatchReport:
    items_read: int
    sent: int
    resent: int
    running: int
    in_flight: int
    zombies: int
    rehomed: int = 0


def dispatch(
    deps: Deps, queue: SlotQueue, now: datetime, *, queue_emptied: bool = False
) -> DispatchReport:
    """One tick: send every due, unclaimed slot not already in flight.

    An endpoint whose claim was abandoned settles as after a failed run (backoff) first, and
    the slot that settling plans is the one sent, not the abandoned one again.
    `queue_emptied`: every message sent before is known gone (the local stack's queues start
    empty), so a slot marked in flight is sent again at once rather than 30 s after it was due.
    """
    found_zombies = 0
    rehomed = rehome_due(deps, now)
    until = now + timedelta(seconds=deps.settings.dispatch_lookahead_s)
    read = running = in_flight = resent = sent = 0
    batch: list[QueuedSlot] = []
    for shard in range(deps.settings.due_shards):
        for endpoint in deps.endpoints.due(str(shard), to_ms(until)):
            read += 1
            if abandoned(endpoint, now):
                zombie = zombies.mark(deps, endpoint, now)
                if zombie is not None:
                    found_zombies += 1
                    if zombies.settle(deps, zombie, now) is not None:
                        continue  # settling planned the next slot and sent it
            if locked(endpoint, now):
                running += 1  # its run will settle and send the next slot
                continue
            if message_live(endpoint, now) and not queue_emptied:
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
    report = DispatchReport(read, sent, resent, running, in_flight, found_zombies, rehomed)
    if sent or found_zombies or rehomed:
        log.info("dispatch: %s", report)
    return report
