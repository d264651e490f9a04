"""The planner's eight tools, scoped to one endpoint of one job.

Arguments are validated with pydantic before anything runs; a bad argument is an error result
the model can read and correct, never a crash. Each action is one write through the
scheduling chokepoint, so it either happens whole (and moves `nextRunAt`, queueing a near
slot) or not at all. The governor clamps hints to the endpoint's min/max.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chalicelib.deps import Deps
from chalicelib.domain import actions
from chalicelib.domain.claim import claimed_run
from chalicelib.domain.entities import Actor, Endpoint, Job, Reflex, Run, Tenant
from chalicelib.domain.errors import DomainError
from chalicelib.domain.reflex_rules import ReflexSpec, from_json, to_json
from chalicelib.domain.schemas import (
    MAX_INTERVAL_MS,
    MAX_TTL_MINUTES,
    ONESHOT_PAST_TOLERANCE_MS,
    REASON_MAX,
)
from chalicelib.domain.timeutil import iso, parse_instant
from chalicelib.domain.timing import Change
from chalicelib.engine.pause_alerts import announce_pause
from chalicelib.planner import text
from chalicelib.services import reflexes
from chalicelib.services.reflexes import MAX_PER_ENDPOINT

SUBMIT = "submit_analysis"
ACTION_TOOLS = (
    "propose_interval",
    "propose_next_time",
    "pause_until",
    "clear_hints",
    "manage_reflexes",
)


def _instant(value: str) -> str:
    try:
        parse_instant(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"must be an ISO-8601 UTC time such as 2025-01-01T12:00:00Z ({exc})"
        ) from None
    return value


Instant = Annotated[str, AfterValidator(_instant)]
Reason = Annotated[str, Field(max_length=REASON_MAX)]


class _Args(BaseModel):
    # Unknown keys are ignored: models add stray fields, and rejecting them wastes a step.
    model_config = ConfigDict(extra="ignore")


class NoArgs(_Args):
    pass


class HistoryArgs(_Args):
    limit: int = Field(5, ge=1, le=10, description="How many finished runs to return (1-10).")
    offset: int = Field(0, ge=0, description="How many newer runs to skip, for paging back.")
    include_bodies: bool = Field(
        False,
        alias="includeBodies",
        description="Include response bodies (cut to 500 chars); default previews only.",
    )


class SiblingArgs(_Args):
    include_responses: bool = Field(
        False,
        alias="includeResponses",
        description="Include each sibling's latest response body (cut to 400 chars).",
    )


class IntervalArgs(_Args):
    interval_ms: float = Field(
        alias="intervalMs",
        gt=0,
        le=MAX_INTERVAL_MS,
        allow_inf_nan=False,
        description="New interval between runs, in milliseconds.",
    )
    ttl_minutes: float = Field(
        60,
        alias="ttlMinutes",
        gt=0,
        le=MAX_TTL_MINUTES,
        description="How long the hint lasts, in minutes.",
    )
    reason: Reason | None = Field(None, description="Why, in one sentence.")


class NextTimeArgs(_Args):
    next_run_at_iso: Instant = Field(
        alias="nextRunAtIso",
        description="When to run once, ISO-8601 UTC ending in Z; the current time means at once.",
    )
    ttl_minutes: float = Field(
        30,
        alias="ttlMinutes",
        gt=0,
        le=MAX_TTL_MINUTES,
        description="How long the hint lasts, in minutes.",
    )
    reason: Reason | None = Field(None, description="Why, in one sentence.")


class PauseArgs(_Args):
    until_iso: Instant | None = Field(
        alias="untilIso", description="Pause until this ISO-8601 UTC time; null resumes at once."
    )
    reason: Reason | None = Field(None, description="Why, in one sentence.")


class ClearArgs(_Args):
    reason: Reason = Field(min_length=1, description="Why the hints are no longer needed.")


class ReflexUpsert(ReflexSpec):
    replace_id: str | None = Field(
        None, description="Id of a reflex of yours to replace (renew) instead of adding one."
    )


class ReflexesArgs(_Args):
    set: list[ReflexUpsert] = Field(
        default_factory=list,
        max_length=MAX_PER_ENDPOINT,
        description="Reflexes to add (or replace, with replaceId) on this endpoint.",
    )
    remove: list[str] = Field(
        default_factory=list,
        max_length=MAX_PER_ENDPOINT,
        description="Ids of reflexes of yours to remove from this endpoint.",
    )


class SubmitArgs(_Args):
    reasoning: str = Field(min_length=1, max_length=4000, description="Brief, factual reasoning.")
    actions_taken: list[str] | None = Field(None, description="Names of the actions taken.")
    confidence: Literal["high", "medium", "low"] | None = None
    next_analysis_in_ms: int | None = Field(
        None,
        ge=0,
        description="When to analyse again, in ms; clamped to 300000 (5 min)-86400000 (24 h).",
    )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    args: type[_Args]


SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "get_latest_response",
        "The newest run of this endpoint: body (cut to 500 chars), time and status. Call first.",
        NoArgs,
    ),
    ToolSpec(
        "get_response_history",
        "Finished runs newest first, for trends; previews only unless includeBodies is true.",
        HistoryArgs,
    ),
    ToolSpec(
        "get_sibling_latest_responses",
        "The latest run, schedule and hints of every other endpoint in this job.",
        SiblingArgs,
    ),
    ToolSpec(
        "propose_interval",
        "Run every intervalMs until the hint expires (overrides the baseline, within min/max).",
        IntervalArgs,
    ),
    ToolSpec(
        "propose_next_time",
        "Run once at nextRunAtIso (use the current time to run at once), within min/max.",
        NextTimeArgs,
    ),
    ToolSpec(
        "pause_until", "Pause this endpoint until untilIso, or resume it with null.", PauseArgs
    ),
    ToolSpec("clear_hints", "Drop every hint and return to the baseline schedule.", ClearArgs),
    ToolSpec(
        "manage_reflexes",
        "Add, replace or remove reflexes: rules the engine applies to this endpoint right after "
        "every run they watch, without you. when: a condition on the latest answer of this "
        "endpoint ('self') or of a sibling (its endpointId); do: run_now, set_interval, pause, "
        "resume or clear_hints; at most once per cooldownMs; yours expire in 24 h (at most 7 d).",
        ReflexesArgs,
    ),
    ToolSpec(
        SUBMIT,
        "Finish the analysis (required, last): reasoning, actions taken, confidence, and when to "
        "look again.",
        SubmitArgs,
    ),
)
BY_NAME = {s.name: s for s in SPECS}


def tool_definitions() -> list[dict[str, Any]]:
    """The OpenAI `tools` list: one function per tool, parameters from the pydantic models."""
    definitions = []
    for spec in SPECS:
        schema = spec.args.model_json_schema(by_alias=True)
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        definitions.append(
            {
                "type": "function",
                "function": {
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": schema,
                },
            }
        )
    return definitions


class ToolError(Exception):
    """A call the model can correct: reported back to it as `{"error": ...}`."""


@dataclass
class JobView:
    """The job's endpoints and their latest finished runs as a session reads them: read
    before each session and updated as the session writes its own endpoint."""

    tenant: Tenant
    job: Job
    endpoints: dict[str, Endpoint]
    latest_runs: dict[str, Run | None] = field(default_factory=dict)
    reflexes: list[Reflex] = field(default_factory=list)


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """The JSON object a model sent as arguments; ToolError when it is not one."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolError(f"arguments are not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise ToolError("arguments must be a JSON object")
    return value


