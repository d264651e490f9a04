"""Adaptive controls by hand: `hints`, `pause`, `resume` and `test`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.domain.schemas import IntervalHint, OneShotHint, PauseRequest
from chalicelib.domain.timeutil import iso
from cronpilot_client import exitcodes, render
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import (
    DURATION_METAVAR,
    DURATION_NOTE,
    Context,
    Parser,
    add_command,
    add_group,
    duration_ms,
    given,
    require_one,
)
from cronpilot_client.errors import UsageError
from cronpilot_client.units import format_ms
from cronpilot_client.validation import checked_body

HINT_VERBS = frozenset({"interval", "oneshot", "clear"})


def register(subparsers: Any, common: Parser) -> None:
    """Add `hints`, `pause`, `resume` and `test`."""
    verbs = add_group(subparsers, "hints", "Hints: temporary schedule changes that expire")
    p = add_command(verbs, "interval", "Run at another interval for a while", interval, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument(
        "--every",
        type=duration_ms,
        required=True,
        metavar=DURATION_METAVAR,
        help=f"interval while the hint lasts {DURATION_NOTE}",
    )
    _hint_options(p)
    p = add_command(verbs, "oneshot", "Run once at a given time", oneshot, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--at", help="ISO-8601 instant with a zone, e.g. 2026-01-01T08:00:00Z")
    p.add_argument(
        "--in", dest="after", type=duration_ms, metavar=DURATION_METAVAR, help="run after"
    )
    p.add_argument("--now", action="store_true", help="run as soon as possible")
    _hint_options(p)
    p = add_command(verbs, "clear", "Remove every hint (back to the baseline)", clear, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")

    p = add_command(subparsers, "pause", "Pause an endpoint until a time, or a job", pause, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID", nargs="?")
    p.add_argument("--job", metavar="JOB_ID", help="pause this job (all its endpoints) instead")
    p.add_argument("--until", help="ISO-8601 instant with a zone, e.g. 2026-12-01T08:00:00Z")
    p.add_argument(
        "--for", dest="duration", type=duration_ms, metavar=DURATION_METAVAR, help="pause for"
    )
    p.add_argument("--reason", help="why (kept with the pause)")
    p = add_command(subparsers, "resume", "Resume a paused endpoint, or a job", resume, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID", nargs="?")
    p.add_argument("--job", metavar="JOB_ID", help="resume this job instead")
    p = add_command(
        subparsers,
        "test",
        "Call an endpoint now and record a test run (schedule untouched)",
        run_test,
        common,
    )
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")


def _hint_options(p: Parser) -> None:
    p.add_argument("--ttl-minutes", type=int, help="how long the hint lasts (default 60)")
    p.add_argument("--reason", help="why (kept with the hint)")


def interval(ctx: Context) -> int:
    """POST /endpoints/{id}/hints/interval."""
    a = ctx.args
    body = checked_body(
        IntervalHint, given(intervalMs=a.every, ttlMinutes=a.ttl_minutes, reason=a.reason)
    )
    ctx.api.post(api_path("/endpoints/{id}/hints/interval", id=a.endpoint_id), body)
    ttl = body.get("ttlMinutes", 60)
    ctx.done(
        f"{a.endpoint_id} runs every {format_ms(a.every)} for the next {ttl} min.",
        endpointId=a.endpoint_id,
        **body,
    )
    return 0


def oneshot(ctx: Context) -> int:
    """POST /endpoints/{id}/hints/oneshot."""
    a = ctx.args
    chosen = require_one(ctx, {"at": "--at", "after": "--in", "now": "--now"})
    target = {"at": {"nextRunAt": a.at}, "after": {"nextRunInMs": a.after}}.get(
        chosen, {"nextRunInMs": 0}
    )
    body = checked_body(OneShotHint, {**target, **given(ttlMinutes=a.ttl_minutes, reason=a.reason)})
    ctx.api.post(api_path("/endpoints/{id}/hints/oneshot", id=a.endpoint_id), body)
    when = body.get("nextRunAt") or f"in {format_ms(body.get('nextRunInMs', 0)) or 'no time'}"
    ctx.done(f"{a.endpoint_id} runs once {when}.", endpointId=a.endpoint_id, **body)
    return 0


def clear(ctx: Context) -> int:
    """DELETE /endpoints/{id}/hints."""
    ctx.api.delete(api_path("/endpoints/{id}/hints", id=ctx.args.endpoint_id))
    ctx.done(f"Hints of {ctx.args.endpoint_id} cleared.", endpointId=ctx.args.endpoint_id)
    return 0


def _target(ctx: Context) -> str:
    if (ctx.args.endpoint_id is None) == (ctx.args.job is None):
        raise UsageError("give an ENDPOINT_ID or --job JOB_ID (one of them)")
    return "job" if ctx.args.job is not None else "endpoint"


def pause(ctx: Context) -> int:
    """POST /endpoints/{id}/pause with pausedUntil, or POST /jobs/{id}/pause."""
    a = ctx.args
    if _target(ctx) == "job":
        if a.until or a.duration or a.reason:
            raise UsageError(
                "--until, --for and --reason apply to endpoints; a job pauses until resumed"
            )
        ctx.show_item(ctx.api.post(api_path("/jobs/{id}/pause", id=a.job)))
        return 0
    chosen = require_one(ctx, {"until": "--until", "duration": "--for"})
    until = a.until if chosen == "until" else iso(ctx.now() + timedelta(milliseconds=a.duration))
    body = checked_body(PauseRequest, {"pausedUntil": until, **given(reason=a.reason)})
    ctx.api.post(api_path("/endpoints/{id}/pause", id=a.endpoint_id), body)
    ctx.done(
        f"{a.endpoint_id} paused until {body['pausedUntil']}.", endpointId=a.endpoint_id, **body
    )
    return 0


def resume(ctx: Context) -> int:
    """POST /endpoints/{id}/resume, or POST /jobs/{id}/resume."""
    if _target(ctx) == "job":
        ctx.show_item(ctx.api.post(api_path("/jobs/{id}/resume", id=ctx.args.job)))
        return 0
    ctx.api.post(api_path("/endpoints/{id}/resume", id=ctx.args.endpoint_id))
    ctx.done(f"{ctx.args.endpoint_id} resumed.", endpointId=ctx.args.endpoint_id)
    return 0


def run_test(ctx: Context) -> int:
    """POST /endpoints/{id}/test; exit 7 when the endpoint's run failed."""
    result = ctx.api.post(api_path("/endpoints/{id}/test", id=ctx.args.endpoint_id))
    if ctx.as_json:
        ctx.show_item(result)
    else:
        ctx.print(render.details(result))
    return exitcodes.OK if result.get("status") == "success" else exitcodes.RUN_FAILED
