"""`cronpilot runs ...` and `cronpilot sessions ...`: what ran, and what the planner decided."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.schemas import RunsQuery, SessionsQuery
from cronpilot_client import render
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import Context, Parser, add_command, add_group, positive_float
from cronpilot_client.errors import UsageError
from cronpilot_client.follow import FollowLimits, RunFollower
from cronpilot_client.validation import checked_query

RUN_VERBS = frozenset({"list", "get"})
SESSION_VERBS = frozenset({"list", "get"})
FOLLOW_PAGE = 100  # runs fetched per poll while following, so bursts are not missed


def register(subparsers: Any, common: Parser) -> None:
    """Add the `runs` and `sessions` groups."""
    verbs = add_group(subparsers, "runs", "Runs: every call Cronpilot made, newest first")
    p = add_command(verbs, "list", "List an endpoint's runs (the default verb)", list_runs, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--status", choices=["running", "success", "failed"])
    p.add_argument("--limit", type=int, help="page size, 1-100 (default 20)")
    p.add_argument("--offset", type=int, help="runs to skip, for paging")
    follow = p.add_argument_group("following")
    follow.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new runs as they happen"
    )
    follow.add_argument(
        "--interval",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="poll period while following (default 2)",
    )
    follow.add_argument("--max-events", type=int, help="stop after this many new runs/changes")
    follow.add_argument(
        "--for", dest="follow_for", type=positive_float, metavar="SECONDS", help="stop after"
    )
    p = add_command(verbs, "get", "Show one run with its response body", get_run, common)
    p.add_argument("run_id", metavar="RUN_ID")

    verbs = add_group(subparsers, "sessions", "Analysis sessions: the AI planner's decisions")
    p = add_command(
        verbs, "list", "List an endpoint's sessions (the default)", list_sessions, common
    )
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--limit", type=int, help="page size, 1-100 (default 10)")
    p.add_argument("--offset", type=int, help="sessions to skip, for paging")
    p = add_command(verbs, "get", "Show one session: reasoning and tool calls", get_session, common)
    p.add_argument("session_id", metavar="SESSION_ID")


def list_runs(ctx: Context) -> int:
    """GET /endpoints/{id}/runs; with --follow, poll and print new runs."""
    a = ctx.args
    if not a.follow and (a.max_events is not None or a.follow_for is not None):
        raise UsageError("--max-events and --for only apply with --follow")
    if a.max_events is not None and a.max_events < 1:
        raise UsageError("--max-events must be at least 1")
    query = checked_query(RunsQuery, {"status": a.status, "limit": a.limit, "offset": a.offset})
    path = api_path("/endpoints/{id}/runs", id=a.endpoint_id)
    if not a.follow:
        answer = ctx.api.get(path, query)
        ctx.show_list(answer["runs"], render.RUN_COLUMNS, answer)
        return 0
    return _follow(ctx, path, query)


def _follow(ctx: Context, path: str, query: dict[str, str]) -> int:
    if "offset" in query:
        raise UsageError("--offset cannot be used with --follow")
    shown = int(query.get("limit", "10"))
    polled = {**query, "limit": str(max(shown, FOLLOW_PAGE))}

    def fetch() -> list[Mapping[str, Any]]:
        runs: list[Mapping[str, Any]] = ctx.api.get(path, polled)["runs"]
        return runs

    follower = RunFollower(fetch=fetch, on_event=lambda run: _print_run(ctx, run))
    history = follower.snapshot()[-shown:]
    if not ctx.as_json:
        ctx.print(_run_line(None))
    for run in history:
        _print_run(ctx, run)
    ctx.note(f"Following runs of {ctx.args.endpoint_id} (Ctrl-C to stop)...")
    limits = FollowLimits(
        interval_s=ctx.args.interval,
        max_events=ctx.args.max_events,
        timeout_s=ctx.args.follow_for,
    )
    follower.follow(limits)
    return 0


# Fixed widths: a streamed table cannot measure rows it has not seen yet.
_WIDTHS = (30, 8, 18, 26, 25, 9, 4)


def _run_line(run: Mapping[str, Any] | None) -> str:
    columns = render.RUN_COLUMNS
    if run is None:
        cells = [column.header for column in columns]
    else:
        cells = [render.cell_text(column.cell(run), limit=60) for column in columns]
    padded = [cell.ljust(width) for cell, width in zip(cells, _WIDTHS, strict=False)]
    return "  ".join([*padded, *cells[len(_WIDTHS) :]]).rstrip()


def _print_run(ctx: Context, run: Mapping[str, Any]) -> None:
    # One JSON object per line (NDJSON) so scripts can read the stream as it comes.
    ctx.print(json.dumps(run, ensure_ascii=False) if ctx.as_json else _run_line(run))


def get_run(ctx: Context) -> int:
    """GET /runs/{id}."""
    ctx.show_item(ctx.api.get(api_path("/runs/{id}", id=ctx.args.run_id)))
    return 0


def list_sessions(ctx: Context) -> int:
    """GET /endpoints/{id}/sessions."""
    query = checked_query(SessionsQuery, {"limit": ctx.args.limit, "offset": ctx.args.offset})
    answer = ctx.api.get(api_path("/endpoints/{id}/sessions", id=ctx.args.endpoint_id), query)
    ctx.show_list(answer["sessions"], render.SESSION_COLUMNS, answer)
    return 0


def get_session(ctx: Context) -> int:
    """GET /sessions/{id}."""
    ctx.show_item(ctx.api.get(api_path("/sessions/{id}", id=ctx.args.session_id)))
    return 0
