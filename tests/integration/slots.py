"""Endpoints of tenant `acme` and their due slots, for tests that drive the executor by hand."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.claim import lock_duration
from chalicelib.domain.entities import Endpoint
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import QueuedSlot


def endpoint_of(deps: Deps, endpoint_id: str) -> Endpoint:
    """The endpoint as stored; it must exist."""
    found = deps.endpoints.get("acme", endpoint_id)
    assert found is not None
    return found


def slot_of(ep: Endpoint) -> QueuedSlot:
    """The message the dispatcher would send for the endpoint's next slot."""
    return QueuedSlot(
        ep.tenant_id, ep.id, ep.next_run_at, int(lock_duration(ep) / timedelta(milliseconds=1))
    )


def due_slot(deps: Deps, clock: ManualClock, endpoint_id: str) -> QueuedSlot:
    """Move the clock to the endpoint's next slot (never back) and return that slot."""
    ep = endpoint_of(deps, endpoint_id)
    clock.set(max(clock.now(), ep.next_run_at))
    return slot_of(ep)


def run_due(deps: Deps, clock: ManualClock, endpoint_id: str) -> None:
    """Run the endpoint's next slot; the claim must be won."""
    assert Executor(deps).run_slot(due_slot(deps, clock, endpoint_id)) is not None
