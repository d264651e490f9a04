"""Incidents: when an endpoint's trouble opens one, when it closes, when to remind. Pure.

An incident of kind `failures` opens when the endpoint's consecutive failures reach the job's
`failureThreshold` and closes on the first success after. One of kind `late` opens when a slot
has not started `lateAfterMs` after its time (the engine is in trouble, not the endpoint) and
closes when a run starts on time again. An endpoint has at most one open incident per kind.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.inflight import locked, refused_by_pause
from chalicelib.domain.timeutil import to_ms

IncidentKind = Literal["failures", "late"]
IncidentState = Literal["open", "closed"]
# What a notice says: about an incident, a channel's `test` message, or an endpoint the planner
# or a reflex `paused` or `resumed` (domain/pause_notices.py).
EventKind = Literal["opened", "realert", "recovered", "test", "paused", "resumed"]

DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_LATE_AFTER_MS = 60_000
# Bounds of the policy fields (domain/alert_schemas.py checks them on input).
MIN_LATE_AFTER_MS = 5_000
MAX_LATE_AFTER_MS = 24 * 3600 * 1000
MIN_REALERT_MINUTES = 5
MAX_REALERT_MINUTES = 7 * 24 * 60
MAX_FAILURE_THRESHOLD = 1000
# The runs an incident keeps as "the runs that opened it".
OPENING_RUNS_KEPT = 10


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """When a job's endpoints open incidents and what their channels hear.
    `realert_minutes` None: no reminders while an incident stays open. `notify_on_pause`:
    tell the channels when the planner or a reflex pauses or resumes an endpoint."""

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    notify_on_recovery: bool = True
    realert_minutes: int | None = None
    late_after_ms: int = DEFAULT_LATE_AFTER_MS
    notify_on_pause: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "failureThreshold": self.failure_threshold,
            "notifyOnRecovery": self.notify_on_recovery,
            "realertMinutes": self.realert_minutes,
            "lateAfterMs": self.late_after_ms,
            "notifyOnPause": self.notify_on_pause,
        }

    def over(self, overrides: dict[str, Any] | None) -> AlertPolicy:
        """This policy with the fields `overrides` sets (stored camelCase JSON; None keeps)."""
        o = overrides or {}
        return AlertPolicy(
            failure_threshold=int(o.get("failureThreshold") or self.failure_threshold),
            notify_on_recovery=bool(o.get("notifyOnRecovery", self.notify_on_recovery)),
            realert_minutes=o.get("realertMinutes", self.realert_minutes),
            late_after_ms=int(o.get("lateAfterMs") or self.late_after_ms),
            notify_on_pause=bool(o.get("notifyOnPause", self.notify_on_pause)),
        )


def effective_policy(
    tenant_defaults: dict[str, Any] | None, job_policy: dict[str, Any] | None
) -> AlertPolicy:
    """Built-in defaults, then the tenant's defaults, then the job's own settings."""
    return AlertPolicy().over(tenant_defaults).over(job_policy)


@dataclass(frozen=True, slots=True)
class LastError:
    """What the latest failing run said."""

    run_id: str
    at: datetime
    status_code: int | None = None
    error_kind: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    tenant_id: str
    id: str
    job_id: str
    endpoint_id: str
    endpoint_name: str
    kind: IncidentKind
    state: IncidentState
    opened_at: datetime
    failure_count: int = 0
    opening_run_ids: tuple[str, ...] = ()
    last_error: LastError | None = None
    closed_at: datetime | None = None
    closing_run_id: str | None = None
    realert_count: int = 0
    next_realert_at: datetime | None = None
    # How late the slot was when it opened (late incidents).
    late_by_ms: int | None = None
    notify_on_recovery: bool = True
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Open:
    kind: IncidentKind


@dataclass(frozen=True, slots=True)
class Close:
    kind: IncidentKind


Verdict = Open | Close


def lateness_ms(run: Run) -> int | None:
    """How long after its slot the run started (None for runs without a slot)."""
    if run.slot_at is None:
        return None
    return max(0, (run.started_at - run.slot_at) // timedelta(milliseconds=1))


def after_run(
    policy: AlertPolicy,
    endpoint: Endpoint,
    run: Run,
    open_kinds: frozenset[IncidentKind],
) -> list[Verdict]:
    """What a settled scheduled run does to the endpoint's incidents. `open_kinds`: the kinds
    believed open (may be a little stale: opening and closing are conditional writes, so a
    stale belief costs one refused write, never a second incident).

    A success closes `failures` when the endpoint had failed before this run (its run's
    attempt counts the streak it started with) or one is believed open; a run that started
    within `lateAfterMs` of its slot closes `late`."""
    verdicts: list[Verdict] = []
    succeeded = run.status == "success"
    if succeeded:
        if run.attempt > 1 or "failures" in open_kinds:
            verdicts.append(Close("failures"))
    elif endpoint.failure_count >= policy.failure_threshold and "failures" not in open_kinds:
        verdicts.append(Open("failures"))
    late = lateness_ms(run)
    # Lateness opens incidents from the dispatcher's view of slots not started (`slot_late`);
    # a run that starts on time closes one.
    if late is not None and late <= policy.late_after_ms and "late" in open_kinds:
        verdicts.append(Close("late"))
    return verdicts


def slot_late(
    endpoint: Endpoint, now: datetime, policy: AlertPolicy, watching_since: datetime | None = None
) -> int | None:
    """How long the endpoint's pending slot has waited, when that is more than `lateAfterMs`,
    else None. It waits from its time, from the endpoint's last change (a resumed job's overdue
    slot starts waiting at the resume) or from when the watcher started (a local stack started
    after a night off sends its overdue slots at once: they are not late yet), whichever is
    latest. A running or paused endpoint, or one out of the due index, is not late."""
    if endpoint.archived_at is not None or endpoint.due_shard is None:
        return None
    if locked(endpoint, now) or refused_by_pause(endpoint) or endpoint.paused_at(now):
        return None
    waiting_since = max(endpoint.next_run_at, endpoint.updated_at)
    if watching_since is not None:
        waiting_since = max(waiting_since, watching_since)
    late = (now - waiting_since) // timedelta(milliseconds=1)
    return late if late > policy.late_after_ms else None


def next_realert(policy: AlertPolicy, after: datetime) -> datetime | None:
    """When an open incident reminds next (None: no reminders)."""
    if policy.realert_minutes is None:
        return None
    return after + timedelta(minutes=policy.realert_minutes)


def opening(
    endpoint: Endpoint,
    kind: IncidentKind,
    policy: AlertPolicy,
    now: datetime,
    opening_run_ids: tuple[str, ...] = (),
    last_error: LastError | None = None,
    late_by_ms: int | None = None,
) -> Incident:
    """A new open incident of `kind` on `endpoint`, reminding and recovering as `policy` says."""
    return Incident(
        tenant_id=endpoint.tenant_id,
        id=incident_id(now),
        job_id=endpoint.job_id,
        endpoint_id=endpoint.id,
        endpoint_name=endpoint.name,
        kind=kind,
        state="open",
        opened_at=now,
        failure_count=endpoint.failure_count,
        opening_run_ids=opening_run_ids,
        last_error=last_error,
        late_by_ms=late_by_ms,
        next_realert_at=next_realert(policy, now),
        notify_on_recovery=policy.notify_on_recovery,
    )


def event_id(incident_id: str, kind: EventKind, sequence: int = 0) -> str:
    """The identity of one notice event: what exactly-once is counted against."""
    return f"{incident_id}:{kind}" if sequence == 0 else f"{incident_id}:{kind}:{sequence}"


_BASE36 = string.digits + string.ascii_lowercase


def incident_id(opened_at: datetime) -> str:
    """`inc_<13-digit epoch-ms>_<10 base36>`: lexical order is opening order."""
    suffix = "".join(secrets.choice(_BASE36) for _ in range(10))
    return f"inc_{to_ms(opened_at):013d}_{suffix}"


def last_error_of(run: Run) -> LastError | None:
    if run.status == "success":
        return None
    return LastError(
        run.id,
        run.finished_at or run.started_at,
        run.status_code,
        run.error_kind,
        (run.error_message or "")[:500] or None,
    )
