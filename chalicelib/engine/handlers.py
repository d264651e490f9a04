"""The event handlers' bodies: what the dispatcher schedule and the runs queue invoke."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from chalicelib import deps as deps_module
from chalicelib import observability
from chalicelib.engine import notify
from chalicelib.engine.dispatch import dispatch
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import QueuedSlot
from chalicelib.planner.analyze import Analyzer
from chalicelib.planner.dispatch import dispatch_analysis
from chalicelib.planner.queue import JobRef

log = logging.getLogger("cronpilot.engine")
MAX_PARALLEL = 10


def on_dispatch_tick() -> dict[str, Any]:
    """Run one dispatcher tick with the process's dependencies."""
    d = deps_module.get()
    report = dispatch(d, d.require_queue(), d.clock.now())
    observability.count("DispatcherTicks")
    observability.count("SlotsDispatched", report.sent + report.resent)
    observability.count("Zombies", report.zombies)
    # Slots not started in time and due incident reminders are found on the same tick.
    notify.on_alert_tick()
    return asdict(report)


def requeue_after_restart() -> dict[str, Any]:
    """Send again every due slot whose message a restart of the local stack lost.

    The local stack's queues live in its store process's memory: at start they are empty,
    whatever the endpoints' in-flight marks say. Without this the slots queued before a
    restart would run only when the dispatcher takes their messages for lost, up to 90 s late.
    """
    d = deps_module.get()
    return asdict(dispatch(d, d.require_queue(), d.clock.now(), queue_emptied=True))


def on_runs_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Execute a batch of slot messages concurrently, so one slow endpoint never delays the
    others. Endpoint failures are run results; only an infrastructure error marks a message
    failed for retry (the claim makes a retry harmless). A malformed message is dropped."""
    records = event.get("Records") or []
    executor = Executor(deps_module.get())

    def handle(record: dict[str, Any]) -> str | None:
        try:
            slot = QueuedSlot.decode(record.get("body") or "")
        except (ValueError, OverflowError):
            # Parsing is pure, so a retry could never succeed. OverflowError: a slot number
            # outside the datetime range (it used to escape and fail the whole batch).
            log.error("dropping malformed slot message %s", record.get("messageId"))
            return None
        try:
            executor.run_slot(slot)
        except Exception:
            log.exception("slot %s of %s failed; will retry", slot.at, slot.endpoint_id)
            return str(record.get("messageId"))
        return None

    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(records))) as pool:
        failed = [m for m in pool.map(handle, records) if m is not None]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def on_analysis_tick() -> dict[str, Any]:
    """Send the jobs due for analysis to the analysis queue."""
    d = deps_module.get()
    tick = dispatch_analysis(d, d.require_analysis_queue(), d.clock.now())
    observability.count("AnalysisJobsSent", tick.jobs_sent)
    return asdict(tick)


def on_analysis_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Analyse the jobs of a batch one after another. A planner failure never touches
    scheduling; an unexpected error marks the message failed so SQS retries it."""
    d = deps_module.get()
    analyzer = Analyzer(d, d.planner_model)
    failed = []
    for record in event.get("Records") or []:
        try:
            ref = JobRef.decode(record.get("body") or "")
        except ValueError:
            log.error("dropping malformed analysis message %s", record.get("messageId"))
            continue
        try:
            with observability.correlated(tenant_id=ref.tenant_id, job_id=ref.job_id):
                report = analyzer.analyse_job(ref)
        except Exception:
            log.exception("analysis of job %s failed; will retry", ref.job_id)
            failed.append({"itemIdentifier": str(record.get("messageId"))})
            continue
        log.info(
            "job %s: %d sessions%s",
            ref.job_id,
            len(report.sessions),
            f" (skipped: {report.skipped})" if report.skipped else "",
        )
    return {"batchItemFailures": failed}
