"""The notifier handler's body: what the notifications queue invokes."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib import deps as deps_module
from chalicelib import observability
from chalicelib.engine.notices_queue import NoticeRef
from chalicelib.engine.notifier import Notifier

log = logging.getLogger("cronpilot.alerts")


def on_notices_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Deliver each notice of the batch. A channel's failure is a recorded attempt (retried
    through the queue); only an infrastructure error marks the message failed, and the
    delivery claims make its retry harmless. A malformed message is dropped."""
    notifier = Notifier(deps_module.get())
    failed = []
    for record in event.get("Records") or []:
        try:
            ref = NoticeRef.decode(record.get("body") or "")
        except ValueError:
            log.error("dropping malformed notice message %s", record.get("messageId"))
            continue
        try:
            with observability.correlated(tenant_id=ref.tenant_id):
                notifier.handle(ref)
        except Exception:
            log.exception("notice %s failed; will retry", ref.event_id)
            failed.append({"itemIdentifier": str(record.get("messageId"))})
    return {"batchItemFailures": failed}


def on_alert_tick() -> dict[str, int]:
    """Late slots and due reminders, once per dispatcher tick; never fails the tick."""
    d = deps_module.get()
    try:
        report = d.incident_watch.tick(d.clock.now())
    except Exception:
        log.exception("alert tick failed; the next tick looks again")
        return {"lateOpened": 0, "reminders": 0}
    if report.late_opened or report.reminders:
        log.info("alert tick: %s", report)
    return {"lateOpened": report.late_opened, "reminders": report.reminders}
