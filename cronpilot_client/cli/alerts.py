"""`cronpilot channels ...`, `cronpilot incidents ...`, `cronpilot alert-policy ...` and
`cronpilot outbox`: where incident notices go, what opened, when to alert, and the local
stack's alert email."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.alert_schemas import (
    AlertPolicyInput,
    ChannelCreate,
    ChannelUpdate,
    IncidentsQuery,
    OutboxQuery,
)
from cronpilot_client import exitcodes
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import Context, Parser, add_command, add_group, given
from cronpilot_client.errors import UsageError
from cronpilot_client.render import Column, field
from cronpilot_client.validation import checked_body, checked_query

CHANNEL_VERBS = frozenset({"list", "add", "show", "set", "rm", "test"})
INCIDENT_VERBS = frozenset({"list", "show"})
POLICY_VERBS = frozenset({"show", "set"})
CHANNEL = "/channels/{channel_id}"

CHANNEL_COLUMNS = (
    field("ID", "id"),
    field("NAME", "name"),
    field("KIND", "kind"),
    Column("TARGET", lambda c: c.get("url") or c.get("address")),
    Column("JOBS", lambda c: ", ".join(c["jobIds"]) if c.get("jobIds") else "all"),
    field("ENABLED", "enabled"),
)
INCIDENT_COLUMNS = (
    field("ID", "id"),
    field("STATE", "state"),
    field("KIND", "kind"),
    field("ENDPOINT", "endpointName"),
    field("OPENED", "openedAt"),
    field("CLOSED", "closedAt"),
    Column("LAST ERROR", lambda i: (i.get("lastError") or {}).get("message")),
)
OUTBOX_COLUMNS = (
    field("SENT", "sentAt"),
    field("TO", "to"),
    Column("SUBJECT", lambda m: m.get("subject"), limit=80),
)


def register(subparsers: Any, common: Parser) -> None:
    """Add the `channels`, `incidents`, `alert-policy` and `outbox` groups."""
    verbs = add_group(subparsers, "channels", "Alert channels: webhook, Slack, email")
    add_command(verbs, "list", "List alert channels (the default verb)", list_channels, common)
    p = add_command(verbs, "add", "Add an alert channel", add_channel, common)
    p.epilog = (
        "example: cronpilot channels add --kind slack --name '#ops' "
        "--url https://hooks.slack.com/services/T000/B000/XXXX"
    )
    p.add_argument("--kind", required=True, choices=["webhook", "slack", "email"])
    _channel_options(p, name_required=True)
    p = add_command(verbs, "show", "Show an alert channel", show_channel, common)
    p.add_argument("channel_id", metavar="CHANNEL_ID")
    p = add_command(verbs, "set", "Change an alert channel", set_channel, common)
    p.add_argument("channel_id", metavar="CHANNEL_ID")
    _channel_options(p, name_required=False)
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    p = add_command(verbs, "rm", "Remove an alert channel", remove_channel, common)
    p.add_argument("channel_id", metavar="CHANNEL_ID")
    p = add_command(verbs, "test", "Send a test notice now", test_channel, common)
    p.add_argument("channel_id", metavar="CHANNEL_ID")

    verbs = add_group(subparsers, "incidents", "Incidents: failure streaks and late slots")
    p = add_command(
        verbs, "list", "List incidents, open first (the default verb)", list_incidents, common
    )
    p.add_argument("--job", dest="job_id", metavar="JOB_ID")
    p.add_argument("--endpoint", dest="endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("--state", choices=["open", "closed"])
    p.add_argument("--since", metavar="ISO", help="opened at or after this instant")
    p.add_argument("--until", metavar="ISO", help="opened before this instant")
    p.add_argument("--limit", type=int)
    p = add_command(
        verbs, "show", "Show an incident: runs, last error, notices", show_incident, common
    )
    p.add_argument("incident_id", metavar="INCIDENT_ID")

    verbs = add_group(subparsers, "alert-policy", "When to alert: tenant defaults or one job's")
    p = add_command(
        verbs,
        "show",
        "Show the defaults, or a job's policy (the default verb)",
        show_policy,
        common,
    )
    p.add_argument("--job", dest="job_id", metavar="JOB_ID")
    p = add_command(
        verbs, "set", "Replace the defaults, or a job's own settings", set_policy, common
    )
    p.add_argument("--job", dest="job_id", metavar="JOB_ID")
    p.add_argument("--failure-threshold", type=int, metavar="N")
    recovery = p.add_mutually_exclusive_group()
    recovery.add_argument("--notify-on-recovery", dest="recovery", action="store_const", const=True)
    recovery.add_argument("--no-recovery", dest="recovery", action="store_const", const=False)
    p.add_argument("--realert-minutes", type=int, metavar="MIN")
    p.add_argument("--late-after-ms", type=int, metavar="MS")
    pauses = p.add_mutually_exclusive_group()
    pauses.add_argument(
        "--notify-on-pause",
        dest="pauses",
        action="store_const",
        const=True,
        help="tell the channels when the planner or a reflex pauses or resumes an endpoint",
    )
    pauses.add_argument("--no-pause-notices", dest="pauses", action="store_const", const=False)

    verbs = subparsers.add_parser(
        "outbox",
        help="Alert email the local stack kept",
        parents=[common],
        description="Alert email the local stack would have sent, newest first",
    )
    verbs.add_argument("--limit", type=int)
    verbs.set_defaults(handler=show_outbox)


def _channel_options(p: Parser, *, name_required: bool) -> None:
    p.add_argument("--name", required=name_required)
    p.add_argument("--url", help="webhook or slack: where to POST (stored encrypted)")
    p.add_argument("--address", help="email: the recipient")
    p.add_argument(
        "--job",
        dest="job_ids",
        action="append",
        metavar="JOB_ID",
        help="a job this channel hears of (repeat; default: every job)",
    )
    p.add_argument("--all-jobs", action="store_true", help="hear of every job (clears --job)")


def _jobs(ctx: Context) -> dict[str, Any]:
    a = ctx.args
    if a.all_jobs and a.job_ids:
        raise UsageError("give --job or --all-jobs, not both")
    if a.all_jobs:
        return {"jobIds": None}
    return {"jobIds": a.job_ids} if a.job_ids else {}


def list_channels(ctx: Context) -> int:
    answer = ctx.api.get("/channels")
    ctx.show_list(answer["channels"], CHANNEL_COLUMNS, answer)
    return 0


def add_channel(ctx: Context) -> int:
    a = ctx.args
    data = {**given(kind=a.kind, name=a.name, url=a.url, address=a.address), **_jobs(ctx)}
    ctx.show_item(ctx.api.post("/channels", checked_body(ChannelCreate, data)))
    return 0


def show_channel(ctx: Context) -> int:
    ctx.show_item(ctx.api.get(api_path(CHANNEL, channel_id=ctx.args.channel_id)))
    return 0


def set_channel(ctx: Context) -> int:
    a = ctx.args
    data = {**given(name=a.name, url=a.url, address=a.address, enabled=a.enabled), **_jobs(ctx)}
    if not data:
        raise UsageError("nothing to change: give --name, --url, --address, --job, --enable...")
    body = checked_body(ChannelUpdate, data)
    ctx.show_item(ctx.api.patch(api_path(CHANNEL, channel_id=a.channel_id), body))
    return 0


def remove_channel(ctx: Context) -> int:
    ctx.api.delete(api_path(CHANNEL, channel_id=ctx.args.channel_id))
    ctx.done(f"Channel {ctx.args.channel_id} removed.", deleted=ctx.args.channel_id)
    return 0


def test_channel(ctx: Context) -> int:
    answer = ctx.api.post(api_path(CHANNEL + "/test", channel_id=ctx.args.channel_id))
    ctx.show_item(answer)
    return 0 if answer.get("state") == "sent" else exitcodes.RUN_FAILED


def list_incidents(ctx: Context) -> int:
    a = ctx.args
    query = checked_query(
        IncidentsQuery,
        given(
            jobId=a.job_id,
            endpointId=a.endpoint_id,
            state=a.state,
            since=a.since,
            until=a.until,
            limit=a.limit,
        ),
    )
    answer = ctx.api.get("/incidents", query)
    ctx.show_list(answer["incidents"], INCIDENT_COLUMNS, answer)
    return 0


def show_incident(ctx: Context) -> int:
    ctx.show_item(
        ctx.api.get(api_path("/incidents/{incident_id}", incident_id=ctx.args.incident_id))
    )
    return 0


def _policy_path(ctx: Context) -> str:
    job = ctx.args.job_id
    return api_path("/jobs/{job_id}/alert-policy", job_id=job) if job else "/alert-policy"


def show_policy(ctx: Context) -> int:
    ctx.show_item(ctx.api.get(_policy_path(ctx)))
    return 0


def set_policy(ctx: Context) -> int:
    a = ctx.args
    data = given(
        failureThreshold=a.failure_threshold,
        notifyOnRecovery=a.recovery,
        realertMinutes=a.realert_minutes,
        lateAfterMs=a.late_after_ms,
        notifyOnPause=a.pauses,
    )
    ctx.show_item(ctx.api.put(_policy_path(ctx), checked_body(AlertPolicyInput, data)))
    return 0


def show_outbox(ctx: Context) -> int:
    query = checked_query(OutboxQuery, given(limit=ctx.args.limit))
    answer = ctx.api.get("/outbox", query)
    if ctx.as_json:
        ctx.show_list(answer["messages"], OUTBOX_COLUMNS, answer)
        return 0
    for message in answer["messages"]:
        ctx.print(f"--- {message['sentAt']}  to {message['to']}  from {message['from']}")
        ctx.print(f"Subject: {message['subject']}")
        ctx.print(message["body"])
        ctx.print()
    if not answer["messages"]:
        ctx.print("The outbox is empty.")
    return 0
