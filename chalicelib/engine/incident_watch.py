"""Incidents opened and closed as runs settle, late slots and reminders found each tick.

On the run path this stays cheap: the job's policy and the tenant's open incidents are
remembered per process for a few seconds, so a run that changes nothing costs no read; one
that opens or closes an incident costs a conditional transaction and one SQS send. No channel
is ever called from here: the notifier does that from its own queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import observability
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.incidents import (
    MIN_LATE_AFTER_MS,
    OPENING_RUNS_KEPT,
    AlertPolicy,
    Close,
    EventKind,
    Incident,
    IncidentKind,
    after_run,
    effective_policy,
    last_error_of,
    next_realert,
    opening,
    slot_late,
)
from chalicelib.domain.timeutil import to_ms
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.notices_queue import NoticeRef
from chalicelib.store.cache import TtlCache

if TYPE_CHECKING:
    from chalicelib.deps import Deps

log = logging.getLogger("cronpilot.alerts")
# How stale a process's view of policies and open incidents may be (the writes themselves
# are conditional, so staleness delays nothing but a late incident's closing).
POLICY_TTL = timedelta(seconds=30)
MARKS_TTL = timedelta(seconds=10)
CLOSED_KEPT = timedelta(days=90)

Marks = frozenset[tuple[str, IncidentKind]]


@dataclass(frozen=True, slots=True)
class TickReport:
    late_opened: int = 0
    reminders: int = 0


class IncidentWatch:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._policies: TtlCache[AlertPolicy] = TtlCache(POLICY_TTL)
        self._marks: TtlCache[Marks] = TtlCache(MARKS_TTL)
        # Slots overdue when this process started are given lateAfterMs from then to start.
        self._since = deps.clock.now()

    def policy(self, tenant_id: str, job_id: str) -> AlertPolicy:
        """The job's alert policy over the tenant's defaults (remembered for 30 s)."""
        now = self._deps.clock.now()
        key = f"{tenant_id}/{job_id}"
        cached = self._policies.get(key, now)
        if cached is not None:
            return cached
        repo = self._deps.alert_policies
        policy = effective_policy(
            repo.tenant_defaults(tenant_id), repo.job_policy(tenant_id, job_id)
        )
        self._policies.put(key, policy, now)
        return policy

    def forget_policies(self) -> None:
        """Drop remembered policies (after this process changed one)."""
        self._policies = TtlCache(POLICY_TTL)

    def _open_kinds(self, tenant_id: str, endpoint_id: str) -> frozenset[IncidentKind]:
        now = self._deps.clock.now()
        marks = self._marks.get(tenant_id, now)
        if marks is None:
            marks = frozenset(self._deps.incidents.open_marks(tenant_id))
            self._marks.put(tenant_id, marks, now)
        return frozenset(kind for ep, kind in marks if ep == endpoint_id)

    def on_run_finished(self, event: RunFinished) -> None:
        """Open or close the endpoint's incidents as the settled run says."""
        endpoint, run = event.endpoint, event.run
        if run.source == "test":
            return
        policy = self.policy(endpoint.tenant_id, endpoint.job_id)
        open_kinds = self._open_kinds(endpoint.tenant_id, endpoint.id)
        for verdict in after_run(policy, endpoint, run, open_kinds):
            if isinstance(verdict, Close):
                self.close(endpoint, verdict.kind, run)
            else:
                self.open_failures(endpoint, run, policy)

    def open_failures(self, endpoint: Endpoint, run: Run, policy: AlertPolicy) -> Incident | None:
        """Open a `failures` incident on `endpoint` (None when one is open already)."""
        d = self._deps
        now = d.clock.now()
        streak = d.runs.finished(
            endpoint.tenant_id, endpoint.id, now, min(endpoint.failure_count, OPENING_RUNS_KEPT)
        )
        opening_ids = tuple(r.id for r in streak if r.status != "success") or (run.id,)
        return self._open(
            opening(
                endpoint,
                "failures",
                policy,
                now,
                opening_run_ids=opening_ids,
                last_error=last_error_of(run),
            )
        )

    def open_late(self, endpoint: Endpoint, late_ms: int, policy: AlertPolicy) -> Incident | None:
        """Open a `late` incident on `endpoint` (None when one is open already)."""
        now = self._deps.clock.now()
        return self._open(opening(endpoint, "late", policy, now, late_by_ms=late_ms))

    def _open(self, incident: Incident) -> Incident | None:
        d = self._deps
        self._marks.forget(incident.tenant_id)
        if not d.incidents.open(incident):
            return None
        observability.count("IncidentsOpened")
        log.info(
            "incident %s opened on %s (%s)",
            incident.id,
            incident.endpoint_id,
            incident.kind,
            extra={"incident_id": incident.id},
        )
        self._announce(incident, "opened")
        return incident

    def close(self, endpoint: Endpoint, kind: IncidentKind, run: Run | None) -> Incident | None:
        """Close the endpoint's open incident of `kind`, if any."""
        d = self._deps
        now = d.clock.now()
        self._marks.forget(endpoint.tenant_id)
        closed = d.incidents.close(
            endpoint.tenant_id, endpoint.id, kind, now, run.id if run else None, now + CLOSED_KEPT
        )
        if closed is None:
            return None
        observability.count("IncidentsClosed")
        log.info("incident %s closed", closed.id, extra={"incident_id": closed.id})
        if closed.notify_on_recovery:
            self._announce(closed, "recovered")
        return closed

    def _announce(self, incident: Incident, event: EventKind, sequence: int = 0) -> None:
        queue = self._deps.notices_queue
        if queue is not None:
            queue.send(NoticeRef(incident.tenant_id, incident.id, event, sequence))

    def tick(self, now: datetime) -> TickReport:
        """Open incidents for slots not started in time; send the reminders that are due."""
        return TickReport(self._late_slots(now), self._reminders(now))

    def _late_slots(self, now: datetime) -> int:
        d = self._deps
        opened = 0
        until = to_ms(now - timedelta(milliseconds=MIN_LATE_AFTER_MS))
        for shard in range(d.settings.due_shards):
            for endpoint in d.endpoints.due(str(shard), until):
                policy = self.policy(endpoint.tenant_id, endpoint.job_id)
                late = slot_late(endpoint, now, policy, self._since)
                if late is None or "late" in self._open_kinds(endpoint.tenant_id, endpoint.id):
                    continue
                if self.open_late(endpoint, late, policy) is not None:
                    opened += 1
        return opened

    def _reminders(self, now: datetime) -> int:
        d = self._deps
        sent = 0
        for tenant_id, found_id in list(d.incidents.realert_due(now)):
            incident = d.incidents.get(tenant_id, found_id)
            if (
                incident is None
                or incident.state != "open"
                or incident.next_realert_at is None
                or incident.next_realert_at > now
            ):
                continue
            policy = self.policy(tenant_id, incident.job_id)
            if d.incidents.record_realert(incident, next_realert(policy, now)):
                self._announce(incident, "realert", incident.realert_count + 1)
                sent += 1
        return sent
