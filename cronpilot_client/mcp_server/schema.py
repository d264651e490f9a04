"""Tool input and output JSON Schemas, generated from the API's own pydantic models (the same
ones that validate requests and render responses) plus the field notes of fields.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cronpilot_client.mcp_server.catalog import ToolSpec
from cronpilot_client.mcp_server.fields import FIELD_NOTES


def _without_titles(schema: Any) -> Any:
    # pydantic's generated titles ("Baselineintervalms") are noise to a model.
    if isinstance(schema, dict):
        return {k: _without_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    return schema


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    return schema


def _model_fields(model: type[BaseModel]) -> tuple[dict[str, Any], list[str]]:
    schema = _model_schema(model)
    return schema.get("properties", {}), list(schema.get("required", []))


def _model_defs(model: type[BaseModel]) -> dict[str, Any]:
    # Nested models (a reflex's condition tree and actions) are described by the model's own
    # field descriptions; their `#/$defs/...` references resolve against the input schema's
    # root, where these go.
    defs: dict[str, Any] = _model_schema(model).get("$defs", {})
    return defs


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    """Path ids, then body or query fields; every property described; nothing else accepted."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    for name in spec.path_params:
        properties[name] = {"type": "string", "minLength": 1, "description": spec.ids[name]}
        required.append(name)
    for model in (spec.body, spec.query):
        if model is None:
            continue
        fields, needed = _model_fields(model)
        defs.update(_without_titles(_model_defs(model)))
        for name, prop in fields.items():
            if name in properties:
                raise ValueError(f"{spec.name}: {name!r} is both a path id and a field")
            described = dict(_without_titles(prop))
            note = spec.notes.get(name) or FIELD_NOTES.get(name)
            if note:
                described["description"] = note
            properties[name] = described
        required.extend(needed)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def body_fields(spec: ToolSpec) -> frozenset[str]:
    """Wire names of the body model's fields."""
    return frozenset(_model_fields(spec.body)[0]) if spec.body is not None else frozenset()


def query_fields(spec: ToolSpec) -> frozenset[str]:
    """Wire names of the query model's fields."""
    return frozenset(_model_fields(spec.query)[0]) if spec.query is not None else frozenset()


def output_schema(spec: ToolSpec) -> dict[str, Any] | None:
    """The response model's schema (as the OpenAPI document describes it), or None for 204."""
    if spec.response is None:
        return None
    schema: dict[str, Any] = spec.response.model_json_schema(by_alias=True)
    return schema
