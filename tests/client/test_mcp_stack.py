"""The MCP server against the running local stack: an in-process MCP client builds the seed's
"Service Recovery Workflow", reads runs back, applies and clears a hint, and gets clear tool
errors for bad input; the stdio and streamable-HTTP transports each answer a real client."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from cronpilot_client.api import ApiClient
from cronpilot_client.config import ClientConfig
from cronpilot_client.mcp_server.docs import PROJECT_ROOT
from cronpilot_client.mcp_server.server import build_server
from tests.client.conftest import text_of
from tests.e2e.conftest import API_KEY, HOST, ROOT, Stack, clean_env, free_port, wait_until

pytestmark = pytest.mark.anyio

# The seed document's two endpoints (docs "Coordinating Multiple Endpoints"), as tool arguments.
HEALTH_CHECK = {
    "name": "Health Check",
    "url": "https://api.example.com/health",
    "method": "GET",
    "baselineIntervalMs": 60000,
    "minIntervalMs": 10000,
    "maxIntervalMs": 300000,
    "timeoutMs": 10000,
    "description": "Monitors service health. When status is degraded or error_count > 0, poll "
    "faster. When errors detected, trigger-recovery should run immediately.",
}
TRIGGER_RECOVERY = {
    "name": "Trigger Recovery",
    "url": "https://api.example.com/admin/restart",
    "method": "POST",
    "baselineIntervalMs": 3600000,
    "minIntervalMs": 300000,
    "timeoutMs": 30000,
    "description": "Recovery action that restarts the service. Only run when health-check shows "
    "errors. After triggering, wait at least 5 minutes before another attempt. When service "
    "recovers, return to hourly baseline.",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def mcp(cp_stack: Stack) -> AsyncIterator[Client]:
    with ApiClient(ClientConfig(url=cp_stack.base_url, api_key=API_KEY)) as api:
        async with Client(build_server(api)) as client:
            yield client


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    """A tool call that must succeed; its structured content (or text for 204 routes)."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}: {text_of(result)}"
    if result.structured_content is not None:
        return result.structured_content
    return text_of(result)


