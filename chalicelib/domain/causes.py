"""Why a slot was planned: the governor's source turned into a cause a person can read. Pure."""

from __future__ import annotations

from chalicelib.domain.entities import Actor, Cause, CauseKind, Endpoint, ScheduleSource
from chalicelib.domain.governor import BACKOFF_CAP_EXPONENT


def cause_of(endpoint: Endpoint, source: ScheduleSource) -> Cause:
    """The cause of a slot the governor chose with `source` for `endpoint` (as written)."""
    if source in ("ai-interval", "ai-oneshot"):
        by = endpoint.ai_hint_set_by
        kind: CauseKind
        if by is not None and by.type == "reflex":
            kind = "reflex"
        else:
            kind = "interval-hint" if source == "ai-interval" else "oneshot-hint"
        return Cause(kind, source, by, endpoint.ai_hint_reason)
    if source == "baseline-interval" and endpoint.failure_count > 0:
        factor = 1 << min(endpoint.failure_count, BACKOFF_CAP_EXPONENT)
        reason = f"{endpoint.failure_count} consecutive failures: baseline interval x{factor}"
        return Cause("backoff", source, None, reason)
    if source == "clamped-min":
        reason = f"at least {endpoint.min_interval_ms} ms after the last run (minIntervalMs)"
        return Cause("clamp", source, None, reason)
    if source == "clamped-max":
        reason = f"at most {endpoint.max_interval_ms} ms after the last run (maxIntervalMs)"
        return Cause("clamp", source, None, reason)
    if source == "paused":
        return Cause("pause-ended", source, None, "the pause ends")
    return Cause("baseline", source)


def resumed(endpoint: Endpoint, by: Actor | None) -> Cause:
    """An overdue slot run at once because its endpoint was resumed."""
    source: ScheduleSource = "baseline-cron" if endpoint.baseline_cron else "baseline-interval"
    return Cause("resumed", source, by, "resumed after a pause")


def manual_test(by: Actor | None) -> Cause:
    """A run started by `POST /endpoints/{id}/test`."""
    return Cause("manual-test", "test", by, "manual test run")
