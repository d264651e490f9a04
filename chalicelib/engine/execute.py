"""The executor: one scheduled slot, exactly once.

A message names `(tenantId, endpointId, slot)`. The claim is one conditional write (the slot is
still the endpoint's next run, no live lock, still schedulable); a duplicate, stale or late
message loses it and is dropped without side effects. The claim's token is the run's id, and
until the call ends the claim stands for the run (domain/claim.py claimed_run: listings show it
`running`, a zombie is marked from it); the run is written once, finished. The endpoint's next
slot is planned from state read after the call, through the scheduling chokepoint,
conditional on this execution's lock token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib import observability
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.claim import lock_duration, run_anchor, run_of_claim, too_early
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.signals import fingerprint
from chalicelib.engine import zombies
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.outbound import call_endpoint, with_result
from chalicelib.engine.queue import QueuedSlot
from chalicelib.engine.scheduling import LockLost

log = logging.getLogger("cronpilot.engine")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A won claim: the endpoint as claimed, the lock's token and end, the run recorded."""

    endpoint: Endpoint
    token: str
    run: Run
    lock_until: datetime


class Executor:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def run_slot(self, slot: QueuedSlot) -> Run | None:
        """Execute `slot` if this call wins its claim; the finished run, or None when dropped."""
        with observability.correlated(tenant_id=slot.tenant_id, endpoint_id=slot.endpoint_id):
            return self._run_slot(slot)

    def claim(self, slot: QueuedSlot) -> Claimed | None:
        """Claim `slot`; the claim and the `running` run it stands for (not written: the
        endpoint's claim shows it until the run finishes), or None when the claim lost (the
        slot ran, moved, or is someone else's) or the slot's time has not come (the message is
        then sent again with the rest of its delay, so the slot still runs on time)."""
        d = self._deps
        started = d.clock.now()
        if too_early(slot.at, started):
            observability.count("EarlySlots")
            if d.queue is not None:
                d.queue.send([slot], started)
            return None
        # The claim's token is its run's id: the claim then stands for the run while it is in
        # flight, and nothing writes the run before it finishes (2 write units a run).
        token = ids.run_id(started)
        lock_until = started + timedelta(milliseconds=slot.lock_ms)
        won = d.endpoints.claim(
            slot.tenant_id, slot.endpoint_id, slot.at, started, lock_until, token
        )
        if won is None:
            observability.count("ClaimsLost")
            return None
        claimed = won.endpoint
        if won.abandoned is not None and zombies.mark(d, won.abandoned, started):
            # The taken-over claim's run is marked failed here: its endpoint is this claim's
            # to settle now, so nobody settles it as failed.
            observability.count("Zombies")
        needed = started + lock_duration(claimed)
        if needed > lock_until:
            # The timeout was raised after the message was sent: hold the claim for the whole
            # call, or the slot could be sent again and run twice.
            d.endpoints.extend_lock(claimed.tenant_id, claimed.id, token, needed)
            lock_until = needed
            claimed = replace(claimed, locked_until=needed)
        run = run_of_claim(claimed, started, timedelta(days=d.settings.retention_days))
        return Claimed(claimed, token, run, lock_until)

    def _run_slot(self, slot: QueuedSlot) -> Run | None:
        d = self._deps
        held = self.claim(slot)
        if held is None:
            return None
        claimed, token, run, started = held.endpoint, held.token, held.run, held.run.started_at
        with observability.correlated(run_id=run.id, job_id=claimed.job_id):
            result = call_endpoint(d, claimed)
            finished = with_result(run, result, d.clock.now())
            d.runs.put(finished)
            try:
                settled, changed = d.scheduling.finish_run(
                    claimed.tenant_id,
                    claimed.id,
                    token,
                    run_anchor(started, slot.at),
                    result.status == "success",
                    fingerprint(result.response_body),
                    claimed,
                )
            except LockLost:
                # The claim expired mid-call and another execution owns the endpoint now; this
                # run is recorded, the schedule is theirs to write.
                log.warning("lock lost on %s for slot %s", claimed.id, slot.at.isoformat())
                observability.count("LockLost")
            else:
                d.run_finished.publish(RunFinished(settled, finished, changed))
            observability.count("Runs")
            if finished.status != "success":
                observability.count("RunFailures")
            lateness_ms = max(0.0, (started - slot.at) / timedelta(milliseconds=1))
            observability.count("RunLateness", lateness_ms, observability.Unit.Milliseconds)
        return finished
