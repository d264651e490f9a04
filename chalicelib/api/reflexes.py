"""Reflexes of an endpoint: rules the engine applies after every run it watches."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.reflex_rules import ReflexSpec, parse_reflex
from chalicelib.domain.responses import ReflexList, ReflexResponse
from chalicelib.services import reflexes
from chalicelib.services.endpoints import get_endpoint

api = Router(__name__, "Reflexes")

BASE = "/endpoints/{endpoint_id}/reflexes"
ITEM = BASE + "/{reflex_id}"
RULE = (
    "when: a condition on the latest answer of this endpoint ('self') or of a sibling in the "
    "same job (all/any of clauses {endpoint, path, op, value}); do: run_now, set_interval, "
    "pause, resume or clear_hints on this endpoint, at most once per cooldownMs."
)


@api.route(BASE, "GET", "List an endpoint's reflexes", response=ReflexList)
def list_reflexes(endpoint_id: str) -> dict[str, Any]:
    d = deps.get()
    endpoint = get_endpoint(d, api.tenant(), endpoint_id)
    now = d.clock.now()
    found = reflexes.list_reflexes(d, endpoint.tenant_id, endpoint)
    return ReflexList(reflexes=[ReflexResponse.of(r, now) for r in found]).wire()


@api.route(
    BASE,
    "POST",
    "Add a reflex",
    status=201,
    body=ReflexSpec,
    response=ReflexResponse,
    description=RULE,
)
def create_reflex(endpoint_id: str) -> dict[str, Any]:
    d = deps.get()
    spec = parse_reflex(api.json_body())
    endpoint = get_endpoint(d, api.tenant(), endpoint_id)
    saved = reflexes.save_reflex(d, endpoint, spec, api.actor())
    return ReflexResponse.of(saved, d.clock.now()).wire()


@api.route(ITEM, "GET", "Get a reflex", response=ReflexResponse)
def get_reflex(endpoint_id: str, reflex_id: str) -> dict[str, Any]:
    d = deps.get()
    endpoint = get_endpoint(d, api.tenant(), endpoint_id)
    found = reflexes.get_reflex(d, endpoint.tenant_id, endpoint, reflex_id)
    return ReflexResponse.of(found, d.clock.now()).wire()


@api.route(
    ITEM,
    "PUT",
    "Replace a reflex",
    body=ReflexSpec,
    response=ReflexResponse,
    description="The rule is replaced whole; its firing count and cooldown carry on.",
)
def replace_reflex(endpoint_id: str, reflex_id: str) -> dict[str, Any]:
    d = deps.get()
    spec = parse_reflex(api.json_body())
    endpoint = get_endpoint(d, api.tenant(), endpoint_id)
    saved = reflexes.save_reflex(d, endpoint, spec, api.actor(), replacing=reflex_id)
    return ReflexResponse.of(saved, d.clock.now()).wire()


@api.route(ITEM, "DELETE", "Remove a reflex", status=204)
def delete_reflex(endpoint_id: str, reflex_id: str) -> None:
    d = deps.get()
    endpoint = get_endpoint(d, api.tenant(), endpoint_id)
    reflexes.delete_reflex(d, endpoint, reflex_id)
