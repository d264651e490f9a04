"""The one place that writes `nextRunAt` and due-index membership.

Every change that can move an endpoint's next run (create, update, hint, pause, resume, job
pause/resume/archive, endpoint archive, run finished) goes through `Scheduling`, which applies
the governor, writes with optimistic concurrency, and puts a slot that falls inside the
dispatcher's lookahead in flight on the runs queue at once (marked in the same write).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.clock import Clock
from chalicelib.domain import ids
from chalicelib.domain.afterrun import settle
from chalicelib.domain.analysis import observe_run
from chalicelib.domain.causes import cause_of
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Cause, Endpoint
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.governor import nudge_plan, plan_next_run
from chalicelib.domain.inflight import locked, message_live, refused_by_pause
from chalicelib.domain.timing import (
    Change,
    FromLastRun,
    Keep,
    Nudge,
    Replan,
    RunAt,
    Settled,
    Timing,
)
from chalicelib.engine.queue import QueuedSlot, SlotQueue
from chalicelib.store.endpoints import EndpointRepo, StaleWrite

MAX_ATTEMPTS = 5


class LockLost(Exception):
    """The run's claim expired and another execution took the endpoint over."""


def due_shard(endpoint_id: str, shards: int) -> str:
    """Stable shard for the due index, spread evenly by a hash of the id."""
    digest = hashlib.sha256(endpoint_id.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % shards)


