"""The MCP server's contract without a stack: tool names, one tool per REST operation with the
API's own models, described inputs, and exactly what each call sends (a recording transport)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from mcp import Client

from chalicelib.domain.schemas import MIN_INTERVAL_MS
from cronpilot_client.api import ApiClient
from cronpilot_client.config import ClientConfig
from cronpilot_client.mcp_server.catalog import REFERENCE_TOOLS, TOOLS, ToolSpec
from cronpilot_client.mcp_server.schema import input_schema, query_fields
from cronpilot_client.mcp_server.server import build_server
from tests.client.conftest import text_of

pytestmark = pytest.mark.anyio

EXTRA_TOOLS = {
    "deleteEndpoint",
    "getDashboardActivity",
    "listAnalysisSessions",
    "getAnalysisSession",
    "createApiKey",
    "listApiKeys",
    "revokeApiKey",
    "listReflexes",
    "getReflex",
    "createReflex",
    "replaceReflex",
    "deleteReflex",
    "listChannels",
    "createChannel",
    "getChannel",
    "updateChannel",
    "deleteChannel",
    "testChannel",
    "listIncidents",
    "getIncident",
    "getAlertDefaults",
    "setAlertDefaults",
    "getJobAlertPolicy",
    "setJobAlertPolicy",
    "listOutbox",
}
# Second spellings of a route (docs/api.md "Aliases"): one tool covers both.
ALIASES = {
    ("POST", "/jobs/{}/archive"),
    ("GET", "/endpoints/{}/analysis-sessions"),
    ("GET", "/analysis-sessions/{}"),
    ("GET", "/dashboard"),
    ("POST", "/endpoints/{}/resume"),
}
SPECS = {spec.name: spec for spec in TOOLS}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Recording:
    """Requests the API client sent, and what the fake API answers."""

    requests: list[httpx.Request] = field(default_factory=list)
    answer: Callable[[httpx.Request], httpx.Response] = field(
        default=lambda request: httpx.Response(
            404, json={"error": {"code": "NOT_FOUND", "message": "Not found", "details": None}}
        )
    )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
async def client(recording: Recording) -> AsyncIterator[Client]:
    config = ClientConfig(url="http://127.0.0.1:9/api", api_key="cp_contract_key_0123456789")
    with ApiClient(config, transport=httpx.MockTransport(recording.handle)) as api:
        async with Client(build_server(api, docs=[])) as connected:
            yield connected


def shape(path: str) -> str:
    return re.sub(r"{[^}]+}", "{}", path)


async def test_the_reference_names_plus_sessions_keys_and_reflexes(client: Client) -> None:
    listed = (await client.list_tools()).tools
    names = [tool.name for tool in listed]
    assert len(names) == len(set(names)) == 50
    assert set(REFERENCE_TOOLS) <= set(names)
    assert set(names) - set(REFERENCE_TOOLS) == EXTRA_TOOLS
    for tool in listed:
        assert tool.description and len(tool.description) > 60, tool.name
        properties = tool.input_schema["properties"]
        assert tool.input_schema["additionalProperties"] is False
        for name, prop in properties.items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
            assert "title" not in prop
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint == (SPECS[tool.name].method == "GET")


def test_one_tool_per_rest_operation_with_the_api_models() -> None:
    from app import app  # noqa: F401 - registers every route
    from chalicelib.api.http import REGISTRY

    routes = {
        (spec.method, shape(spec.path)): spec
        for spec in REGISTRY.specs
        if spec.auth == "apiKey" and (spec.method, shape(spec.path)) not in ALIASES
    }
    tools = {(spec.method, shape(spec.path)): spec for spec in TOOLS}
    assert set(tools) == set(routes), "every tenant route needs exactly one tool"
    for key, tool in tools.items():
        route = routes[key]
        assert tool.body is route.body, tool.name
        assert tool.query is route.query, tool.name
        assert tool.response is route.response, tool.name


def test_schemas_come_from_the_request_models() -> None:
    add = input_schema(SPECS["addEndpoint"])
    assert add["required"] == ["jobId", "name", "url"]
    interval = add["properties"]["baselineIntervalMs"]
    assert {"type": "integer", "minimum": MIN_INTERVAL_MS}.items() <= interval["anyOf"][0].items()
    assert "MILLISECONDS" in interval["description"]
    assert add["properties"]["method"]["enum"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    pause = input_schema(SPECS["pauseResumeEndpoint"])
    assert pause["required"] == ["id", "pausedUntil"]
    assert "ISO-8601 UTC" in pause["properties"]["pausedUntil"]["description"]
    runs = input_schema(SPECS["listEndpointRuns"])["properties"]
    assert runs["limit"]["maximum"] == 100 and runs["status"]["anyOf"][0]["enum"] == [
        "running", "success", "failed",
    ]  # fmt: skip


# Every query parameter of every tool, with the text the API must receive.
QUERY_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "listJobs": ({"status": "paused"}, {"status": "paused"}),
    "listEndpointRuns": (
        {"id": "ep_1", "status": "failed", "limit": 5, "offset": 10},
        {"status": "failed", "limit": "5", "offset": "10"},
    ),
    "getEndpointHealth": ({"id": "ep_1", "sinceHours": 2}, {"sinceHours": "2"}),
    "listAnalysisSessions": (
        {"id": "ep_1", "limit": 3, "offset": 1},
        {"limit": "3", "offset": "1"},
    ),
    "getDashboardStats": (
        {"startDate": "2026-01-01", "endDate": "2026-01-31T12:00:00Z", "jobId": "job_1",
         "source": "test", "endpointLimit": 7},
        {"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-31T12:00:00Z", "jobId": "job_1",
         "source": "test", "endpointLimit": "7"},
    ),
    "getDashboardActivity": (
        {"startDate": "2026-01-01", "endDate": "2026-01-02", "jobId": "job_1",
         "eventType": "runs", "limit": 9, "offset": 4},
        {"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-02T00:00:00Z",
         "jobId": "job_1", "eventType": "runs", "limit": "9", "offset": "4"},
    ),
    "listIncidents": (
        {"jobId": "job_1", "endpointId": "ep_1", "state": "open",
         "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "limit": 5},
        {"jobId": "job_1", "endpointId": "ep_1", "state": "open",
         "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "limit": "5"},
    ),
    "listOutbox": ({"limit": 3}, {"limit": "3"}),
}  # fmt: skip


async def test_every_query_parameter_is_sent(client: Client, recording: Recording) -> None:
    with_query = {spec.name for spec in TOOLS if spec.query is not None}
    assert set(QUERY_SAMPLES) == with_query
    for name, (arguments, expected) in QUERY_SAMPLES.items():
        spec = SPECS[name]
        assert set(expected) == query_fields(spec), name
        recording.requests.clear()
        result = await client.call_tool(name, arguments)
        assert result.is_error  # the fake API answers 404; only the request matters here
        (sent,) = recording.requests
        assert sent.method == "GET"
        assert dict(sent.url.params) == expected, name


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


async def test_only_the_given_fields_are_sent(client: Client, recording: Recording) -> None:
    calls: list[tuple[str, dict[str, Any], str, str, Any]] = [
        ("updateEndpoint", {"jobId": "job_1", "id": "ep_1", "maxIntervalMs": None},
         "PATCH", "/api/jobs/job_1/endpoints/ep_1", {"maxIntervalMs": None}),
        ("applyIntervalHint", {"id": "ep_1", "intervalMs": 10_000},
         "POST", "/api/endpoints/ep_1/hints/interval", {"intervalMs": 10_000}),
        ("pauseResumeEndpoint", {"id": "ep_1", "pausedUntil": None},
         "POST", "/api/endpoints/ep_1/pause", {"pausedUntil": None}),
        ("pauseResumeEndpoint", {"id": "ep_1", "pausedUntil": "2030-01-01T09:00:00+01:00"},
         "POST", "/api/endpoints/ep_1/pause", {"pausedUntil": "2030-01-01T08:00:00Z"}),
        ("clearHints", {"id": "ep/1"}, "DELETE", "/api/endpoints/ep%2F1/hints", None),
        ("createSigningKey", {}, "POST", "/api/signing-keys", None),
        ("createChannel", {"kind": "email", "name": "On call", "address": "oncall@example.com"},
         "POST", "/api/channels", {"kind": "email", "name": "On call",
                                   "address": "oncall@example.com"}),
        ("updateChannel", {"id": "chn_1", "enabled": False},
         "PATCH", "/api/channels/chn_1", {"enabled": False}),
        ("setJobAlertPolicy", {"id": "job_1", "realertMinutes": None},
         "PUT", "/api/jobs/job_1/alert-policy", {"realertMinutes": None}),
    ]  # fmt: skip
    for name, arguments, method, path, body in calls:
        recording.requests.clear()
        result = await client.call_tool(name, arguments)
        assert "NOT_FOUND (404)" in text_of(result)  # the fake API's answer
        (sent,) = recording.requests
        assert (sent.method, sent.url.raw_path.decode(), body_of(sent)) == (method, path, body)
        assert sent.headers["x-api-key"] == "cp_contract_key_0123456789"
    recording.answer = lambda request: httpx.Response(204)
    done = await client.call_tool("applyIntervalHint", {"id": "ep_1", "intervalMs": 10_000})
    assert not done.is_error
    assert text_of(done) == "Interval hint on endpoint ep_1: every 10000 ms for 60 minutes."


async def test_bad_arguments_send_nothing(client: Client, recording: Recording) -> None:
    bad_calls: list[tuple[str, dict[str, Any], str]] = [
        ("createJob", {"name": ""}, "name"),
        ("createJob", {"name": "x", "intervalSec": 5}, "unknown argument(s) intervalSec"),
        ("getJob", {}, "id: required"),
        ("getJob", {"id": 42}, "id: required"),
        ("addEndpoint", {"jobId": "j", "name": "x", "url": "https://e.com",
                         "baselineIntervalMs": 60000, "baselineCron": "* * * * *"},
         "Provide either baselineCron or baselineIntervalMs"),
        ("addEndpoint", {"jobId": "j", "name": "x", "url": "https://e.com",
                         "baselineIntervalMs": "60000"}, "baselineIntervalMs"),
        ("applyIntervalHint", {"id": "e", "intervalMs": 500}, "intervalMs"),
        ("pauseResumeEndpoint", {"id": "e"}, "pausedUntil"),
        ("pauseResumeEndpoint", {"id": "e", "pausedUntil": "2030-01-01T08:00:00"}, "timezone"),
        ("listEndpointRuns", {"id": "e", "limit": 1000}, "limit"),
        ("getDashboardStats", {"startDate": "last week", "endDate": "2026-01-01"}, "startDate"),
        ("createChannel", {"kind": "pager", "name": "x", "url": "https://e.com"}, "kind"),
        ("createChannel", {"kind": "email", "name": "x", "address": "nope"}, "address"),
        ("createChannel", {"kind": "webhook", "name": "x"}, "url"),
        ("setJobAlertPolicy", {"id": "j", "failureThreshold": 0}, "failureThreshold"),
    ]  # fmt: skip
    for name, arguments, expected in bad_calls:
        result = await client.call_tool(name, arguments)
        assert result.is_error, (name, arguments)
        text = text_of(result)
        assert "VALIDATION_ERROR" in text and expected in text, text
        assert "nothing was changed" in text
    assert recording.requests == []


async def test_api_failures_become_tool_errors(client: Client, recording: Recording) -> None:
    recording.answer = lambda request: httpx.Response(502, text="Bad Gateway")
    gateway = await client.call_tool("listJobs", {})
    assert gateway.is_error and "HTTP_502 (502): Bad Gateway" in text_of(gateway)

    recording.answer = lambda request: httpx.Response(
        429,
        headers={"Retry-After": "7"},
        json={"error": {"code": "RATE_LIMITED", "message": "Too many requests", "details": None}},
    )
    limited = await client.call_tool("listJobs", {})
    assert "RATE_LIMITED (429): Too many requests" in text_of(limited)
    assert "retry after 7 s" in text_of(limited)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recording.answer = refuse
    down = await client.call_tool("listJobs", {})
    assert down.is_error and "CONNECTION_FAILED" in text_of(down)
    # The server is still there and answers the next call.
    recording.answer = lambda request: httpx.Response(200, json={"jobs": []})
    ok = await client.call_tool("listJobs", {})
    assert not ok.is_error and ok.structured_content == {"jobs": []}
    assert text_of(ok).startswith("0 job(s).")


async def test_without_a_key_tools_explain_what_is_missing(recording: Recording) -> None:
    config = ClientConfig(url="http://127.0.0.1:9/api")
    with ApiClient(config, transport=httpx.MockTransport(recording.handle)) as api:
        async with Client(build_server(api, docs=[])) as keyless:
            result = await keyless.call_tool("listJobs", {})
    assert result.is_error and "CRONPILOT_API_KEY" in text_of(result)
    assert recording.requests == []


def test_specs_name_their_path_ids() -> None:
    for spec in TOOLS:
        assert isinstance(spec, ToolSpec)
        assert set(spec.ids) == set(spec.path_params), spec.name


# The seed's recovery ("Coordinating Multiple Endpoints"), as createReflex arguments.
RECOVERY_RULE: dict[str, Any] = {
    "when": {"endpoint": "ep_health", "path": "body.needs_recovery", "op": "==", "value": True},
    "do": {"action": "run_now"},
    "reason": "The health check asks for recovery",
    "cooldownMs": 300_000,
}
REFLEX_ANSWER: dict[str, Any] = {
    "id": "rfx_1",
    "endpointId": "ep_1",
    "jobId": "job_1",
    **RECOVERY_RULE,
    "active": True,
    "createdBy": {"type": "apiKey", "id": "key_1"},
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
    "fireCount": 0,
}


def test_reflex_tools_take_the_rule_model_with_its_nested_parts() -> None:
    # Pinned in constraints.txt (the MCP SDK validates tool output with it).
    from jsonschema import Draft202012Validator

    create = input_schema(SPECS["createReflex"])
    assert create["required"] == ["endpointId", "when", "do", "reason"]
    # Groups are spelled out two levels deep around the Clause definition (the nesting limit).
    assert {"Clause", "RunNow", "SetInterval", "Pause"} <= set(create["$defs"])
    assert '"title"' not in json.dumps(create["$defs"])  # pydantic's titles are noise
    assert "MILLISECONDS" in create["properties"]["cooldownMs"]["description"]
    assert "body.needs_recovery" in create["properties"]["when"]["description"]
    replace = input_schema(SPECS["replaceReflex"])
    assert replace["required"] == ["endpointId", "id", "when", "do", "reason"]
    # The published schema accepts the documented example and refuses an unknown action.
    validator = Draft202012Validator(create)
    assert not list(validator.iter_errors({"endpointId": "ep_1", **RECOVERY_RULE}))
    nested = {**RECOVERY_RULE, "when": {"all": [RECOVERY_RULE["when"], {"path": "x", "op": "?"}]}}
    assert list(validator.iter_errors({"endpointId": "ep_1", **nested}))
    bad_action = {"endpointId": "ep_1", **RECOVERY_RULE, "do": {"action": "reboot"}}
    assert list(validator.iter_errors(bad_action))


async def test_reflex_calls_send_the_canonical_rule(client: Client, recording: Recording) -> None:
    batch = {
        "all": [
            {"endpoint": "ep_extract", "path": "body.ready", "op": "==", "value": True},
            {"endpoint": "ep_extract", "path": "body.batch_id", "op": "changed"},
        ]
    }
    calls: list[tuple[str, dict[str, Any], str, str, Any]] = [
        ("listReflexes", {"endpointId": "ep_1"}, "GET", "/api/endpoints/ep_1/reflexes", None),
        ("getReflex", {"endpointId": "ep_1", "id": "rfx_1"},
         "GET", "/api/endpoints/ep_1/reflexes/rfx_1", None),
        ("createReflex", {"endpointId": "ep_1", **RECOVERY_RULE},
         "POST", "/api/endpoints/ep_1/reflexes", RECOVERY_RULE),
        # A `changed` clause goes out without a value (null would be another rule); a rule
        # sent as JSON text is decoded; instants are normalised to UTC.
        ("replaceReflex", {"endpointId": "ep_1", "id": "rfx_1", "when": json.dumps(batch),
                           "do": {"action": "pause", "forMinutes": 30}, "reason": "New batch",
                           "expiresAt": "2030-01-01T09:00:00+01:00"},
         "PUT", "/api/endpoints/ep_1/reflexes/rfx_1",
         {"when": batch, "do": {"action": "pause", "forMinutes": 30}, "reason": "New batch",
          "expiresAt": "2030-01-01T08:00:00.000Z"}),
        ("deleteReflex", {"endpointId": "ep/1", "id": "rfx_1"},
         "DELETE", "/api/endpoints/ep%2F1/reflexes/rfx_1", None),
    ]  # fmt: skip
    for name, arguments, method, path, body in calls:
        recording.requests.clear()
        result = await client.call_tool(name, arguments)
        assert "NOT_FOUND (404)" in text_of(result), text_of(result)
        (sent,) = recording.requests
        assert (sent.method, sent.url.raw_path.decode(), body_of(sent)) == (method, path, body)

    recording.answer = lambda request: httpx.Response(201, json=REFLEX_ANSWER)
    made = await client.call_tool("createReflex", {"endpointId": "ep_1", **RECOVERY_RULE})
    assert not made.is_error, text_of(made)
    assert made.structured_content == REFLEX_ANSWER
    assert text_of(made).startswith("Reflex rfx_1 on endpoint ep_1: active, fired 0 time(s).")
    recording.answer = lambda request: httpx.Response(204)
    gone = await client.call_tool("deleteReflex", {"endpointId": "ep_1", "id": "rfx_1"})
    assert text_of(gone) == "Reflex rfx_1 of endpoint ep_1 removed."


async def test_bad_reflex_rules_send_nothing(client: Client, recording: Recording) -> None:
    clause = RECOVERY_RULE["when"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({**RECOVERY_RULE, "when": {**clause, "op": "~="}}, "when.op"),
        ({**RECOVERY_RULE, "when": {"any": [clause, {"bogus": 1}]}}, "when.any.1"),
        ({**RECOVERY_RULE, "when": {**clause, "op": "changed"}}, "changed takes no value"),
        ({**RECOVERY_RULE, "do": {"action": "reboot"}}, "do.action"),
        ({**RECOVERY_RULE, "do": {"action": "pause"}}, "give forMinutes or until"),
        ({**RECOVERY_RULE, "cooldownMs": -1}, "cooldownMs"),
        ({"when": clause, "do": {"action": "run_now"}}, "reason"),
        ({**RECOVERY_RULE, "cooldown": 5}, "unknown argument(s) cooldown"),
    ]
    for arguments, expected in bad:
        result = await client.call_tool("createReflex", {"endpointId": "ep_1", **arguments})
        assert result.is_error, arguments
        text = text_of(result)
        assert "VALIDATION_ERROR" in text and expected in text, text
        assert "nothing was changed" in text
    assert recording.requests == []
