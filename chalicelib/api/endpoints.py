"""Endpoint routes (nested under their job)."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import EndpointList, EndpointResponse
from chalicelib.domain.schemas import EndpointCreate, EndpointUpdate
from chalicelib.services import endpoints

api = Router(__name__, "Endpoints")

BASE = "/jobs/{job_id}/endpoints"
ITEM = BASE + "/{endpoint_id}"


@api.route(
    BASE, "POST", "Add an endpoint", status=201, body=EndpointCreate, response=EndpointResponse
)
def create_endpoint(job_id: str) -> dict[str, Any]:
    request = api.body(EndpointCreate)
    endpoint = endpoints.create_endpoint(deps.get(), api.tenant(), job_id, request)
    return EndpointResponse.of(endpoint).wire()


@api.route(BASE, "GET", "List a job's endpoints", response=EndpointList)
def list_endpoints(job_id: str) -> dict[str, Any]:
    items = endpoints.list_endpoints(deps.get(), api.tenant(), job_id)
    return EndpointList(endpoints=[EndpointResponse.of(e) for e in items]).wire()


@api.route(ITEM, "GET", "Get an endpoint", response=EndpointResponse)
def get_endpoint(job_id: str, endpoint_id: str) -> dict[str, Any]:
    endpoint = endpoints.get_job_endpoint(deps.get(), api.tenant(), job_id, endpoint_id)
    return EndpointResponse.of(endpoint).wire()


@api.route(
    ITEM,
    "PATCH",
    "Change an endpoint",
    body=EndpointUpdate,
    response=EndpointResponse,
    description="Only the fields sent change; null clears an optional field. Sending one "
    "baseline kind switches to it. A schedule change re-plans the next run at once.",
)
def update_endpoint(job_id: str, endpoint_id: str) -> dict[str, Any]:
    request = api.body(EndpointUpdate)
    endpoint = endpoints.update_endpoint(deps.get(), api.tenant(), job_id, endpoint_id, request)
    return EndpointResponse.of(endpoint).wire()


@api.route(ITEM, "DELETE", "Delete an endpoint with its runs and sessions", status=204)
def delete_endpoint(job_id: str, endpoint_id: str) -> None:
    endpoints.delete_endpoint(deps.get(), api.tenant(), job_id, endpoint_id)


@api.route(ITEM + "/archive", "POST", "Archive an endpoint", response=EndpointResponse)
def archive_endpoint(job_id: str, endpoint_id: str) -> dict[str, Any]:
    endpoint = endpoints.archive_endpoint(deps.get(), api.tenant(), job_id, endpoint_id)
    return EndpointResponse.of(endpoint).wire()