class Scheduling:
    def __init__(
        self,
        repo: EndpointRepo,
        clock: Clock,
        shards: int,
        queue: SlotQueue | None = None,
        lookahead: timedelta = timedelta(seconds=75),
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._shards = shards
        self._queue = queue
        self._lookahead = lookahead

    def create(self, draft: Endpoint, job_active: bool) -> Endpoint:
        """Save a new endpoint with its first slot from the governor."""
        now = self._clock.now()
        plan = plan_next_run(now, draft)
        endpoint = replace(
            draft,
            next_run_at=plan.next_run_at,
            next_run_cause=cause_of(draft, plan.source),
            due_shard=self._membership(draft, job_active),
            created_at=now,
            updated_at=now,
            version=0,
        )
        return self._write(endpoint, now)

    def change(
        self,
        tenant_id: str,
        endpoint_id: str,
        apply: Callable[[Endpoint, datetime], Change],
        known: Endpoint | None = None,
    ) -> Endpoint:
        """Read, apply `apply(endpoint, now)`, time the result, write; retry on a concurrent write.

        `apply` must be pure: it may run more than once, and raising from it aborts with no write.
        With `known` (the endpoint as last written or read), the first attempt starts from it
        without a read; the write's version check sends any later change back to a read.
        """
        for _ in range(MAX_ATTEMPTS):
            current = known if known is not None else self._repo.get(tenant_id, endpoint_id)
            known = None
            if current is None:
                raise NotFound("Endpoint not found")
            now = self._clock.now()
            updated, timing = apply(current, now)
            at, cause = self._time(now, updated, timing)
            updated = replace(updated, next_run_at=at, next_run_cause=cause, updated_at=now)
            try:
                return self._write(updated, now, current)
            except StaleWrite:
                continue
        raise Conflict("Endpoint is being changed concurrently; retry the request")

    def _write(self, endpoint: Endpoint, now: datetime, before: Endpoint | None = None) -> Endpoint:
        """Save; when the next slot is near, mark it in flight in the same write and send it.

        A slot not sent here (far away, locked by a run that will settle it, or the send
        failed) is found by the dispatcher through the due index.
        """
        send = self._should_send(endpoint, now)
        if send:
            endpoint = replace(endpoint, enqueued_slot=endpoint.next_run_at, enqueued_at=now)
        saved = self._repo.save(endpoint, before)
        if send and self._queue is not None:
            slot = QueuedSlot(
                saved.tenant_id,
                saved.id,
                saved.next_run_at,
                int(lock_duration(saved) / timedelta(milliseconds=1)),
            )
            self._queue.send([slot], now)
        return saved

    def _should_send(self, endpoint: Endpoint, now: datetime) -> bool:
        """The dispatcher's rules (domain/inflight.py), applied at write time."""
        return (
            self._queue is not None
            and endpoint.due_shard is not None
            and endpoint.next_run_at <= now + self._lookahead
            and not locked(endpoint, now)
            and not refused_by_pause(endpoint)
            and not message_live(endpoint, now)
        )

    def finish_run(
        self,
        tenant_id: str,
        endpoint_id: str,
        token: str,
        started: datetime,
        succeeded: bool,
        signal: str | None = None,
        claimed: Endpoint | None = None,
    ) -> tuple[Endpoint, bool]:
        """Record a finished run on its endpoint and plan the next slot from fresh state, marking
        it for analysis when its state changed (domain/analysis.py). Returns the endpoint and
        whether the change is urgent; LockLost when this execution no longer holds the claim.

        `claimed` (the endpoint as the claim wrote it) saves the read when nothing else wrote
        the endpoint during the call: the writers a settle must not overwrite (API, planner,
        another claim) bump the state's version, so its conditional write then fails over to
        a fresh read. The two that do not (the lock extension, the enqueue mark) describe the
        claimed slot, which the settle replaces anyway."""
        urgent = False

        def apply(current: Endpoint, now: datetime) -> Change:
            nonlocal urgent
            if current.lock_token != token:
                raise LockLost(endpoint_id)
            settled = settle(current, started, now, succeeded)
            # The claim's token is the run's id, its start as its record says.
            seen = observe_run(current, settled, signal, now, ids.run_started_at(token))
            urgent = seen.urgent
            return seen.endpoint, Settled()

        return self.change(tenant_id, endpoint_id, apply, claimed), urgent

    def set_job_active(self, tenant_id: str, endpoint_ids: list[str], active: bool) -> None:
        """Join or leave the due index with the job: a paused or archived job's endpoints never
        cost the dispatcher a read, and resume makes overdue ones run once."""
        for endpoint_id in endpoint_ids:

            def apply(ep: Endpoint, now: datetime) -> Change:
                return replace(ep, due_shard=self._membership(ep, active)), Keep()

            try:
                self.change(tenant_id, endpoint_id, apply)
            except NotFound:
                continue  # deleted meanwhile: nothing to schedule

    def _membership(self, endpoint: Endpoint, job_active: bool) -> str | None:
        if endpoint.archived_at is not None or not job_active:
            return None
        return due_shard(endpoint.id, self._shards)

    def membership(self, endpoint: Endpoint, job_active: bool) -> str | None:
        """The due shard an endpoint should carry (None = out of the index)."""
        return self._membership(endpoint, job_active)

    @staticmethod
    def _time(now: datetime, endpoint: Endpoint, timing: Timing) -> tuple[datetime, Cause | None]:
        """The next slot and its cause after a change timed by `timing`."""
        if isinstance(timing, Replan) or (
            isinstance(timing, FromLastRun) and endpoint.paused_at(now)
        ):
            plan = plan_next_run(now, endpoint)
            return plan.next_run_at, cause_of(endpoint, plan.source)
        if isinstance(timing, FromLastRun):
            plan = plan_next_run(endpoint.last_run_at or now, endpoint)
            return max(plan.next_run_at, now), cause_of(endpoint, plan.source)
        if isinstance(timing, Nudge):
            target = nudge_plan(now, endpoint, timing.when, timing.source)
            if target is None:
                return endpoint.next_run_at, endpoint.next_run_cause
            return target.next_run_at, cause_of(endpoint, target.source)
        if isinstance(timing, RunAt) and timing.when < endpoint.next_run_at:
            return timing.when, timing.cause
        return endpoint.next_run_at, endpoint.next_run_cause
