"""Public routes: service health, the OpenAPI document and its viewer page."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import __version__, deps
from chalicelib.api.http import Router
from chalicelib.api.openapi import document
from chalicelib.api.reference_page import REFERENCE_HTML
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.responses import ServiceHealth
from chalicelib.services.accounts import authenticate
from chalicelib.services.ai_usage import ai_usage
from chalicelib.services.system import storage_reachable

api = Router(__name__, "System")


@api.route("/health", "GET", "Service health", response=ServiceHealth, auth="none")
def health() -> Response:
    d = deps.get()
    reachable = storage_reachable(d.settings)
    usage = None
    key = api.request.headers.get("x-api-key") if reachable else None
    if key:
        try:
            tenant, _ = authenticate(d, key)
            usage = ai_usage(d, tenant)
        except Unauthorized:
            usage = None  # health stays public: a bad key just gets the public answer
    body = ServiceHealth(
        status="ok" if reachable else "degraded",
        version=__version__,
        storage="reachable" if reachable else "unreachable",
        db="connected" if reachable else "disconnected",
        ai="configured" if d.planner_model is not None else "not_configured",
        timestamp=d.clock.now(),
        ai_usage=usage,
    )
    return Response(
        body=body.wire(),
        status_code=200 if reachable else 503,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


@api.route("/doc", "GET", "OpenAPI 3.1 document", auth="none")
def doc() -> Response:
    return Response(body=document(), headers={"Content-Type": "application/json"})


@api.route("/reference", "GET", "API reference page", auth="none")
def reference() -> Response:
    return Response(body=REFERENCE_HTML, headers={"Content-Type": "text/html; charset=utf-8"})