def validate(name: str, arguments: dict[str, Any]) -> _Args:
    """Validate arguments for tool `name`; ToolError naming each bad field."""
    spec = BY_NAME.get(name)
    if spec is None:
        raise ToolError(f"unknown tool {name!r}; available: {', '.join(BY_NAME)}")
    try:
        return spec.args.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        raise ToolError(f"invalid arguments for {name}: {problems}") from None


class Toolbox:
    """Executes the tools for one endpoint; `now()` is read per call (the clock moves)."""

    def __init__(
        self, deps: Deps, view: JobView, endpoint_id: str, actor: Actor | None = None
    ) -> None:
        self._deps = deps
        self._view = view
        self._id = endpoint_id
        # The session acting: hints and reflexes it writes record it as their author.
        self._actor = actor
        self._read: dict[str, datetime] = {}

    @property
    def answers_read(self) -> dict[str, datetime]:
        """The start of the newest answer read of each endpoint, its own and its siblings'."""
        return dict(self._read)

    def _note_read(self, run: Run) -> None:
        known = self._read.get(run.endpoint_id)
        if known is None or run.started_at > known:
            self._read[run.endpoint_id] = run.started_at

    @property
    def endpoint(self) -> Endpoint:
        return self._view.endpoints[self._id]

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a validated call; ToolError for anything the model should hear about."""
        args = validate(name, arguments)
        handler: Callable[[Any], Any] = getattr(self, f"_{name}")
        return handler(args)

    # Query tools -----------------------------------------------------------------------

    def _get_latest_response(self, args: NoArgs) -> dict[str, Any]:
        now = self._deps.clock.now()
        # The newest finished run: one still in flight has no body to read yet.
        newest, run = self._deps.runs.newest_and_finished(self._view.tenant.id, self._id, now)
        # In flight: its claim stands for it, or (the release before) a run written `running`.
        endpoint = self._view.endpoints.get(self._id)
        running = None if endpoint is None else claimed_run(endpoint, timedelta(0))
        if running is None and newest is not None and newest.status == "running":
            running = newest
        if run is None:
            message = "No finished executions yet for this endpoint"
            if newest is None and running is None:
                message = "No executions found for this endpoint"
            return {"found": False, "message": message}
        self._note_read(run)
        result: dict[str, Any] = {
            "found": True,
            "responseBody": text.truncate(run.response_body, text.LATEST_CHARS),
            "timestamp": iso(run.started_at),
            "status": run.status,
            "statusCode": run.status_code,
        }
        if text.was_truncated(run.response_body, text.LATEST_CHARS):
            result["tokenSavingNote"] = "Response body truncated at 500 chars to reduce token usage"
        if running is not None and running.id != run.id:
            result["inFlightSince"] = iso(running.started_at)
        return result

    def _get_response_history(self, args: HistoryArgs) -> dict[str, Any]:
        now = self._deps.clock.now()
        finished = self._deps.runs.finished(
            self._view.tenant.id, self._id, now, args.offset + args.limit + 1
        )
        window = finished[args.offset : args.offset + args.limit + 1]
        has_more = len(window) > args.limit
        window = window[: args.limit]
        pagination: dict[str, Any] = {"offset": args.offset, "limit": args.limit}
        if not window:
            message = (
                f"No more execution history found (offset {args.offset})"
                if args.offset > 0
                else "No execution history found for this endpoint"
            )
            return {"count": 0, "message": message, "hasMore": False, "pagination": pagination}
        responses = []
        newer_distinct: str | None = None
        any_cut = False
        for run in window:
            body_text = text.compact(run.response_body)
            entry: dict[str, Any] = {
                "timestamp": iso(run.started_at),
                "status": run.status,
                "durationMs": run.duration_ms,
            }
            if args.include_bodies:
                entry["responseBody"] = text.truncate(run.response_body, text.LATEST_CHARS)
                any_cut = any_cut or text.was_truncated(run.response_body, text.LATEST_CHARS)
            else:
                entry["responsePreview"] = text.preview(run.response_body)
            if newer_distinct is not None and body_text == newer_distinct:
                entry["duplicateOfNewer"] = True
            else:
                newer_distinct = body_text
            responses.append(entry)
        if has_more:
            pagination["nextOffset"] = args.offset + args.limit
        result: dict[str, Any] = {
            "count": len(responses),
            "pagination": pagination,
            "hasMore": has_more,
            "responses": responses,
        }
        if has_more:
            result["hint"] = "More history exists; prefer batches of 5 or fewer"
        elif args.offset > 0:
            result["hint"] = "Reached the end of the history"
        if not args.include_bodies:
            result["tokenSavingNote"] = "Bodies omitted; pass includeBodies=true to read them"
        elif any_cut:
            result["tokenSavingNote"] = (
                "Response bodies truncated at 500 chars to prevent token overflow"
            )
        return result

    def _get_sibling_latest_responses(self, args: SiblingArgs) -> dict[str, Any]:
        now = self._deps.clock.now()
        siblings = []
        for other in self._view.endpoints.values():
            if other.id == self._id:
                continue
            run = self._view.latest_runs.get(other.id)
            if run is not None:
                self._note_read(run)
            # A sibling that has not answered yet is listed too: a reflex can name it now.
            entry: dict[str, Any] = {
                "endpointId": other.id,
                "endpointName": other.name,
                "description": other.description,
                "responsePreview": text.preview(run.response_body) if run else None,
                "timestamp": iso(run.started_at) if run else None,
                "status": run.status if run else "no response yet",
                "schedule": {
                    "baseline": other.baseline_cron or f"{other.baseline_interval_ms}ms",
                    "nextRunAt": iso(other.next_run_at),
                    "lastRunAt": iso(other.last_run_at) if other.last_run_at else None,
                    "isPaused": other.paused_at(now),
                    "pausedUntil": iso(other.paused_until) if other.paused_until else None,
                    "failureCount": other.failure_count,
                },
                "aiHints": _hints(other, now),
            }
            if args.include_responses and run is not None:
                # The body itself replaces its preview: the same text twice costs tokens in
                # every session that reads the job.
                del entry["responsePreview"]
                entry["responseBody"] = text.truncate(run.response_body, text.SIBLING_CHARS)
                if text.was_truncated(run.response_body, text.SIBLING_CHARS):
                    entry["tokenSavingNote"] = "Response truncated at 400 chars"
            siblings.append(entry)
        if not siblings:
            return {"count": 0, "message": "No sibling endpoints in this job", "siblings": []}
        result: dict[str, Any] = {"count": len(siblings), "siblings": siblings}
        if not args.include_responses:
            result["note"] = "Bodies omitted; pass includeResponses=true to read them"
        return result

    # Action tools ----------------------------------------------------------------------

    def _write(self, apply: Callable[[Endpoint, datetime], Change]) -> Endpoint:
        def guarded(ep: Endpoint, now: datetime) -> Change:
            if ep.archived_at is not None:
                raise ToolError("this endpoint is archived; it no longer runs")
            return apply(ep, now)

        saved = self._deps.scheduling.change(self._view.tenant.id, self._id, guarded)
        self._view.endpoints[self._id] = saved
        return saved

    def _propose_interval(self, args: IntervalArgs) -> str:
        floor = self._view.tenant.limits.min_interval_ms
        interval = max(round(args.interval_ms), floor)

        def apply(ep: Endpoint, now: datetime) -> Change:
            ttl = timedelta(minutes=args.ttl_minutes)
            return actions.set_interval(ep, now, interval, ttl, args.reason, self._actor)

        saved = self._write(apply)
        message = f"Adjusted interval to {interval}ms (expires in {args.ttl_minutes:g} minutes)"
        if args.reason:
            message += f": {args.reason}"
        return message + _clamp_note(saved, interval, floor, round(args.interval_ms))

    def _propose_next_time(self, args: NextTimeArgs) -> str:
        target = parse_instant(args.next_run_at_iso)

        def apply(ep: Endpoint, now: datetime) -> Change:
            if target < now - timedelta(milliseconds=ONESHOT_PAST_TOLERANCE_MS):
                raise ToolError(
                    f"nextRunAtIso {args.next_run_at_iso} is more than 60 s in the past; "
                    f"the current time is {iso(now)}"
                )
            ttl = timedelta(minutes=args.ttl_minutes)
            return actions.run_once(ep, now, target, ttl, args.reason, self._actor)

        saved = self._write(apply)
        message = (
            f"Scheduled one-shot execution at {iso(max(target, saved.updated_at))} "
            f"(expires in {args.ttl_minutes:g} minutes)"
        )
        if args.reason:
            message += f": {args.reason}"
        return message + f". Next run at {iso(saved.next_run_at)}"

    def _pause_until(self, args: PauseArgs) -> str:
        until = parse_instant(args.until_iso) if args.until_iso is not None else None
        read: list[Endpoint] = []

        def apply(ep: Endpoint, now: datetime) -> Change:
            read.append(ep)
            return actions.pause(ep, now, until, self._actor)

        saved = self._write(apply)
        announce_pause(self._deps, read[-1], saved, self._actor, args.reason)
        message = f"Paused until {iso(until)}" if until is not None else "Resumed execution"
        return message + (f": {args.reason}" if args.reason else "")

    def _manage_reflexes(self, args: ReflexesArgs) -> dict[str, Any]:
        """Each item applied on its own: one bad rule is reported, the others still apply."""
        actor = self._actor or Actor("session", "unknown")
        endpoint = self.endpoint
        now = self._deps.clock.now()
        done: list[dict[str, Any]] = []
        for reflex_id in args.remove:
            try:
                reflexes.delete_reflex(self._deps, endpoint, self._own(reflex_id))
                done.append({"removed": reflex_id})
            except (ToolError, DomainError) as exc:
                done.append({"remove": reflex_id, "error": str(exc)})
        for item in args.set:
            spec = from_json(to_json(item))  # the rule without replaceId
            try:
                replacing = self._own(item.replace_id) if item.replace_id else None
                saved = reflexes.save_reflex(self._deps, endpoint, spec, actor, replacing)
            except (ToolError, DomainError) as exc:
                done.append({"set": item.reason, "error": str(exc)})
                continue
            expires = iso(saved.spec.expires_at) if saved.spec.expires_at else None
            done.append({"reflexId": saved.id, "expiresAt": expires, "reason": saved.spec.reason})
        self._view.reflexes = self._deps.reflexes.list_by_job(
            self._view.tenant.id, self._view.job.id
        )
        live = [r.id for r in self._view.reflexes if r.endpoint_id == self._id and r.live(now)]
        return {"results": done, "liveReflexes": live}

    def _own(self, reflex_id: str) -> str:
        """A reflex of this endpoint that a planner session made (people's are theirs)."""
        found = self._deps.reflexes.get(self._view.tenant.id, self._view.job.id, reflex_id)
        if found is None or found.endpoint_id != self._id:
            raise ToolError(f"reflex {reflex_id} is not one of this endpoint's reflexes")
        if found.created_by.type != "session":
            raise ToolError(f"reflex {reflex_id} was set by a person; leave it as it is")
        return reflex_id

    def _clear_hints(self, args: ClearArgs) -> str:
        self._write(actions.clear_hints)
        return f"Cleared all AI hints, reverted to baseline schedule: {args.reason}"

    # Terminal tool ---------------------------------------------------------------------

    def _submit_analysis(self, args: SubmitArgs) -> dict[str, Any]:
        return {
            "status": "analysis_complete",
            "reasoning": args.reasoning,
            "actions_taken": args.actions_taken or [],
            "confidence": args.confidence or "high",
            "next_analysis_in_ms": args.next_analysis_in_ms,
        }


def _hints(endpoint: Endpoint, now: datetime) -> dict[str, Any] | None:
    if not endpoint.hints_fresh(now) or endpoint.ai_hint_expires_at is None:
        return None
    return {
        "intervalMs": endpoint.ai_hint_interval_ms,
        "nextRunAt": iso(endpoint.ai_hint_next_run_at) if endpoint.ai_hint_next_run_at else None,
        "expiresAt": iso(endpoint.ai_hint_expires_at),
        "reason": endpoint.ai_hint_reason,
    }


def _clamp_note(saved: Endpoint, interval: int, floor: int, asked: int) -> str:
    notes = []
    if asked < floor:
        notes.append(f"raised to this account's minimum of {floor}ms")
    if saved.min_interval_ms and interval < saved.min_interval_ms:
        notes.append(f"runs no faster than the endpoint's minimum of {saved.min_interval_ms}ms")
    if saved.max_interval_ms and interval > saved.max_interval_ms:
        notes.append(f"runs no slower than the endpoint's maximum of {saved.max_interval_ms}ms")
    tail = f" ({'; '.join(notes)})" if notes else ""
    return f"{tail}. Next run at {iso(saved.next_run_at)}"
