"""Every MCP tool: the REST operation it calls, the API models behind its input and output,
and a description good enough for a model to pick it and fill every field in the right unit.

One tool per REST operation. Not tools: route aliases (`POST /jobs/{id}/archive`,
`/analysis-sessions`, `/dashboard`, `POST /endpoints/{id}/resume`), the admin routes (they need
the operator's admin token, not a tenant's API key) and the public system routes (health, the
OpenAPI document and its viewer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.domain.alert_responses import (
    AlertPolicyResponse,
    ChannelList,
    ChannelResponse,
    DeliveryResponse,
    IncidentDetailResponse,
    IncidentList,
    OutboxList,
)
from chalicelib.domain.alert_schemas import (
    AlertPolicyInput,
    ChannelCreate,
    ChannelUpdate,
    IncidentsQuery,
    OutboxQuery,
)
from chalicelib.domain.dashboard import (
    DashboardActivity,
    DashboardActivityQuery,
    DashboardStats,
    DashboardStatsQuery,
)
from chalicelib.domain.reflex_rules import ReflexSpec
from chalicelib.domain.responses import (
    ApiKeyCreated,
    ApiKeyList,
    EndpointList,
    EndpointResponse,
    HealthSummary,
    JobList,
    JobResponse,
    ReflexList,
    ReflexResponse,
    RunDetail,
    RunList,
    SessionDetail,
    SessionList,
    SigningKeyCreated,
    SigningKeyInfo,
    TestRunResult,
)
from chalicelib.domain.schemas import (
    ApiKeyCreate,
    EndpointCreate,
    EndpointUpdate,
    HealthQuery,
    IntervalHint,
    JobCreate,
    JobsQuery,
    JobUpdate,
    OneShotHint,
    PauseRequest,
    RunsQuery,
    SessionsQuery,
    SigningKeyRotate,
)
from cronpilot_client.validation import checked_reflex

Kind = Literal["read", "write", "idempotent", "destructive"]
Summary = Callable[[Any], str]
_PARAM = re.compile(r"{([^}]+)}")

JOB_ID = "Job id, e.g. from listJobs or createJob."
ENDPOINT_ID = "Endpoint id, e.g. from listEndpoints or addEndpoint."
ENDPOINT_NAME = "Endpoint name, 1-255 characters, e.g. 'Health Check'."
ENDPOINT_DESCRIPTION = (
    "Plain-language guidance for Cronpilot's AI planner (max 2000 characters): what the "
    "endpoint does, which response fields matter, when to run faster, slower, once now or "
    "pause, and how it relates to the other endpoints of its job. e.g. 'Poll faster while "
    "error_count > 0; when errors appear, Trigger Recovery should run at once.'"
)


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool and the REST operation behind it."""

    name: str
    method: str
    path: str  # `{param}` segments are tool arguments of the same name
    title: str
    description: str
    ids: Mapping[str, str] = field(default_factory=dict)  # path argument -> description
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    kind: Kind = "read"
    notes: Mapping[str, str] = field(default_factory=dict)  # per-tool field descriptions
    summary: Summary | None = None  # first line of a success answer
    done: str = "Done."  # the answer to a 204 route; `{name}` reads the request's fields
    # Checks the body and returns what to send, when the API parses it with more than
    # schemas.parse (reflex rules); None: validation.checked_body with `body`.
    check: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    @property
    def path_params(self) -> list[str]:
        """Path arguments, in path order."""
        return _PARAM.findall(self.path)


def _job(job: Any) -> str:
    return f"Job '{job['name']}' ({job['id']}) is {job['status']}."


def _endpoint(ep: Any) -> str:
    state = "archived" if ep.get("archivedAt") else f"next run {ep.get('nextRunAt')}"
    return f"Endpoint '{ep['name']}' ({ep['id']}): {state}."


def _reflex(reflex: Any) -> str:
    state = "active" if reflex.get("active") else "expired"
    return (
        f"Reflex {reflex['id']} on endpoint {reflex['endpointId']}: {state}, fired "
        f"{reflex.get('fireCount', 0)} time(s)."
    )


def _count(key: str, noun: str) -> Summary:
    def summary(answer: Any) -> str:
        items = answer.get(key, [])
        total = answer.get("total")
        of = f" of {total}" if total is not None else ""
        return f"{len(items)}{of} {noun}."

    return summary


