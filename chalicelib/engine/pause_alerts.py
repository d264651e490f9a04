"""Pause notices on the way out: when the planner or a reflex paused or resumed an endpoint and
the job's alert policy asks to hear of it, one message to the notifications queue.

Called after the change is saved, never inside it; a failure here is logged and never undoes
or delays the pause itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chalicelib import observability
from chalicelib.domain.entities import Actor, Endpoint
from chalicelib.domain.pause_notices import pause_notice
from chalicelib.engine.notices_queue import NoticeRef

if TYPE_CHECKING:
    from chalicelib.deps import Deps

log = logging.getLogger("cronpilot.alerts")


def announce_pause(
    deps: Deps, before: Endpoint, after: Endpoint, by: Actor | None, reason: str | None
) -> None:
    """Queue a notice if `by` paused or resumed the endpoint and its job's policy asks."""
    queue = deps.notices_queue
    notice = pause_notice(before, after, deps.clock.now(), by, reason)
    if notice is None or queue is None:
        return
    try:
        if not deps.incident_watch.policy(after.tenant_id, after.job_id).notify_on_pause:
            return
        queue.send(NoticeRef.for_pause(notice))
    except Exception:
        log.exception("could not announce that %s was %s", after.id, notice.event)
        return
    observability.count("PauseNotices")
