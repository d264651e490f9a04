"""Turn a ToolSpec into an MCP tool: check the arguments with the API's models, send exactly
what was given (path ids, body, every query parameter), and answer with a summary plus the
API's JSON, or a tool error carrying the API's code and message."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict

from cronpilot_client.api import ApiClient, api_path
from cronpilot_client.errors import ApiError, CronpilotError, InvalidInput, MissingCredential
from cronpilot_client.mcp_server.catalog import ToolSpec
from cronpilot_client.mcp_server.schema import (
    body_fields,
    input_schema,
    output_schema,
    query_fields,
)
from cronpilot_client.validation import checked_body, checked_query


class RawArguments(ArgModelBase):
    """Hands the tool the arguments exactly as sent.

    The SDK's argument model would fill every unset field with its default, which would turn a
    PATCH of one field into a PATCH of all of them; the API's own models check the arguments
    inside the tool instead, with the API's wording.
    """

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


@dataclass(frozen=True)
class Request:
    """One checked REST call."""

    path: str
    query: dict[str, str] | None
    body: dict[str, Any] | None
    facts: dict[str, Any]  # what the 204 message may mention: ids and validated fields


def _decode_objects(arguments: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    # Some assistants send object arguments as JSON text; accept that for object fields only.
    decoded = dict(arguments)
    for name, prop in schema["properties"].items():
        value = decoded.get(name)
        options = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
        # A `$ref` points at a nested model: an object (a reflex's `when` and `do`).
        kinds = [
            option.get("type") or ("object" if "$ref" in option else None) for option in options
        ]
        if isinstance(value, str) and "object" in kinds and value.lstrip().startswith("{"):
            # Left as text when it does not parse: validation then names the field.
            with contextlib.suppress(ValueError):
                decoded[name] = json.loads(value)
    return decoded


def build_request(
    spec: ToolSpec, arguments: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> Request:
    """Validate `arguments` for `spec`; InvalidInput names every offending field."""
    schema = schema or input_schema(spec)
    allowed = schema["properties"]
    unknown = sorted(set(arguments) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown argument(s) {', '.join(unknown)}; {spec.name} takes: "
            f"{', '.join(allowed) or 'no arguments'}",
            [{"field": name, "message": "unknown argument"} for name in unknown],
        )
    given = _decode_objects(dict(arguments), schema)
    ids = {name: given.get(name) for name in spec.path_params}
    missing = [name for name, value in ids.items() if not isinstance(value, str) or not value]
    if missing:
        raise InvalidInput(
            f"{', '.join(missing)}: required, a non-empty id string",
            [{"field": name, "message": "required id"} for name in missing],
        )
    path = api_path(spec.path, **{name: str(value) for name, value in ids.items()})
    facts: dict[str, Any] = dict(ids)
    body = query = None
    if spec.body is not None:
        wanted = body_fields(spec)
        fields = {k: v for k, v in given.items() if k in wanted}
        body = spec.check(fields) if spec.check is not None else checked_body(spec.body, fields)
        full = spec.body.model_validate(body).model_dump(mode="json", by_alias=True)
        facts.update(full)
    if spec.query is not None:
        wanted = query_fields(spec)
        query = checked_query(spec.query, {k: v for k, v in given.items() if k in wanted})
    return Request(path, query, body, facts)


def error_text(error: CronpilotError) -> str:
    """What the model reads: the API's code and message, and what to do next."""
    lines = [error.describe()]
    if isinstance(error, InvalidInput):
        lines.append("Rejected before sending: nothing was changed. Fix the arguments and retry.")
    elif isinstance(error, MissingCredential):
        lines.append("Set CRONPILOT_API_KEY in the MCP server's environment and restart it.")
    elif isinstance(error, ApiError):
        if error.status == 401:
            lines.append("The API key was refused: check CRONPILOT_API_KEY of the MCP server.")
        elif error.status == 404:
            lines.append("The id does not exist (or is another tenant's): list to find ids.")
        elif error.status == 429 and error.retry_after:
            lines.append(f"Rate limited: retry after {error.retry_after} s.")
    return "\n".join(lines)


class _Facts(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return "null" if value is None else value


def answer(spec: ToolSpec, request: Request, result: Any) -> CallToolResult:
    """Success: a summary line and the JSON; structured content when the route returns JSON."""
    if result is None:
        text = spec.done.format_map(_Facts(request.facts))
        return CallToolResult(content=[TextContent(type="text", text=text)])
    summary = spec.summary(result) if spec.summary is not None else spec.title + "."
    text = f"{summary}\n{json.dumps(result, ensure_ascii=False)}"
    structured = result if isinstance(result, dict) and spec.response is not None else None
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def _annotations(spec: ToolSpec) -> ToolAnnotations:
    return ToolAnnotations(
        title=spec.title,
        read_only_hint=spec.kind == "read",
        destructive_hint=spec.kind == "destructive",
        idempotent_hint=spec.kind in ("read", "idempotent"),
        open_world_hint=False,
    )


def make_tool(spec: ToolSpec, api: ApiClient) -> Tool:
    """The MCP tool for `spec`, calling the API through `api`."""

    schema = input_schema(spec)

    def call(arguments: dict[str, Any]) -> CallToolResult:
        try:
            request = build_request(spec, arguments, schema)
            result = api.request(spec.method, request.path, query=request.query, body=request.body)
        except CronpilotError as exc:
            # ToolError: the message reaches the model; any other exception would be hidden.
            raise ToolError(error_text(exc)) from None
        return answer(spec, request, result)

    return Tool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=schema,
        fn_metadata=FuncMetadata(arg_model=RawArguments, output_schema=output_schema(spec)),
        is_async=False,
        annotations=_annotations(spec),
    )