CHANNEL_ID = "Alert channel id (chn_...), e.g. from listChannels or createChannel."
INCIDENT_ID = "Incident id (inc_...), e.g. from listIncidents."
CHANNEL_NOTES = {
    "kind": "webhook (signed JSON POST), slack (incoming webhook) or email.",
    "name": "Channel name, 1-255 characters, e.g. 'On-call Slack'.",
    "url": (
        "webhook and slack: the http(s) URL to POST to, e.g. "
        "https://hooks.slack.com/services/T000/B000/XXXX. A secret: stored encrypted, shown "
        "masked. Not for email."
    ),
    "address": "email: the recipient address, e.g. oncall@example.com. Not for webhook/slack.",
    "jobIds": (
        'Ids of the jobs whose incidents this channel hears of, e.g. ["job_..."]; null or '
        "left out: every job of the tenant."
    ),
    "enabled": "false pauses the channel (it hears of nothing) without removing it.",
}
INCIDENT_NOTES = {
    "jobId": "Only incidents of this job (from listJobs).",
    "endpointId": "Only incidents of this endpoint (from listEndpoints).",
    "state": "open or closed; left out: both.",
    "since": "Only incidents opened at or after this ISO-8601 UTC instant.",
    "until": "Only incidents opened before this ISO-8601 UTC instant.",
    "limit": "Most incidents to return (1-200). Default 50.",
}


def _channel(channel: Any) -> str:
    target = channel.get("url") or channel.get("address")
    return f"Channel '{channel['name']}' ({channel['id']}, {channel['kind']}) to {target}."


def _policy(policy: Any) -> str:
    realert = policy.get("realertMinutes")
    reminders = f"every {realert} min" if realert else "none"
    return (
        f"Alert after {policy['failureThreshold']} consecutive failure(s); recovery notice "
        f"{'on' if policy['notifyOnRecovery'] else 'off'}; reminders {reminders}; late after "
        f"{policy['lateAfterMs']} ms; pause notices "
        f"{'on' if policy.get('notifyOnPause') else 'off'}."
    )


REFLEX_ID = "Reflex id (rfx_...), e.g. from listReflexes or createReflex."
REFLEX_ENDPOINT = (
    "Id of the endpoint the reflex acts on (from listEndpoints); its condition may read this "
    "endpoint or a sibling in the same job."
)
REFLEX_NOTES = {
    "when": (
        "The condition, checked on the latest finished run right after each run of the "
        'endpoints it reads. A clause {"endpoint": "self" or the id of a sibling endpoint in '
        'the same job, "path": "status" (success/failed) | "statusCode" | "durationMs" | '
        '"failureCount" | "body" | "body.key.0.sub" (dot path into the JSON answer; digits '
        'index arrays), "op": "==" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "exists" | '
        '"changed", "value": ...}, or {"all": [...]} / {"any": [...]} of clauses (at most 2 '
        'levels of 4 items). e.g. {"endpoint": "<Health Check id>", "path": '
        '"body.needs_recovery", "op": "==", "value": true}. `changed` takes no value; `in` takes '
        "a list; ordering ops take a number."
    ),
    "do": (
        'The action on this endpoint: {"action": "run_now"}, {"action": "set_interval", '
        '"intervalMs": MILLISECONDS, "forMinutes": MINUTES}, {"action": "pause", "forMinutes": '
        'MINUTES} or {"action": "pause", "until": ISO-8601 UTC}, {"action": "resume"} or '
        '{"action": "clear_hints"}. minIntervalMs and maxIntervalMs still apply.'
    ),
    "reason": (
        "Why the reflex exists, 1-500 characters, e.g. 'The health check asks for recovery'. "
        "Copied onto every run it causes (the run's cause.reason)."
    ),
    "cooldownMs": (
        "Fire at most once per this many MILLISECONDS (0 to 604800000 = 7 days). Default 60000; "
        "e.g. 300000 = at most every 5 minutes."
    ),
    "expiresAt": (
        "When the reflex stops acting: ISO-8601 UTC instant in the future, e.g. "
        "2026-01-01T08:00:00Z. Omit or null for a reflex that never expires."
    ),
}
REFLEX_RULE = (
    " A reflex is a rule Cronpilot applies right after every run, with no AI call: when a "
    "condition on the latest answer of this endpoint or of a sibling in the same job holds, "
    "do an action on this endpoint (run_now, set_interval, pause, resume, clear_hints), at most "
    "once per cooldownMs. Each run it causes has cause.kind 'reflex' and cause.by its id."
)

