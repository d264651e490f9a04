"""Runs a worker abandoned (it died, or ran past the deadline), found through their claims.

A claim holds its endpoint until the run's deadline, and settling the run removes it; a claim
found expired with its token still there was abandoned, and the run it stands for is a zombie.
The claim's token is the run's id, and the endpoint's state holds the rest of the run
(domain/claim.py claimed_run), so the zombie is written from the claim alone: a run is not
written while in flight. Two readers find them, with no index of running runs to write on
every run: the dispatcher, which reads due endpoints each tick (an abandoned endpoint stays
due, since only settling moves its slot), and a claim that takes over an expired one.

A claim made by the release before has a token that is no run id; that release wrote its run
`running` when it claimed, and the endpoint's newest run is then the zombie.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.claim import claimed_run, run_anchor
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.errors import NotFound
from chalicelib.domain.inflight import locked
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.scheduling import LockLost

ZOMBIE_MESSAGE = "Worker crashed or timed out (no result before the run's deadline)"


def mark(deps: Deps, abandoned: Endpoint, now: datetime) -> Run | None:
    """Write the run of the endpoint's abandoned claim as failed; the marked run, or None when
    there is none (it finished meanwhile and keeps its result, or an older release's worker
    died before writing it)."""
    run = claimed_run(abandoned, timedelta(days=deps.settings.retention_days))
    if run is None:
        run = deps.runs.abandoned(abandoned.tenant_id, abandoned.id, now)
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
        or (ids.run_started_at(endpoint.lock_token) is not None and endpoint.lock_token != run.id)
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
