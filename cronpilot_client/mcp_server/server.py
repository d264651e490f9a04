"""Assemble the MCP server (tools, documentation resources, instructions) and run it over
stdio or streamable HTTP."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import TextResource

from cronpilot_client import __version__
from cronpilot_client.api import ApiClient
from cronpilot_client.config import ClientConfig
from cronpilot_client.mcp_server.catalog import TOOLS
from cronpilot_client.mcp_server.docs import DocPage, load_docs
from cronpilot_client.mcp_server.tools import make_tool

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

INSTRUCTIONS = """\
Cronpilot is an adaptive HTTP scheduler. A job groups endpoints. An endpoint is one HTTP call \
(url, method, headers, body) with a baseline schedule: baselineIntervalMs or baselineCron \
(5-field cron in its timezone). minIntervalMs and maxIntervalMs are safety limits that no hint \
and no AI decision can cross: always set them. The endpoint's description is plain-language \
guidance for Cronpilot's AI planner: say what in the response body should make it run faster, \
slower, once now, or pause, and how it relates to the other endpoints of its job. Hints \
(applyIntervalHint, scheduleOneShot) are temporary and expire after ttlMinutes; clearHints \
returns to the baseline; pauseResumeEndpoint overrides everything until pausedUntil. \
Reflexes (createReflex, listReflexes) are rules applied right after every run with no AI call: \
when a condition on the latest answer of an endpoint or a sibling in its job holds, act on the \
endpoint (run now, set an interval, pause, resume, clear hints), at most once per cooldown. \
Each run's cause says why it ran (baseline, a hint, a reflex, ...) and who set it.

Units: every duration is in MILLISECONDS unless the field name says Minutes, Hours, Days or Kb \
(60000 = 1 minute). Every instant is ISO-8601 UTC, e.g. 2026-01-01T08:00:00Z.

Find ids with listJobs, then listEndpoints; check behaviour with listEndpointRuns, \
getRunDetails, getEndpointHealth and listAnalysisSessions. Errors come back as \
"CODE (status): message" with the field at fault.

Before answering conceptual questions read file:///docs/concepts.md and \
file:///docs/coordination.md; field limits and error codes: file:///docs/api.md; this server: \
file:///docs/mcp.md; overview: file:///docs/README.md."""

log = logging.getLogger("cronpilot-mcp")


def build_server(
    api: ApiClient, docs: Sequence[DocPage] | None = None, log_level: LogLevel = "WARNING"
) -> MCPServer:
    """The server with every tool bound to `api` and `docs` (default: this checkout's)."""
    pages = load_docs() if docs is None else docs
    server: MCPServer = MCPServer(
        name="cronpilot",
        title="Cronpilot",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[make_tool(spec, api) for spec in TOOLS],
        log_level=log_level,
    )
    for doc in pages:
        server.add_resource(
            TextResource(
                uri=doc.uri,
                name=doc.name,
                title=doc.title,
                description=doc.description,
                mime_type="text/markdown",
                text=doc.text,
            )
        )
    if docs is None and not pages:
        log.warning("no documentation found next to the package; no resources are served")
    return server


def serve(
    config: ClientConfig,
    transport: Literal["stdio", "http"],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_level: LogLevel = "WARNING",
) -> None:
    """Run until the client disconnects (stdio) or the process is stopped (HTTP)."""
    if not config.api_key:
        # Still serve: the assistant can read the docs, and each tool explains what is missing.
        print(
            "cronpilot mcp: no API key configured (CRONPILOT_API_KEY); tools will fail",
            file=sys.stderr,
        )
    with ApiClient(config) as api:
        server = build_server(api, log_level=log_level)
        if transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=host, port=port)