TOOLS: tuple[ToolSpec, ...] = (
    # --- jobs ---------------------------------------------------------------------------
    ToolSpec(
        "createJob",
        "POST",
        "/jobs",
        "Create a job",
        "Create a job: a named group of endpoints that are scheduled and analysed together, "
        "e.g. every step of one workflow. Returns the job and its id; then add endpoints to it "
        "with addEndpoint.",
        body=JobCreate,
        response=JobResponse,
        kind="write",
        notes={
            "name": "Job name, 1-255 characters, e.g. 'Service Recovery Workflow'.",
            "description": "Optional note about the job (max 1000 characters).",
        },
        summary=_job,
    ),
    ToolSpec(
        "getJob",
        "GET",
        "/jobs/{id}",
        "Get a job",
        "Get one job: name, description, status (active, paused or archived) and timestamps.",
        ids={"id": JOB_ID},
        response=JobResponse,
        summary=_job,
    ),
    ToolSpec(
        "listJobs",
        "GET",
        "/jobs",
        "List jobs",
        "List the tenant's jobs with the number of endpoints in each. Start here to find job "
        "ids. Filter by status to see only active, paused or archived jobs.",
        query=JobsQuery,
        response=JobList,
        notes={"status": "Only jobs in this state; omit for every job."},
        summary=_count("jobs", "job(s)"),
    ),
    ToolSpec(
        "updateJob",
        "PATCH",
        "/jobs/{id}",
        "Rename or describe a job",
        "Rename a job or change its description. Only the fields given change; "
        "description null removes it.",
        ids={"id": JOB_ID},
        body=JobUpdate,
        response=JobResponse,
        kind="idempotent",
        notes={
            "name": "New job name, 1-255 characters. Omit to keep the name.",
            "description": "New note (max 1000 characters); null removes it; omit to keep it.",
        },
        summary=_job,
    ),
    ToolSpec(
        "archiveJob",
        "DELETE",
        "/jobs/{id}",
        "Archive a job",
        "Archive a job (soft delete): the job and all its endpoints stop running for good and "
        "refuse changes; their runs stay readable. There is no unarchive: to stop a job for a "
        "while, use pauseJob.",
        ids={"id": JOB_ID},
        response=JobResponse,
        kind="destructive",
        summary=_job,
    ),
    ToolSpec(
        "pauseJob",
        "POST",
        "/jobs/{id}/pause",
        "Pause a job",
        "Pause a whole job: none of its endpoints run until resumeJob. To pause a single "
        "endpoint until a given time, use pauseResumeEndpoint.",
        ids={"id": JOB_ID},
        response=JobResponse,
        kind="idempotent",
        summary=_job,
    ),
    ToolSpec(
        "resumeJob",
        "POST",
        "/jobs/{id}/resume",
        "Resume a job",
        "Resume a paused job. Endpoints whose planned run passed during the pause run once, "
        "at once, then follow their schedules.",
        ids={"id": JOB_ID},
        response=JobResponse,
        kind="idempotent",
        summary=_job,
    ),
    # --- endpoints ----------------------------------------------------------------------
    ToolSpec(
        "addEndpoint",
        "POST",
        "/jobs/{jobId}/endpoints",
        "Add an endpoint",
        "Add an endpoint to a job: one HTTP call Cronpilot makes on a schedule. Give exactly "
        "one baseline: baselineIntervalMs (MILLISECONDS, 60000 = every minute) or baselineCron "
        "(5-field cron in timezone). Always set minIntervalMs and maxIntervalMs: they bound "
        "every hint and planner decision. Write the adaptation rules into description in plain "
        "language. All durations are milliseconds.",
        ids={"jobId": "Id of the job the endpoint joins (from listJobs or createJob)."},
        body=EndpointCreate,
        response=EndpointResponse,
        kind="write",
        notes={"name": ENDPOINT_NAME, "description": ENDPOINT_DESCRIPTION},
        summary=_endpoint,
    ),
    ToolSpec(
        "getEndpoint",
        "GET",
        "/jobs/{jobId}/endpoints/{id}",
        "Get an endpoint",
        "Get one endpoint of a job: its settings, nextRunAt, lastRunAt, failureCount, "
        "pausedUntil, the hint in force (aiHintIntervalMs, aiHintNextRunAt, aiHintExpiresAt, "
        "aiHintReason, aiHintSetBy: the session, reflex or API key that set it) and "
        "nextRunCause (why nextRunAt is what it is). Times are ISO-8601 UTC; durations "
        "milliseconds.",
        ids={"jobId": "Id of the endpoint's job.", "id": ENDPOINT_ID},
        response=EndpointResponse,
        summary=_endpoint,
    ),
    ToolSpec(
        "listEndpoints",
        "GET",
        "/jobs/{jobId}/endpoints",
        "List a job's endpoints",
        "List the endpoints of a job with their schedules, next run, failure count, pause "
        "and hints.",
        ids={"jobId": JOB_ID},
        response=EndpointList,
        summary=_count("endpoints", "endpoint(s)"),
    ),
    ToolSpec(
        "updateEndpoint",
        "PATCH",
        "/jobs/{jobId}/endpoints/{id}",
        "Change an endpoint",
        "Change an endpoint. Only the fields given change; null clears an optional field "
        "(e.g. maxIntervalMs: null). Giving baselineCron or baselineIntervalMs switches the "
        "baseline to that kind. Schedule changes re-plan the next run at once. Durations are "
        "milliseconds.",
        ids={"jobId": "Id of the endpoint's job.", "id": ENDPOINT_ID},
        body=EndpointUpdate,
        response=EndpointResponse,
        kind="idempotent",
        notes={
            "name": "New name, 1-255 characters. Omit to keep it.",
            "description": ENDPOINT_DESCRIPTION + " null removes it; omit to keep it.",
        },
        summary=_endpoint,
    ),
    ToolSpec(
        "archiveEndpoint",
        "POST",
        "/jobs/{jobId}/endpoints/{id}/archive",
        "Archive an endpoint",
        "Archive an endpoint: it stops running for good and refuses changes; its runs stay "
        "readable. For a temporary stop use pauseResumeEndpoint.",
        ids={"jobId": "Id of the endpoint's job.", "id": ENDPOINT_ID},
        response=EndpointResponse,
        kind="destructive",
        summary=_endpoint,
    ),
    ToolSpec(
        "deleteEndpoint",
        "DELETE",
        "/jobs/{jobId}/endpoints/{id}",
        "Delete an endpoint",
        "Permanently delete an endpoint together with its runs and analysis sessions. Cannot "
        "be undone: use archiveEndpoint instead unless the user asks for deletion.",
        ids={"jobId": "Id of the endpoint's job.", "id": ENDPOINT_ID},
        kind="destructive",
        done="Endpoint {id} deleted with its runs and sessions.",
    ),
    # --- adaptive controls ----------------------------------------------------------------
    ToolSpec(
        "pauseResumeEndpoint",
        "POST",
        "/endpoints/{id}/pause",
        "Pause or resume an endpoint",
        "Pause an endpoint until a time (pausedUntil: ISO-8601 UTC, e.g. "
        "2026-12-01T08:00:00Z) or resume it now (pausedUntil: null). A pause overrides every "
        "other schedule rule and every hint.",
        ids={"id": ENDPOINT_ID},
        body=PauseRequest,
        kind="idempotent",
        done="Endpoint {id}: pausedUntil is now {pausedUntil}. getEndpoint shows the next run.",
    ),
    ToolSpec(
        "applyIntervalHint",
        "POST",
        "/endpoints/{id}/hints/interval",
        "Apply an interval hint",
        "Temporarily run an endpoint at another interval: every intervalMs MILLISECONDS for "
        "ttlMinutes MINUTES (default 60), then back to its baseline. minIntervalMs and "
        "maxIntervalMs still apply. Use it to poll faster during an incident or slower when "
        "idle. Answers without data: getEndpoint shows the new nextRunAt and aiHint* fields.",
        ids={"id": ENDPOINT_ID},
        body=IntervalHint,
        kind="idempotent",
        done="Interval hint on endpoint {id}: every {intervalMs} ms for {ttlMinutes} minutes.",
    ),
    ToolSpec(
        "scheduleOneShot",
        "POST",
        "/endpoints/{id}/hints/oneshot",
        "Schedule a one-shot run",
        "Run an endpoint once at a chosen time, then carry on as before: give nextRunAt "
        "(ISO-8601 UTC) or nextRunInMs (MILLISECONDS from now, 0 = now). The hint expires after "
        "ttlMinutes MINUTES (default 60) if it has not run by then.",
        ids={"id": ENDPOINT_ID},
        body=OneShotHint,
        kind="write",
        done="One-shot run scheduled for endpoint {id}. getEndpoint shows aiHintNextRunAt.",
    ),
    ToolSpec(
        "clearHints",
        "DELETE",
        "/endpoints/{id}/hints",
        "Clear hints",
        "Remove an endpoint's interval and one-shot hints, whoever set them (you or the AI "
        "planner); it goes back to its baseline schedule.",
        ids={"id": ENDPOINT_ID},
        kind="idempotent",
        done="Hints of endpoint {id} cleared; it follows its baseline again.",
    ),
    ToolSpec(
        "resetFailures",
        "POST",
        "/endpoints/{id}/reset-failures",
        "Reset the failure count",
        "Set an endpoint's consecutive failure count back to 0. Failures double an interval "
        "baseline (up to 32x) as backoff; resetting ends the backoff. Use it after fixing "
        "the target.",
        ids={"id": ENDPOINT_ID},
        kind="idempotent",
        done="Failure count of endpoint {id} reset to 0.",
    ),
    # --- reflexes -------------------------------------------------------------------------
    ToolSpec(
        "listReflexes",
        "GET",
        "/endpoints/{endpointId}/reflexes",
        "List an endpoint's reflexes",
        "List the reflexes acting on an endpoint, oldest first, expired ones included "
        "(active false): each rule (when, do, reason, cooldownMs, expiresAt), who made it "
        "(createdBy: apiKey or a planner session), fireCount and lastFiredAt." + REFLEX_RULE,
        ids={"endpointId": REFLEX_ENDPOINT},
        response=ReflexList,
        summary=_count("reflexes", "reflex(es)"),
    ),
    ToolSpec(
        "getReflex",
        "GET",
        "/endpoints/{endpointId}/reflexes/{id}",
        "Get a reflex",
        "Get one reflex of an endpoint: its rule, author, whether it is active, how often it "
        "fired, and the run whose answer fired it last (lastFiredRunId).",
        ids={"endpointId": REFLEX_ENDPOINT, "id": REFLEX_ID},
        response=ReflexResponse,
        summary=_reflex,
    ),
    ToolSpec(
        "createReflex",
        "POST",
        "/endpoints/{endpointId}/reflexes",
        "Add a reflex",
        "Add a reflex to an endpoint, for a reaction that must happen at once and always the "
        "same way (the AI planner handles judgement calls). Example, the seed's recovery on the "
        'Trigger Recovery endpoint: when {"endpoint": "<Health Check id>", "path": '
        '"body.needs_recovery", "op": "==", "value": true}, do {"action": '
        '"run_now"}, cooldownMs 300000. At most 20 live reflexes per endpoint; a sibling named '
        "in the condition must be in the same job (else NOT_FOUND)." + REFLEX_RULE,
        ids={"endpointId": REFLEX_ENDPOINT},
        body=ReflexSpec,
        response=ReflexResponse,
        kind="write",
        notes=REFLEX_NOTES,
        summary=_reflex,
        check=checked_reflex,
    ),
    ToolSpec(
        "replaceReflex",
        "PUT",
        "/endpoints/{endpointId}/reflexes/{id}",
        "Replace a reflex",
        "Replace a reflex's rule whole: when, do and reason are required again; cooldownMs and "
        "expiresAt fall back to their defaults when omitted. Its fireCount and cooldown carry "
        "on; `changed` clauses compare afresh.",
        ids={"endpointId": REFLEX_ENDPOINT, "id": REFLEX_ID},
        body=ReflexSpec,
        response=ReflexResponse,
        kind="idempotent",
        notes=REFLEX_NOTES,
        summary=_reflex,
        check=checked_reflex,
    ),
    ToolSpec(
        "deleteReflex",
        "DELETE",
        "/endpoints/{endpointId}/reflexes/{id}",
        "Remove a reflex",
        "Remove a reflex of an endpoint: it stops acting at once. Hints or pauses it already "
        "set stay until they expire (clearHints removes them).",
        ids={"endpointId": REFLEX_ENDPOINT, "id": REFLEX_ID},
        kind="destructive",
        done="Reflex {id} of endpoint {endpointId} removed.",
    ),
    # --- alerts: channels, incidents, policies, outbox -------------------------------------
    ToolSpec(
        "listChannels",
        "GET",
        "/channels",
        "List alert channels",
        "List the tenant's alert channels (webhook, slack, email), oldest first: name, kind, "
        "the masked URL or the address, the jobs each hears of (jobIds null: every job) and "
        "whether it is enabled. Incident notices go to every enabled channel of the job.",
        response=ChannelList,
        summary=_count("channels", "channel(s)"),
    ),
    ToolSpec(
        "createChannel",
        "POST",
        "/channels",
        "Add an alert channel",
        "Add a channel that hears of incidents: kind webhook (a JSON POST signed with the "
        "tenant's signing key, like runs) or slack (an incoming-webhook URL) with url, or "
        "email with address. Private and cloud-metadata addresses are refused. The URL is "
        "stored encrypted and never shown again whole. Try it with testChannel.",
        body=ChannelCreate,
        response=ChannelResponse,
        kind="write",
        notes=CHANNEL_NOTES,
        summary=_channel,
    ),
    ToolSpec(
        "getChannel",
        "GET",
        "/channels/{id}",
        "Get an alert channel",
        "Get one alert channel: name, kind, masked URL or address, subscribed jobs, enabled.",
        ids={"id": CHANNEL_ID},
        response=ChannelResponse,
        summary=_channel,
    ),
    ToolSpec(
        "updateChannel",
        "PATCH",
        "/channels/{id}",
        "Change an alert channel",
        "Change a channel's name, url (webhook, slack), address (email), jobIds or enabled; "
        "fields left out stay as they are (leave url out to keep the stored one). The kind "
        "never changes.",
        ids={"id": CHANNEL_ID},
        body=ChannelUpdate,
        response=ChannelResponse,
        kind="idempotent",
        notes=CHANNEL_NOTES,
        summary=_channel,
    ),
    ToolSpec(
        "deleteChannel",
        "DELETE",
        "/channels/{id}",
        "Remove an alert channel",
        "Remove an alert channel: it hears of no further incident. Notices it was sent stay "
        "listed on their incidents.",
        ids={"id": CHANNEL_ID},
        kind="destructive",
        done="Channel {id} removed.",
    ),
    ToolSpec(
        "testChannel",
        "POST",
        "/channels/{id}/test",
        "Send a test notice",
        "Send a test notice to a channel now and report how it went: state sent or failed, "
        "with the attempt's statusCode and error (the URL is never shown).",
        ids={"id": CHANNEL_ID},
        response=DeliveryResponse,
        kind="write",
        summary=lambda d: f"Test notice to channel {d['channelId']}: {d['state']}.",
    ),
    ToolSpec(
        "listIncidents",
        "GET",
        "/incidents",
        "List incidents",
        "List incidents, open ones first, then closed, each newest first. An incident of kind "
        "failures opens when an endpoint's consecutive failures reach its job's "
        "failureThreshold and closes on its next success; one of kind late opens when a "
        "scheduled slot has not started lateAfterMs after its time. Filter by jobId, "
        "endpointId, state, since and until (opening time).",
        query=IncidentsQuery,
        response=IncidentList,
        notes=INCIDENT_NOTES,
        summary=_count("incidents", "incident(s)"),
    ),
    ToolSpec(
        "getIncident",
        "GET",
        "/incidents/{id}",
        "Get an incident",
        "Get one incident with the failed runs that opened it (openingRuns), its last error, "
        "and every notification sent or tried per channel, with each attempt's outcome.",
        ids={"id": INCIDENT_ID},
        response=IncidentDetailResponse,
        summary=lambda i: (
            f"Incident {i['id']} ({i['kind']}) on '{i['endpointName']}': {i['state']}."
        ),
    ),
    ToolSpec(
        "getAlertDefaults",
        "GET",
        "/alert-policy",
        "Get the alert defaults",
        "Get the tenant's alert defaults, which every job's policy starts from: "
        "failureThreshold, notifyOnRecovery, realertMinutes (null: no reminders), "
        "lateAfterMs and notifyOnPause (notices when the planner or a reflex pauses or resumes "
        "an endpoint).",
        response=AlertPolicyResponse,
        summary=_policy,
    ),
    ToolSpec(
        "setAlertDefaults",
        "PUT",
        "/alert-policy",
        "Set the alert defaults",
        "Replace the tenant's alert defaults; fields left out take the built-in defaults "
        "(failureThreshold 3, notifyOnRecovery true, realertMinutes null, lateAfterMs 60000, "
        "notifyOnPause false).",
        body=AlertPolicyInput,
        response=AlertPolicyResponse,
        kind="idempotent",
        summary=_policy,
    ),
    ToolSpec(
        "getJobAlertPolicy",
        "GET",
        "/jobs/{id}/alert-policy",
        "Get a job's alert policy",
        "Get a job's effective alert policy and ownFields, the fields the job sets itself (the "
        "others follow the tenant's defaults).",
        ids={"id": JOB_ID},
        response=AlertPolicyResponse,
        summary=_policy,
    ),
    ToolSpec(
        "setJobAlertPolicy",
        "PUT",
        "/jobs/{id}/alert-policy",
        "Set a job's alert policy",
        "Replace the fields a job sets itself; fields left out follow the tenant's defaults. "
        "e.g. failureThreshold 1 to hear of the first failure, realertMinutes 60 for hourly "
        "reminders while an incident stays open.",
        ids={"id": JOB_ID},
        body=AlertPolicyInput,
        response=AlertPolicyResponse,
        kind="idempotent",
        summary=_policy,
    ),
    ToolSpec(
        "listOutbox",
        "GET",
        "/outbox",
        "Read the local email outbox",
        "Read the alert email the local stack would have sent (it keeps email in an outbox "
        "instead of sending it), newest first: to, from, subject, body.",
        query=OutboxQuery,
        response=OutboxList,
        summary=_count("messages", "message(s)"),
    ),
    # --- runs, health, sessions -----------------------------------------------------------
    ToolSpec(
        "listEndpointRuns",
        "GET",
        "/endpoints/{id}/runs",
        "List runs",
        "List an endpoint's runs, newest first, with status (running, success, failed), "
        "source (what scheduled it), cause (why it ran: kind baseline, backoff, "
        "interval-hint, oneshot-hint, reflex, clamp, pause-ended, resumed or manual-test, with "
        "by {type, id} and reason when a hint, pause or reflex caused it), startedAt, "
        "durationMs, statusCode and errorMessage. "
        "Filter by status; page with limit and offset; total counts every matching run.",
        ids={"id": ENDPOINT_ID},
        query=RunsQuery,
        response=RunList,
        notes={
            "status": "Only runs with this status; omit for all.",
            "limit": "Page size, 1-100. Default 20. Newest first.",
        },
        summary=_count("runs", "run(s)"),
    ),
    ToolSpec(
        "getRunDetails",
        "GET",
        "/runs/{id}",
        "Get a run",
        "Get one run in full: timing, status, HTTP status code, error, the response body "
        "Cronpilot kept, and the endpoint it belongs to.",
        ids={"id": "Run id, e.g. from listEndpointRuns or testEndpoint's runId."},
        response=RunDetail,
        summary=lambda run: f"Run {run['id']}: {run['status']}.",
    ),
    ToolSpec(
        "getEndpointHealth",
        "GET",
        "/endpoints/{id}/health",
        "Endpoint health",
        "Health of an endpoint over the last sinceHours HOURS (default 24): success and "
        "failure counts, average duration (ms), the last run and the current failure streak.",
        ids={"id": ENDPOINT_ID},
        query=HealthQuery,
        response=HealthSummary,
        summary=lambda h: (
            f"{h['successCount']} succeeded, {h['failureCount']} failed; "
            f"failure streak {h['failureStreak']}."
        ),
    ),
    ToolSpec(
        "testEndpoint",
        "POST",
        "/endpoints/{id}/test",
        "Test an endpoint now",
        "Call an endpoint right now and record a run with source 'test'. Its schedule "
        "(nextRunAt, lastRunAt, failureCount) is untouched; works on paused endpoints, not on "
        "archived ones. Returns the run id, status, HTTP status code, duration and body.",
        ids={"id": ENDPOINT_ID},
        response=TestRunResult,
        kind="write",
        summary=lambda r: (
            f"Test run {r['runId']}: {r['status']}"
            + (f", HTTP {r['statusCode']}" if r.get("statusCode") is not None else "")
            + f", {r['durationMs']} ms."
        ),
    ),
    ToolSpec(
        "listAnalysisSessions",
        "GET",
        "/endpoints/{id}/sessions",
        "List analysis sessions",
        "List the AI planner's analysis sessions for an endpoint, newest first: why it looked "
        "(trigger: first_analysis, state_change, sibling_change, new_failures, scheduled or "
        "marked), its reasoning, "
        "the tools it called (e.g. propose_interval, pause_until), tokens used and when it "
        "will look again. Use it to explain why a schedule changed.",
        ids={"id": ENDPOINT_ID},
        query=SessionsQuery,
        response=SessionList,
        notes={"limit": "Page size, 1-100. Default 10. Newest first."},
        summary=_count("sessions", "session(s)"),
    ),
    ToolSpec(
        "getAnalysisSession",
        "GET",
        "/sessions/{id}",
        "Get an analysis session",
        "Get one analysis session in full: reasoning, every tool call with its arguments and "
        "result, warnings and token usage.",
        ids={"id": "Session id, e.g. from listAnalysisSessions."},
        response=SessionDetail,
        summary=lambda s: f"Session {s['id']} on '{s['endpointName']}': {s['status']}.",
    ),
    # --- dashboard ------------------------------------------------------------------------
    ToolSpec(
        "getDashboardStats",
        "GET",
        "/dashboard/stats",
        "Dashboard statistics",
        "Tenant-wide statistics over a window: job and endpoint counts, success rate and "
        "trend, the last 24 h, per-job health, where runs came from, and time series. "
        "startDate and endDate are required (366 days at most are read); narrow with jobId and "
        "source.",
        query=DashboardStatsQuery,
        response=DashboardStats,
        notes={"jobId": "Only this job (its id, from listJobs)."},
        summary=lambda d: (
            f"Success rate {d['successRate']['overall']}% ({d['successRate']['trend']}); "
            f"{d['recentActivity']['runs24h']} runs in the last 24 h."
        ),
    ),
    ToolSpec(
        "getDashboardActivity",
        "GET",
        "/dashboard/activity",
        "Activity timeline",
        "Runs and analysis sessions in a window, newest first, across every endpoint: use it "
        "to answer 'what happened' questions. startDate and endDate are required.",
        query=DashboardActivityQuery,
        response=DashboardActivity,
        notes={
            "jobId": "Only this job (its id, from listJobs).",
            "limit": "Page size, 1-100. Default 50.",
        },
        summary=_count("events", "event(s)"),
    ),
    # --- signing keys -----------------------------------------------------------------------
    ToolSpec(
        "getSigningKey",
        "GET",
        "/signing-keys",
        "Signing key info",
        "Whether the tenant has a signing key, with its prefix and dates (never the key). "
        "Cronpilot signs every request it sends with it: X-Cronpilot-Timestamp (Unix seconds) "
        "and X-Cronpilot-Signature: sha256=<hex HMAC-SHA256 of '{timestamp}.{body}'>.",
        response=SigningKeyInfo,
        summary=lambda k: "A signing key exists." if k["hasKey"] else "No signing key yet.",
    ),
    ToolSpec(
        "createSigningKey",
        "POST",
        "/signing-keys",
        "Create the signing key",
        "Create the tenant's signing key. The raw key is returned only here and by "
        "rotateSigningKey: tell the user to store it. CONFLICT if a key exists (rotate it).",
        response=SigningKeyCreated,
        kind="write",
        summary=lambda k: f"Signing key {k['keyPrefix']} created; store rawKey now.",
    ),
    ToolSpec(
        "rotateSigningKey",
        "POST",
        "/signing-keys/rotate",
        "Rotate the signing key",
        "Replace the signing key. For graceMinutes (default 1440 = 24 h; 0 = none) the old "
        "key keeps signing alongside the new one, so receivers that know either key keep "
        "verifying. Returns the new raw key. NOT_FOUND if there is none.",
        body=SigningKeyRotate,
        response=SigningKeyCreated,
        kind="destructive",
        summary=lambda k: f"Signing key rotated to {k['keyPrefix']}; store rawKey now.",
    ),
    # --- API keys -----------------------------------------------------------------------------
    ToolSpec(
        "createApiKey",
        "POST",
        "/api-keys",
        "Create an API key",
        "Create another API key for this tenant (e.g. one per script or CI system). The raw "
        "key is in the answer once: tell the user to store it.",
        body=ApiKeyCreate,
        response=ApiKeyCreated,
        kind="write",
        notes={"name": "Label to recognise the key by, e.g. 'ci' (1-100 characters)."},
        summary=lambda k: f"API key {k['id']} created; store the key now.",
    ),
    ToolSpec(
        "listApiKeys",
        "GET",
        "/api-keys",
        "List API keys",
        "List the tenant's API keys by id, name and first characters (never the keys), with "
        "expiry and revocation times.",
        response=ApiKeyList,
        summary=_count("apiKeys", "API key(s)"),
    ),
    ToolSpec(
        "revokeApiKey",
        "DELETE",
        "/api-keys/{id}",
        "Revoke an API key",
        "Revoke an API key at once. Revoking the key this server uses makes every later call "
        "fail with UNAUTHORIZED: only do it when the user asks.",
        ids={"id": "API key id, from listApiKeys."},
        kind="destructive",
        done="API key {id} revoked.",
    ),
)

# The reference server's 25 tool names, kept exactly.
REFERENCE_TOOLS = (
    "createJob",
    "getJob",
    "listJobs",
    "updateJob",
    "archiveJob",
    "pauseJob",
    "resumeJob",
    "addEndpoint",
    "getEndpoint",
    "listEndpoints",
    "updateEndpoint",
    "archiveEndpoint",
    "pauseResumeEndpoint",
    "applyIntervalHint",
    "scheduleOneShot",
    "clearHints",
    "resetFailures",
    "listEndpointRuns",
    "getRunDetails",
    "getEndpointHealth",
    "testEndpoint",
    "getDashboardStats",
    "getSigningKey",
    "createSigningKey",
    "rotateSigningKey",
)
