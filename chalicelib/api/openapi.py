"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import __version__
from chalicelib.api.http import REGISTRY, RouteSpec
from chalicelib.domain.responses import ErrorEnvelope

_PARAM = re.compile(r"{([^}]+)}")
_REF = "#/components/schemas/{model}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _models(specs: list[RouteSpec]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorEnvelope": ErrorEnvelope}
    for spec in specs:
        for model in (spec.body, spec.response):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


# Where a created resource leads: (method, route) -> links of its success response, as
# (name, target method, target route, {parameter: runtime expression}). They let readers, and
# the stateful fuzzer, chain create -> read -> update -> delete.
_JOB = {"jobId": "$response.body#/id"}
_ENDPOINT = {"jobId": "$response.body#/jobId", "endpointId": "$response.body#/id"}
_BY_ENDPOINT = {"endpointId": "$response.body#/id"}
LINKS: dict[tuple[str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("POST", "/jobs"): [
        ("GetJob", "GET", "/jobs/{job_id}", _JOB),
        ("UpdateJob", "PATCH", "/jobs/{job_id}", _JOB),
        ("PauseJob", "POST", "/jobs/{job_id}/pause", _JOB),
        ("ResumeJob", "POST", "/jobs/{job_id}/resume", _JOB),
        ("AddEndpoint", "POST", "/jobs/{job_id}/endpoints", _JOB),
        ("ListEndpoints", "GET", "/jobs/{job_id}/endpoints", _JOB),
        # Archiving keeps the job readable (DELETE /jobs/{id} is the same soft delete).
        ("ArchiveJob", "POST", "/jobs/{job_id}/archive", _JOB),
    ],
    ("POST", "/jobs/{job_id}/endpoints"): [
        ("GetEndpoint", "GET", "/jobs/{job_id}/endpoints/{endpoint_id}", _ENDPOINT),
        ("UpdateEndpoint", "PATCH", "/jobs/{job_id}/endpoints/{endpoint_id}", _ENDPOINT),
        ("IntervalHint", "POST", "/endpoints/{endpoint_id}/hints/interval", _BY_ENDPOINT),
        ("OneShotHint", "POST", "/endpoints/{endpoint_id}/hints/oneshot", _BY_ENDPOINT),
        ("ClearHints", "DELETE", "/endpoints/{endpoint_id}/hints", _BY_ENDPOINT),
        ("PauseEndpoint", "POST", "/endpoints/{endpoint_id}/pause", _BY_ENDPOINT),
        ("ResetFailures", "POST", "/endpoints/{endpoint_id}/reset-failures", _BY_ENDPOINT),
        ("ListRuns", "GET", "/endpoints/{endpoint_id}/runs", _BY_ENDPOINT),
        ("Health", "GET", "/endpoints/{endpoint_id}/health", _BY_ENDPOINT),
        ("ListSessions", "GET", "/endpoints/{endpoint_id}/sessions", _BY_ENDPOINT),
        ("ArchiveEndpoint", "POST", "/jobs/{job_id}/endpoints/{endpoint_id}/archive", _ENDPOINT),
        ("DeleteEndpoint", "DELETE", "/jobs/{job_id}/endpoints/{endpoint_id}", _ENDPOINT),
    ],
    ("POST", "/api-keys"): [
        ("RevokeKey", "DELETE", "/api-keys/{key_id}", {"keyId": "$response.body#/id"}),
    ],
}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot carry JSON null: an optional parameter is simply left out."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1 and len(schema.get("anyOf", [])) == 2:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**rest, **branches[0]}
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _without_null(prop)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _allows_null(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "null" or "null" in (schema.get("type") or []):
        return True
    if "$ref" in schema or "allOf" in schema:
        return True  # not worth resolving: keep the default as pydantic wrote it
    return any(_allows_null(b) for b in schema.get("anyOf", []) + schema.get("oneOf", []))


def _drop_null_defaults(defs: dict[str, Any]) -> None:
    """`default: null` on a property that refuses null (absent means unchanged, null is an
    error) would invite clients to send the null."""
    for model in defs.values():
        for prop in (model.get("properties") or {}).values():
            if "default" in prop and prop["default"] is None and not _allows_null(prop):
                del prop["default"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorEnvelope")}}},
    }


def _operation(spec: RouteSpec) -> dict[str, Any]:
    params = [
        {"name": _camel(p), "in": "path", "required": True, "schema": {"type": "string"}}
        for p in _PARAM.findall(spec.path)
    ]
    if spec.query is not None:
        params.extend(_query_parameters(spec.query))
    ok: dict[str, Any] = {"description": spec.summary}
    if spec.response is not None:
        ref = {"$ref": _REF.format(model=spec.response.__name__)}
        ok["content"] = {"application/json": {"schema": ref}}
    responses: dict[str, Any] = {str(spec.status): ok}
    if spec.body is not None or spec.query is not None:
        responses["400"] = _error("Validation error naming the field")
    if spec.auth != "none":
        responses["401"] = _error("Missing, revoked or invalid credentials")
    if "{" in spec.path or spec.not_found:
        responses["404"] = _error("Not found (also for another tenant's ids)")
    if spec.method != "GET" and spec.auth == "apiKey":
        responses["409"] = _error("Conflict with the current state")
    if spec.auth == "apiKey":
        responses["429"] = _error("Rate limited; see Retry-After")
    if spec.auth != "none":
        responses["503"] = _error("Storage overloaded; retry after Retry-After seconds")
    op: dict[str, Any] = {
        "operationId": spec.summary.lower().replace(" ", "_").replace("'", ""),
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": params,
        "responses": responses,
    }
    if spec.description:
        op["description"] = spec.description
    if spec.auth == "apiKey":
        op["security"] = [{"apiKey": []}]
    elif spec.auth == "adminToken":
        op["security"] = [{"adminToken": []}]
    else:
        op["security"] = []
    if spec.body is not None:
        op["requestBody"] = {
            "required": spec.body_required,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=spec.body.__name__)}}
            },
        }
    return op


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The whole OpenAPI document (built once per process)."""
    specs = REGISTRY.specs
    _, defs = models_json_schema(
        [(m, "validation") for m in _models(specs)],
        by_alias=True,
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation = _operation(spec)
        operation["operationId"] = _unique_id(paths, operation["operationId"])
        paths.setdefault(_public(spec.path), {})[spec.method.lower()] = operation
    _link(paths, specs)
    schemas = defs.get("$defs", {})
    _drop_null_defaults(schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cronpilot API",
            "version": __version__,
            "description": "Adaptive HTTP scheduler. Times are ISO-8601 UTC; durations are "
            "milliseconds unless the field name says otherwise (ttlMinutes, maxResponseSizeKb).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "adminToken": {"type": "apiKey", "in": "header", "name": "x-admin-token"},
            },
        },
    }


def _public(route: str) -> str:
    return "/api" + _PARAM.sub(lambda m: "{" + _camel(m.group(1)) + "}", route)


def _link(paths: dict[str, dict[str, Any]], specs: list[RouteSpec]) -> None:
    """Attach LINKS to the success responses they start from."""
    status = {(s.method, s.path): str(s.status) for s in specs}
    for (method, route), links in LINKS.items():
        source = paths[_public(route)][method.lower()]["responses"][status[(method, route)]]
        source["links"] = {
            name: {
                "operationId": paths[_public(target)][target_method.lower()]["operationId"],
                "parameters": parameters,
            }
            for name, target_method, target, parameters in links
        }


def _unique_id(paths: dict[str, dict[str, Any]], candidate: str) -> str:
    used = {op["operationId"] for ops in paths.values() for op in ops.values()}
    name, n = candidate, 2
    while name in used:
        name, n = f"{candidate}_{n}", n + 1
    return name
