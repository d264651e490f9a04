"""Runs a worker abandoned (it died, or ran past the deadline), found through their claims.

A claim holds its endpoint until the run's deadline, and settling the run removes it; a claim
found expired with its token still there was abandoned, and the endpoint's newest run, still
`running` past its deadline, is a zombie. Two readers find them, with no index of running runs
to write on every run: the dispatcher, which reads due endpoints each tick (an abandoned
endpoint stays due, since only settling moves its slot), and a claim that takes over an
expired one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.deps import Deps
from chalicelib.domain.claim import run_anchor
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.errors import NotFound
from chalicelib.domain.inflight import locked
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.scheduling import LockLost

ZOMBIE_MESSAGE = "Worker crashed or timed out (no result before the run's deadline)"


def mark(deps: Deps, tenant_id: str, endpoint_id: str, now: datetime) -> Run | None:
    """Mark the endpoint's abandoned run failed; the marked run, or None when there is none
    (the worker died before writing it, or it finished meanwhile and keeps its result)."""
    run = deps.runs.abandoned(tenant_id, endpoint_id, now)
    if run is None:
        return None
    zombie = replace(
        run, status="failed", finished_at=now, error_kind="zombie", error_message=ZOMBIE_MESSAGE
    )
    return zombie if deps.runs.put_if_running(zombie) else None


def settle(deps: Deps, run: Run, now: datetime) -> Endpoint | None:
    """Finish the abandoned run's claim as a failure, if the endpoint is still on that run's
    slot and no newer claim holds it, then tell the run-finished listeners, as the executor
    would have: the planner, reflexes and incidents hear of a zombie like of any failed run.
    The settled endpoint (its next slot already sent), or None when it was not this one's."""
    endpoint = deps.endpoints.get(run.tenant_id, run.endpoint_id)
    if (
        endpoint is None
        or endpoint.lock_token is None
        or endpoint.next_run_at != run.slot_at
        or locked(endpoint, now)
    ):
        return None
    try:
        settled, urgent = deps.scheduling.finish_run(
            run.tenant_id,
            run.endpoint_id,
            endpoint.lock_token,
            run_anchor(run.started_at, run.slot_at),
            False,
        )
    except (LockLost, NotFound):
        return None  # claimed again or deleted meanwhile: the newer owner settles it
    deps.run_finished.publish(RunFinished(settled, run, urgent))
    return settled
