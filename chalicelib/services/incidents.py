"""A tenant's incidents: listed (open first) and shown with the runs that opened them, the
last error and every notification attempt."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chalicelib.deps import Deps
from chalicelib.domain.alert_schemas import IncidentsQuery
from chalicelib.domain.entities import Run, Tenant
from chalicelib.domain.errors import NotFound
from chalicelib.domain.incidents import Incident, last_error_of
from chalicelib.domain.notices import Delivery


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    incident: Incident
    runs: list[Run]
    deliveries: list[Delivery]


def list_incidents(deps: Deps, tenant: Tenant, query: IncidentsQuery) -> list[Incident]:
    """Open incidents first, then closed ones, each newest first."""
    if query.job_id is not None and deps.jobs.get(tenant.id, query.job_id) is None:
        raise NotFound("Job not found", [{"field": "jobId", "message": "unknown job"}])
    if query.endpoint_id is not None and deps.endpoints.get(tenant.id, query.endpoint_id) is None:
        raise NotFound(
            "Endpoint not found", [{"field": "endpointId", "message": "unknown endpoint"}]
        )
    found = deps.incidents.list(
        tenant.id,
        job_id=query.job_id,
        endpoint_id=query.endpoint_id,
        state=query.state,
        since=query.since,
        until=query.until,
        limit=query.limit,
    )
    return sorted(found, key=lambda i: i.state != "open")


def get_incident(deps: Deps, tenant: Tenant, incident_id: str) -> IncidentDetail:
    """The incident with its opening runs, its last error (the endpoint's latest failure while
    it is open) and its deliveries; NotFound for an unknown or another tenant's id."""
    incident = deps.incidents.get(tenant.id, incident_id)
    if incident is None:
        raise NotFound("Incident not found")
    now = deps.clock.now()
    runs = [
        run
        for run_id in incident.opening_run_ids
        if (run := deps.runs.get(tenant.id, run_id, now)) is not None
    ]
    if incident.state == "open" and incident.kind == "failures":
        latest = deps.runs.finished(tenant.id, incident.endpoint_id, now, 1)
        error = last_error_of(latest[0]) if latest else None
        if error is not None:
            incident = replace(incident, last_error=error)
    return IncidentDetail(incident, runs, deps.deliveries.for_incident(incident.id))
