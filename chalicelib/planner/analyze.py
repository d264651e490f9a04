"""Analyse one job: its due endpoints one after another, the job read again before each.

Holds the job's analysis lease so duplicate messages never analyse twice, checks the tenant's
token budget before each session, records every session (failed ones too), and writes each
endpoint's next analysis time. Scheduling never waits on any of this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib import observability
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.analysis import (
    BUDGET_RETRY,
    MIN_NEXT_ANALYSIS,
    budget_period,
    changes_read,
    first_answers_pending,
    next_analysis_at,
    sibling_changes,
    verdict,
)
from chalicelib.domain.entities import Actor, AnalysisSession, Endpoint, Run, Tenant
from chalicelib.domain.errors import NotFound
from chalicelib.domain.timeutil import to_ms
from chalicelib.domain.timing import Change, Keep
from chalicelib.planner import prompt
from chalicelib.planner.model import ChatModel
from chalicelib.planner.queue import JobRef
from chalicelib.planner.session import CONTEXT_READS, run_session
from chalicelib.planner.tools import JobView, Toolbox
from chalicelib.services.reflexes import live_watches

log = logging.getLogger("cronpilot.planner")

LEASE = timedelta(minutes=15)
# Stop starting sessions after this (Lambda allows 15 min); the rest stay due for the next
# message, which is sent at once.
TIME_BUDGET = timedelta(minutes=10)
HEALTH_WINDOW = timedelta(hours=24)


@dataclass
class JobReport:
    """What one job analysis did (logged, and returned to tests and the simulator)."""

    job_id: str
    skipped: str | None = None
    sessions: list[AnalysisSession] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


class Analyzer:
    def __init__(self, deps: Deps, model: ChatModel | None) -> None:
        self._deps = deps
        self._model = model

    def analyse_job(self, ref: JobRef) -> JobReport:
        """Analyse the due endpoints of one job, if it is active and nobody else is."""
        d = self._deps
        report = JobReport(ref.job_id)
        now = d.clock.now()
        job = d.jobs.get(ref.tenant_id, ref.job_id)
        if job is None or not job.schedulable:
            report.skipped = "job_inactive"
            return report
        endpoints = [
            e for e in d.endpoints.list_by_job(ref.tenant_id, ref.job_id) if e.archived_at is None
        ]
        if not any(e.analysis_due_at and e.analysis_due_at <= now for e in endpoints):
            report.skipped = "nothing_due"
            return report
        if self._model is None:
            report.skipped = "ai_not_configured"
            return report
        tenant = d.tenants.get(ref.tenant_id)
        if tenant is None:
            report.skipped = "tenant_missing"
            return report
        if not d.jobs.lease_analysis(ref.tenant_id, ref.job_id, to_ms(now), to_ms(now + LEASE)):
            report.skipped = "leased"
            return report
        try:
            view = JobView(
                tenant,
                job,
                {e.id: e for e in endpoints},
                {e.id: _newest_finished(d, tenant.id, e.id, now) for e in endpoints},
                d.reflexes.list_by_job(tenant.id, job.id),
            )
            looked = self._analyse(view, report, now)
        finally:
            d.jobs.release_analysis(ref.tenant_id, ref.job_id)
        self._follow_up(view, self._recheck(view, looked))
        return report

    def _analyse(
        self, view: JobView, report: JobReport, started: datetime
    ) -> dict[str, AnalysisSession | None]:
        """A session for each due endpoint. Returns the latest session of each endpoint whose
        next analysis time follows from its sessions (not from a crash or the budget)."""
        d = self._deps
        tenant = view.tenant
        looked: dict[str, AnalysisSession | None] = {}
        for index, endpoint_id in enumerate(list(view.endpoints)):
            # Taken before the view is read: a change stamped after it counts as unread.
            now = started if index == 0 else d.clock.now()
            if now - started > TIME_BUDGET:
                d.require_analysis_queue().send([JobRef(tenant.id, view.job.id)])
                break
            if index > 0:
                self._refresh(view, now)
            current = view.endpoints.get(endpoint_id)
            if current is None:
                continue  # archived meanwhile
            last = d.sessions.latest(tenant.id, endpoint_id, now)
            job = list(view.endpoints.values())
            siblings = sibling_changes(job, endpoint_id)
            watches = live_watches(view.reflexes, endpoint_id, now)
            pending = first_answers_pending(job, endpoint_id, now)
            read = changes_read(job, last)
            found = verdict(current, last, siblings, now, watches, pending, read)
            due = found.next_due
            if found.reason is not None:
                if self._over_budget(tenant, now):
                    observability.count("AnalysisSkippedBudget")
                    report.skipped = "over_budget"
                    due = now + BUDGET_RETRY
                else:
                    report.reasons[endpoint_id] = found.reason
                    try:
                        with observability.correlated(endpoint_id=endpoint_id):
                            session = self._session(
                                view, current, last, now, siblings, found.reason
                            )
                    except Exception:
                        # One endpoint's failure must not starve its siblings; it is looked
                        # at again in a few minutes.
                        log.exception("Failed to analyze endpoint %s", endpoint_id)
                        observability.count("AnalysisFailures")
                        due = d.clock.now() + MIN_NEXT_ANALYSIS
                    else:
                        report.sessions.append(session)
                        looked[endpoint_id] = session
                        due = session.next_analysis_at
            else:
                looked[endpoint_id] = last
            self._set_due(tenant.id, current, due)
        return looked

    def _recheck(self, view: JobView, looked: dict[str, AnalysisSession | None]) -> datetime | None:
        """After the lease is released, bring forward the next analysis of endpoints whose own
        or siblings' state changed after their session read it (a run that finished while the
        job was analysed, whose message found the job leased); the earliest due time.

        Runs after the release so that a change is either seen here or its message finds the
        job free. Endpoints whose session failed or was over budget keep their later time.
        """
        d = self._deps
        now = d.clock.now()
        listed = d.endpoints.list_by_job(view.tenant.id, view.job.id)
        current = [e for e in listed if e.archived_at is None]
        earliest: datetime | None = None
        for endpoint in current:
            due = endpoint.analysis_due_at
            if endpoint.id in looked:
                siblings = sibling_changes(current, endpoint.id)
                watches = live_watches(view.reflexes, endpoint.id, now)
                pending = first_answers_pending(current, endpoint.id, now)
                last = looked[endpoint.id]
                read = changes_read(current, last)
                found = verdict(endpoint, last, siblings, now, watches, pending, read)
                sooner = now if found.analyse else found.next_due
                if sooner is not None and (due is None or sooner < due):
                    self._set_due(view.tenant.id, endpoint, sooner)
                    due = sooner
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def _refresh(self, view: JobView, now: datetime) -> None:
        """Read the job again before a session: earlier sessions' hints may have run siblings,
        and siblings run on their own. Endpoints first, then the newest finished run of each
        whose record changed, so a body is never older than the state read beside it."""
        d, tenant_id = self._deps, view.tenant.id
        listed = d.endpoints.list_by_job(tenant_id, view.job.id)
        fresh = {e.id: e for e in listed if e.archived_at is None}
        for endpoint_id, endpoint in fresh.items():
            if view.endpoints.get(endpoint_id) != endpoint or endpoint_id not in view.latest_runs:
                view.latest_runs[endpoint_id] = _newest_finished(d, tenant_id, endpoint_id, now)
        view.endpoints = fresh
        view.reflexes = d.reflexes.list_by_job(tenant_id, view.job.id)

    def _over_budget(self, tenant: Tenant, now: datetime) -> bool:
        used, _ = self._deps.tenants.ai_usage(tenant.id, budget_period(now))
        if used < tenant.limits.ai_monthly_tokens:
            return False
        log.warning(
            "Quota exceeded: tenant %s used %d of %d AI tokens this month; analysis skipped",
            tenant.id,
            used,
            tenant.limits.ai_monthly_tokens,
        )
        self._deps.tenants.mark_ai_skipped(tenant.id, to_ms(now))
        return True

    def _session(
        self,
        view: JobView,
        endpoint: Endpoint,
        last: AnalysisSession | None,
        started: datetime,
        seen: dict[str, datetime],
        trigger: str,
    ) -> AnalysisSession:
        """One recorded session; `started` was taken before the view was read, and `seen` is
        the siblings' state as the view holds it."""
        d = self._deps
        assert self._model is not None
        recent = d.runs.outcomes_since(
            view.tenant.id, endpoint.id, started - HEALTH_WINDOW, started
        )
        siblings = [e for e in view.endpoints.values() if e.id != endpoint.id]
        mine = [r for r in view.reflexes if r.endpoint_id == endpoint.id]
        text = prompt.build(endpoint, view.job, siblings, recent, last, started, mine)
        # Named before it runs, so the hints and reflexes it writes can say who set them.
        session_id = ids.session_id(started)
        toolbox = Toolbox(d, view, endpoint.id, Actor("session", session_id))
        outcome = run_session(
            self._model,
            text,
            toolbox,
            max_output_tokens=d.settings.ai_max_output_tokens,
            context=CONTEXT_READS,
        )
        done = d.clock.now()
        if outcome.submitted is not None:
            requested = outcome.submitted.get("next_analysis_in_ms")
            next_at = next_analysis_at(done, requested, endpoint.baseline_interval_ms)
        else:
            next_at = done + MIN_NEXT_ANALYSIS  # failed: try again soon, the schedule is unaffected
        session = AnalysisSession(
            endpoint_id=endpoint.id,
            id=session_id,
            tenant_id=view.tenant.id,
            job_id=view.job.id,
            analyzed_at=done,
            reasoning=outcome.reasoning,
            tool_calls=tuple(outcome.tool_calls),
            token_usage=outcome.tokens,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            duration_ms=int((done - started) / timedelta(milliseconds=1)),
            next_analysis_at=next_at,
            endpoint_failure_count=endpoint.failure_count,
            confidence=(outcome.submitted or {}).get("confidence"),
            status=outcome.status,
            error_message=outcome.error,
            warnings=tuple(outcome.warnings),
            expires_at=done + timedelta(days=d.settings.retention_days),
            siblings_seen=seen,
            answers_read=toolbox.answers_read,
            trigger=trigger,
        )
        d.sessions.put(session)
        observability.count("AnalysisSessions")
        observability.count("AiTokens", outcome.tokens)
        if session.status != "success":
            observability.count("AnalysisFailures")
        if outcome.tokens:
            d.tenants.add_ai_tokens(view.tenant.id, budget_period(done), outcome.tokens)
        log.info(
            "analysed %s in session %s: %s, %d tool calls, %d tokens, next at %s",
            endpoint.id,
            session.id,
            session.status,
            len(session.tool_calls),
            outcome.tokens,
            next_at.isoformat(),
            extra={"session_id": session.id},
        )
        return session

    def _set_due(self, tenant_id: str, read: Endpoint, due: datetime | None) -> None:
        """Write the next analysis time, keeping an earlier mark a run made meanwhile."""

        def apply(ep: Endpoint, now: datetime) -> Change:
            target = due
            if ep.analysis_due_at != read.analysis_due_at and ep.analysis_due_at is not None:
                target = ep.analysis_due_at if target is None else min(target, ep.analysis_due_at)
            return replace(ep, analysis_due_at=target), Keep()

        if read.analysis_due_at == due:
            # Nothing to write: a mark a run made since can only be earlier, and it stays.
            return
        try:
            self._deps.scheduling.change(tenant_id, read.id, apply)
        except NotFound:
            return

    def _follow_up(self, view: JobView, earliest: datetime | None) -> None:
        """A session deferred by the minimum gap comes due before the next tick: send the job
        again with a delay, so reactions stay within about a minute."""
        d = self._deps
        if earliest is None or d.analysis_queue is None:
            return
        wait = earliest - d.clock.now()
        if wait < timedelta(seconds=d.settings.analysis_period_s):
            delay = max(0, int(wait.total_seconds()) + 1)
            d.analysis_queue.send([JobRef(view.tenant.id, view.job.id)], delay_s=delay)


def _newest_finished(d: Deps, tenant_id: str, endpoint_id: str, now: datetime) -> Run | None:
    """An endpoint's latest answer: a run still in flight has no body to read yet."""
    found = d.runs.finished(tenant_id, endpoint_id, now, 1)
    return found[0] if found else None
