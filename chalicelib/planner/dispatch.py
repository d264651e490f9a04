"""The analysis tick: find jobs with endpoints due for analysis through the sparse index and
send one message per job. Cost follows what is due, not what exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.deps import Deps
from chalicelib.domain.timeutil import to_ms
from chalicelib.planner.queue import AnalysisQueue, JobRef


@dataclass(frozen=True, slots=True)
class AnalysisTick:
    jobs_sent: int
    skipped: str | None = None


def dispatch_analysis(deps: Deps, queue: AnalysisQueue, now: datetime) -> AnalysisTick:
    """Send every job with an endpoint due by `now`; nothing when no model is configured."""
    if deps.planner_model is None:
        return AnalysisTick(0, skipped="ai_not_configured")
    refs: dict[JobRef, None] = {}
    for shard in range(deps.settings.due_shards):
        for tenant_id, job_id in deps.endpoints.due_for_analysis(str(shard), to_ms(now)):
            refs[JobRef(tenant_id, job_id)] = None
    queue.send(list(refs))
    return AnalysisTick(len(refs))
