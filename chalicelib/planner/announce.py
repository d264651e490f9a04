"""Asking for a job's analysis now rather than at the next five-minute tick."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.planner.queue import JobRef

if TYPE_CHECKING:
    from chalicelib.deps import Deps
    from chalicelib.engine.finished import RunFinished


def announce(deps: Deps, tenant_id: str, job_id: str) -> None:
    """Send the job to the analysis queue when the planner is on (a lost message is found by
    the tick through the endpoints' analysis marks)."""
    if deps.analysis_queue is not None and deps.planner_model is not None:
        deps.analysis_queue.send([JobRef(tenant_id, job_id)])


def on_run_finished(deps: Deps) -> Callable[[RunFinished], None]:
    """The listener: a run that changed its endpoint's state gets its job analysed within a
    minute."""

    def listener(event: RunFinished) -> None:
        if event.state_changed:
            announce(deps, event.endpoint.tenant_id, event.endpoint.job_id)

    return listener
