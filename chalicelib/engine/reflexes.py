"""Reflexes applied right after a run settles, with no model call.

One query reads the job's reflexes; those that watch the endpoint that ran are evaluated on its
fresh answer and, where they read a sibling, on that sibling's latest finished run (read only
when a clause needs it). A reflex that holds and is out of its cooldown is counted with a
conditional write, so concurrent runs fire it once, then its action goes through the scheduling
chokepoint like any person's or planner's action.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import observability
from chalicelib.domain.actions import reflex_action
from chalicelib.domain.entities import Actor, Endpoint, Reflex
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.reflexes import Observed, evaluate, may_fire, watched
from chalicelib.domain.timing import Change
from chalicelib.engine.finished import RunFinished
from chalicelib.engine.pause_alerts import announce_pause

if TYPE_CHECKING:
    from chalicelib.deps import Deps

log = logging.getLogger("cronpilot.engine")


class Latest(Mapping[str, Observed | None]):
    """The latest finished run of each endpoint of one tenant, read on first use."""

    def __init__(self, deps: Deps, tenant_id: str, known: dict[str, Observed], now: datetime):
        self._deps = deps
        self._tenant_id = tenant_id
        self._now = now
        self._cache: dict[str, Observed | None] = dict(known)

    def __getitem__(self, endpoint_id: str) -> Observed | None:
        if endpoint_id not in self._cache:
            self._cache[endpoint_id] = self._read(endpoint_id)
        return self._cache[endpoint_id]

    def _read(self, endpoint_id: str) -> Observed | None:
        endpoint = self._deps.endpoints.get(self._tenant_id, endpoint_id)
        if endpoint is None:
            return None
        runs = self._deps.runs.finished(self._tenant_id, endpoint_id, self._now, 1)
        return Observed.of(runs[0], endpoint.failure_count) if runs else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)


class ReflexEngine:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def on_run_finished(self, event: RunFinished) -> None:
        """Evaluate the job's reflexes that watch the endpoint that ran; fire those that hold."""
        d = self._deps
        ran = event.endpoint
        now = d.clock.now()
        watching = [
            r
            for r in d.reflexes.list_by_job(ran.tenant_id, ran.job_id)
            if r.live(now) and ran.id in watched(r.spec, r.endpoint_id)
        ]
        if not watching:
            return
        latest = Latest(d, ran.tenant_id, {ran.id: Observed.of(event.run, ran.failure_count)}, now)
        for reflex in watching:
            self._evaluate(reflex, latest, event.run.id, now)

    def _evaluate(self, reflex: Reflex, latest: Latest, run_id: str, now: datetime) -> None:
        d = self._deps
        found = evaluate(reflex.spec, reflex.endpoint_id, latest, reflex.seen)
        due = may_fire(reflex.last_fired_at, reflex.spec.cooldown_ms, reflex.spec.expires_at, now)
        if found.holds and due:
            if d.reflexes.record_firing(reflex, now, run_id, found.seen):
                self._act(reflex)
            return
        if found.seen != reflex.seen:
            d.reflexes.record_seen(reflex, found.seen)

    def _act(self, reflex: Reflex) -> None:
        by = Actor("reflex", reflex.id)
        read: list[Endpoint] = []

        def apply(ep: Endpoint, now: datetime) -> Change:
            read.append(ep)
            return reflex_action(ep, now, reflex.spec.do, by, reflex.spec.reason)

        try:
            saved = self._deps.scheduling.change(reflex.tenant_id, reflex.endpoint_id, apply)
        except (NotFound, Conflict) as exc:
            # Deleted or archived since the reflex was read: nothing left to act on.
            log.info("reflex %s did not act on %s: %s", reflex.id, reflex.endpoint_id, exc)
            return
        announce_pause(self._deps, read[-1], saved, by, reflex.spec.reason)
        observability.count("ReflexFirings")
        log.info(
            "reflex %s fired on %s: %s",
            reflex.id,
            reflex.endpoint_id,
            reflex.spec.do.action,
            extra={"reflex_id": reflex.id},
        )