async def test_service_recovery_workflow_through_tools(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    assert {"createJob", "addEndpoint", "listEndpointRuns", "applyIntervalHint"} <= set(tools)
    assert "baselineIntervalMs" in tools["addEndpoint"].input_schema["properties"]
    job = await call(mcp, "createJob", {"name": "Service Recovery Workflow"})
    assert job["name"] == "Service Recovery Workflow" and job["status"] == "active"
    health = await call(mcp, "addEndpoint", {"jobId": job["id"], **HEALTH_CHECK})
    recovery = await call(mcp, "addEndpoint", {"jobId": job["id"], **TRIGGER_RECOVERY})
    for created, sent in ((health, HEALTH_CHECK), (recovery, TRIGGER_RECOVERY)):
        assert {name: created[name] for name in sent} == sent
        assert created["jobId"] == job["id"]
    listed = await call(mcp, "listEndpoints", {"jobId": job["id"]})
    assert {e["name"] for e in listed["endpoints"]} == {"Health Check", "Trigger Recovery"}

    # Runs: a test run (offline stack: the name is never resolved, so the call fails) read back.
    tested = await call(mcp, "testEndpoint", {"id": health["id"]})
    assert tested["status"] == "failed" and tested["errorMessage"]
    failed = await call(mcp, "listEndpointRuns", {"id": health["id"], "status": "failed"})
    assert tested["runId"] in {r["id"] for r in failed["runs"]}
    assert all(r["status"] == "failed" for r in failed["runs"])
    succeeded = await call(mcp, "listEndpointRuns", {"id": health["id"], "status": "success"})
    assert tested["runId"] not in {r["id"] for r in succeeded["runs"]}
    run = await call(mcp, "getRunDetails", {"id": tested["runId"]})
    assert run["source"] == "test" and run["endpoint"]["name"] == "Health Check"
    assert (await call(mcp, "getEndpointHealth", {"id": health["id"]}))["failureCount"] >= 1

    # A hint: applied, visible on the endpoint, then cleared.
    hint = {"id": health["id"], "intervalMs": 10000, "ttlMinutes": 30, "reason": "errors seen"}
    text = await call(mcp, "applyIntervalHint", hint)
    assert text == f"Interval hint on endpoint {health['id']}: every 10000 ms for 30 minutes."
    hinted = await call(mcp, "getEndpoint", {"jobId": job["id"], "id": health["id"]})
    assert hinted["aiHintIntervalMs"] == 10000 and hinted["aiHintReason"] == "errors seen"
    await call(mcp, "clearHints", {"id": health["id"]})
    cleared = await call(mcp, "getEndpoint", {"jobId": job["id"], "id": health["id"]})
    assert "aiHintIntervalMs" not in cleared and "aiHintExpiresAt" not in cleared

    archived = await call(mcp, "archiveJob", {"id": job["id"]})
    assert archived["status"] == "archived"


async def test_bad_input_returns_a_clear_tool_error(mcp: Client, cp_stack: Stack) -> None:
    job = await call(mcp, "createJob", {"name": "Bad input"})
    both = await mcp.call_tool(
        "addEndpoint",
        {**HEALTH_CHECK, "jobId": job["id"], "baselineCron": "* * * * *"},
    )
    assert both.is_error
    text = text_of(both)
    assert "VALIDATION_ERROR" in text
    assert "Provide either baselineCron or baselineIntervalMs, but not both." in text
    assert (await call(mcp, "listEndpoints", {"jobId": job["id"]}))["endpoints"] == []

    # Rules only the API can check come back with its status, code and message.
    missing = await mcp.call_tool("getJob", {"id": "job_does_not_exist"})
    assert missing.is_error and "NOT_FOUND (404)" in text_of(missing)
    health = await call(mcp, "addEndpoint", {"jobId": job["id"], **HEALTH_CHECK})
    stale = await mcp.call_tool(
        "scheduleOneShot", {"id": health["id"], "nextRunAt": "2020-01-01T00:00:00Z"}
    )
    assert stale.is_error and "VALIDATION_ERROR (400)" in text_of(stale)
    assert "nextRunAt" in text_of(stale)
    await call(mcp, "archiveJob", {"id": job["id"]})


async def test_the_seed_recovery_as_a_reflex(mcp: Client) -> None:
    job = await call(mcp, "createJob", {"name": "Service Recovery Workflow"})
    health = await call(mcp, "addEndpoint", {"jobId": job["id"], **HEALTH_CHECK})
    recovery = await call(mcp, "addEndpoint", {"jobId": job["id"], **TRIGGER_RECOVERY})
    # "When Health Check's body.needs_recovery == true, run now, cooldown 5 min."
    when = {"endpoint": health["id"], "path": "body.needs_recovery", "op": "==", "value": True}
    rule: dict[str, Any] = {
        "when": when,
        "do": {"action": "run_now"},
        "reason": "The health check asks for recovery",
        "cooldownMs": 300000,
    }  # fmt: skip
    made = await call(mcp, "createReflex", {"endpointId": recovery["id"], **rule})
    assert {name: made[name] for name in rule} == rule
    assert made["active"] is True and made["fireCount"] == 0
    assert made["createdBy"]["type"] == "apiKey"
    ids = {"endpointId": recovery["id"], "id": made["id"]}
    listed = await call(mcp, "listReflexes", {"endpointId": recovery["id"]})
    assert [r["id"] for r in listed["reflexes"]] == [made["id"]]
    assert await call(mcp, "getReflex", ids) == made

    # Replaced whole (the rule as JSON text, as some assistants send it).
    faster = {**rule, "when": json.dumps(rule["when"]), "cooldownMs": 60000, "reason": "faster"}
    replaced = await call(mcp, "replaceReflex", {**ids, **faster})
    assert replaced["id"] == made["id"] and replaced["cooldownMs"] == 60000
    assert replaced["when"] == rule["when"]

    # An expiry already past: stored inactive (only the API knows its clock).
    stale = await call(
        mcp,
        "createReflex",
        {"endpointId": recovery["id"], **rule, "expiresAt": "2001-01-01T00:00:00Z"},
    )
    assert stale["active"] is False
    await call(mcp, "deleteReflex", {"endpointId": recovery["id"], "id": stale["id"]})
    # Ids the API does not know (404).
    for tool, arguments in (
        ("listReflexes", {"endpointId": "ep_does_not_exist"}),
        ("createReflex", {"endpointId": "ep_does_not_exist", **rule}),
        ("getReflex", {"endpointId": recovery["id"], "id": "rfx_does_not_exist"}),
        ("getReflex", {"endpointId": health["id"], "id": made["id"]}),  # not this endpoint's
    ):
        missing = await mcp.call_tool(tool, arguments)
        assert missing.is_error and "NOT_FOUND (404)" in text_of(missing), (tool, arguments)
    outside = await mcp.call_tool(
        "createReflex",
        {"endpointId": recovery["id"], **rule,
         "when": {**when, "endpoint": "ep_of_another_job"}},
    )  # fmt: skip
    assert outside.is_error and "when: unknown endpoint ep_of_another_job" in text_of(outside)

    text = await call(mcp, "deleteReflex", ids)
    assert text == f"Reflex {made['id']} of endpoint {recovery['id']} removed."
    assert (await call(mcp, "listReflexes", {"endpointId": recovery["id"]}))["reflexes"] == []
    again = await mcp.call_tool("deleteReflex", ids)
    assert again.is_error and "NOT_FOUND (404)" in text_of(again)

    # Runs say why they happened.
    tested = await call(mcp, "testEndpoint", {"id": health["id"]})
    run = await call(mcp, "getRunDetails", {"id": tested["runId"]})
    assert run["cause"]["kind"] == "manual-test" and run["cause"]["by"]["type"] == "apiKey"
    await call(mcp, "archiveJob", {"id": job["id"]})


async def test_documentation_resources(mcp: Client) -> None:
    listed = {str(r.uri): r for r in (await mcp.list_resources()).resources}
    for page in ("README.md", "concepts.md", "coordination.md", "api.md", "cli.md", "mcp.md"):
        assert f"file:///docs/{page}" in listed, page
    concepts = listed["file:///docs/concepts.md"]
    assert concepts.mime_type == "text/markdown" and concepts.description
    read = await mcp.read_resource("file:///docs/concepts.md")
    text = getattr(read.contents[0], "text", None)
    assert text == (PROJECT_ROOT / "docs" / "concepts.md").read_text().strip()


async def test_stdio_transport(cp_stack: Stack) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cronpilot_client", "mcp"],
        env=clean_env(CRONPILOT_URL=cp_stack.base_url, CRONPILOT_API_KEY=API_KEY),
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"createJob", "rotateSigningKey", "listAnalysisSessions"} <= names
        listed = await call(client, "listJobs", {"status": "active"})
        assert all(j["status"] == "active" for j in listed["jobs"])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


async def test_streamable_http_transport(cp_stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "mcp-http.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "cronpilot_client", "mcp", "--transport", "http",
         "--port", str(port)],
        cwd=ROOT,
        env=clean_env(CRONPILOT_URL=cp_stack.base_url, CRONPILOT_API_KEY=API_KEY),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:
        wait_until(lambda: server.poll() is not None or port_open(port), 30, "MCP HTTP port")
        assert server.poll() is None, (tmp_path / "mcp-http.log").read_text()
        async with Client(f"http://{HOST}:{port}/mcp") as client:
            tools = (await client.list_tools()).tools
            assert len(tools) == 50
            keys = await call(client, "listApiKeys", {})
            assert any(key["start"] and API_KEY.startswith(key["start"]) for key in keys["apiKeys"])
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
