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


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


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
    if "{" in spec.path:
        responses["404"] = _error("Not found (also for another tenant's ids)")
    if spec.method != "GET" and spec.auth == "apiKey":
        responses["409"] = _error("Conflict with the current state")
    if spec.auth == "apiKey":
        responses["429"] = _error("Rate limited; see Retry-After")
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
        path = "/api" + _PARAM.sub(lambda m: "{" + _camel(m.group(1)) + "}", spec.path)
        operation = _operation(spec)
        operation["operationId"] = _unique_id(paths, operation["operationId"])
        paths.setdefault(path, {})[spec.method.lower()] = operation
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
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "adminToken": {"type": "apiKey", "in": "header", "name": "x-admin-token"},
            },
        },
    }


def _unique_id(paths: dict[str, dict[str, Any]], candidate: str) -> str:
    used = {op["operationId"] for ops in paths.values() for op in ops.values()}
    name, n = candidate, 2
    while name in used:
        name, n = f"{candidate}_{n}", n + 1
    return name
