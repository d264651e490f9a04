"""Adaptive controls: hints, pause/resume, failure reset. All answer 204."""

from __future__ import annotations

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.schemas import IntervalHint, OneShotHint, PauseRequest
from chalicelib.services import controls

api = Router(__name__, "Adaptive controls")


@api.route(
    "/endpoints/{endpoint_id}/hints/interval",
    "POST",
    "Apply an interval hint",
    status=204,
    body=IntervalHint,
    description="Run every intervalMs until the hint expires (ttlMinutes, default 60).",
)
def interval_hint(endpoint_id: str) -> None:
    controls.interval_hint(
        deps.get(), api.tenant(), endpoint_id, api.body(IntervalHint), api.actor()
    )


@api.route(
    "/endpoints/{endpoint_id}/hints/oneshot",
    "POST",
    "Schedule a one-shot run",
    status=204,
    body=OneShotHint,
    description="Run once at nextRunAt (or in nextRunInMs). Up to 60 s in the past means now.",
)
def oneshot_hint(endpoint_id: str) -> None:
    controls.oneshot_hint(deps.get(), api.tenant(), endpoint_id, api.body(OneShotHint), api.actor())


@api.route("/endpoints/{endpoint_id}/hints", "DELETE", "Clear hints", status=204)
def clear_hints(endpoint_id: str) -> None:
    controls.clear_hints(deps.get(), api.tenant(), endpoint_id)


@api.route(
    "/endpoints/{endpoint_id}/pause",
    "POST",
    "Pause or resume an endpoint",
    status=204,
    body=PauseRequest,
    description="pausedUntil: an instant to pause until, or null to resume (runs at once if due).",
)
def pause(endpoint_id: str) -> None:
    controls.set_pause(deps.get(), api.tenant(), endpoint_id, api.body(PauseRequest), api.actor())


@api.route("/endpoints/{endpoint_id}/resume", "POST", "Resume an endpoint", status=204)
def resume(endpoint_id: str) -> None:
    controls.resume(deps.get(), api.tenant(), endpoint_id, api.actor())


@api.route("/endpoints/{endpoint_id}/reset-failures", "POST", "Reset the failure count", status=204)
def reset_failures(endpoint_id: str) -> None:
    controls.reset_failures(deps.get(), api.tenant(), endpoint_id)
