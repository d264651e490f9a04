"""An endpoint's reflexes: listed, created, replaced and removed by people (REST, MCP, CLI)
and by planner sessions. The rules are checked before anything is written: the reflex's
endpoint must be live, and every endpoint its condition reads must be in the same job."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.deps import Deps
from chalicelib.domain import actions, ids
from chalicelib.domain.entities import Actor, Endpoint, Reflex
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.reflex_rules import ReflexSpec, planner_expiry
from chalicelib.domain.reflexes import watched

MAX_PER_ENDPOINT = 20


def list_reflexes(deps: Deps, tenant_id: str, endpoint: Endpoint) -> list[Reflex]:
    """The reflexes acting on `endpoint`, oldest first (expired ones included)."""
    return deps.reflexes.list_by_endpoint(tenant_id, endpoint.job_id, endpoint.id)


def get_reflex(deps: Deps, tenant_id: str, endpoint: Endpoint, reflex_id: str) -> Reflex:
    """The reflex, provided it acts on `endpoint`; NotFound otherwise."""
    found = deps.reflexes.get(tenant_id, endpoint.job_id, reflex_id)
    if found is None or found.endpoint_id != endpoint.id:
        raise NotFound("Reflex not found")
    return found


def save_reflex(
    deps: Deps,
    endpoint: Endpoint,
    spec: ReflexSpec,
    by: Actor,
    replacing: str | None = None,
) -> Reflex:
    """Create a reflex on `endpoint` (or replace `replacing` whole: its rule, reason and
    author; its firing count and last firing stay, so its cooldown goes on). A planner
    session's reflex expires within 7 days (24 h unless it asked for less)."""
    now = deps.clock.now()
    if by.type == "session":
        spec = spec.model_copy(update={"expires_at": planner_expiry(now, spec.expires_at)})
    # A person's expiry already past is kept as written: the reflex is stored inactive.
    actions.require_live(endpoint)
    _check_targets(deps, endpoint, spec)
    if replacing is not None:
        old = get_reflex(deps, endpoint.tenant_id, endpoint, replacing)
        # A new rule compares its `changed` clauses afresh.
        saved = replace(old, spec=spec, created_by=by, updated_at=now, seen={})
        return deps.reflexes.put(saved)
    existing = list_reflexes(deps, endpoint.tenant_id, endpoint)
    if sum(1 for r in existing if r.live(now)) >= MAX_PER_ENDPOINT:
        raise ValidationFailed.field(
            "reflexes", f"An endpoint has at most {MAX_PER_ENDPOINT} live reflexes"
        )
    reflex = Reflex(
        tenant_id=endpoint.tenant_id,
        job_id=endpoint.job_id,
        endpoint_id=endpoint.id,
        id=ids.reflex_id(),
        spec=spec,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    return deps.reflexes.put(reflex)


def delete_reflex(deps: Deps, endpoint: Endpoint, reflex_id: str) -> None:
    """Remove a reflex of `endpoint`; NotFound when it is not one."""
    deps.reflexes.delete(get_reflex(deps, endpoint.tenant_id, endpoint, reflex_id))


def _check_targets(deps: Deps, endpoint: Endpoint, spec: ReflexSpec) -> None:
    """Every endpoint the condition reads is in the reflex's job (404 otherwise, as for any
    id the tenant cannot see)."""
    for target in sorted(watched(spec, endpoint.id) - {endpoint.id}):
        other = deps.endpoints.get(endpoint.tenant_id, target)
        if other is None or other.job_id != endpoint.job_id:
            raise NotFound(
                f"Endpoint {target} named in the condition is not in this job",
                [{"field": "when", "message": f"unknown endpoint {target}"}],
            )


def live_watches(reflexes: list[Reflex], endpoint_id: str, now: datetime) -> frozenset[str]:
    """The siblings that the live reflexes of `endpoint_id` read (their changes are the
    reflexes' to act on, not news for the planner)."""
    found: set[str] = set()
    for reflex in reflexes:
        if reflex.endpoint_id == endpoint_id and reflex.live(now):
            found |= watched(reflex.spec, endpoint_id)
    return frozenset(found - {endpoint_id})
