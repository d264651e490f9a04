"""`cronpilot local` (the local stack, what `make run` calls) and `cronpilot mcp` (the MCP
server). Both import their machinery only when run, so other commands start fast."""

from __future__ import annotations

import argparse
from typing import Any

from cronpilot_client.cli.common import Context, Parser, add_command

DEFAULT_MCP_PORT = 8765


def register(subparsers: Any, common: Parser) -> None:
    """Add `local` and `mcp`."""
    p = subparsers.add_parser(
        "local",
        help="Run the local stack in the foreground (what `make run` does)",
        description="Start moto, the API, timers and pollers on 127.0.0.1; settings come "
        "from the environment (see docs/local-stack.md). Ctrl-C stops everything.",
    )
    p.set_defaults(handler=local)
    p = add_command(subparsers, "mcp", "Run the MCP server (stdio by default)", mcp, common)
    p.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (launched by an assistant) or http (streamable HTTP at /mcp)",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP transport: address to listen on")
    p.add_argument(
        "--port", type=int, default=DEFAULT_MCP_PORT, help="HTTP transport: port (default 8765)"
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="WARNING",
        type=str.upper,
        help="server log level (logs go to stderr)",
    )


def local(ctx: Context) -> int:
    """Run `chalicelib.local` in this process until a stop signal."""
    # Imported here: it sets up the AWS environment before anything reads it.
    from chalicelib.local.__main__ import main as run_local

    return run_local()


def mcp(ctx: Context) -> int:
    """Serve the MCP tools and documentation resources until the client disconnects."""
    from cronpilot_client.mcp_server.server import serve

    args: argparse.Namespace = ctx.args
    serve(ctx.config(), args.transport, host=args.host, port=args.port, log_level=args.log_level)
    return 0
