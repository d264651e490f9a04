"""Response models: what the API returns, and the source of the OpenAPI response schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.alias_generators import to_camel

from chalicelib.domain.entities import (
    Actor,
    ActorType,
    AnalysisSession,
    ApiKey,
    Cause,
    CauseKind,
    Endpoint,
    Job,
    Reflex,
    Run,
    Tenant,
)
from chalicelib.domain.reflex_rules import to_json
from chalicelib.domain.secret_headers import MASK, SEALED_PREFIX, mask, masked_names
from chalicelib.domain.signing import SigningKey
from chalicelib.domain.timeutil import iso

Iso = Annotated[datetime, PlainSerializer(iso, return_type=str)]


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    # Wire names that stay present (as null) even when unset, because clients rely on them.
    always: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _keep_always(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict) and info.by_alias:
            for name in self.always:
                data.setdefault(name, None)
        return data

    def wire(self) -> dict[str, Any]:
        """JSON-ready dict: camelCase keys, unset optional fields absent."""
        result: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return result


class ErrorBody(Out):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(Out):
    error: ErrorBody


class JobResponse(Out):
    id: str
    user_id: str = Field(description="Owning tenant (named userId for reference clients)")
    tenant_id: str
    name: str
    description: str | None = None
    status: Literal["active", "paused", "archived"]
    created_at: Iso
    updated_at: Iso
    archived_at: Iso | None = None

    @classmethod
    def of(cls, job: Job) -> JobResponse:
        return cls(
            id=job.id,
            user_id=job.tenant_id,
            tenant_id=job.tenant_id,
            name=job.name,
            description=job.description,
            status=job.status,
            created_at=job.created_at,
            updated_at=job.updated_at,
            archived_at=job.archived_at,
        )


class JobListItem(JobResponse):
    endpoint_count: int


class JobList(Out):
    jobs: list[JobListItem]


class ActorOut(Out):
    type: ActorType = Field(
        description="session: a planner session; reflex: a reflex firing; apiKey: a person"
    )
    id: str

    @classmethod
    def maybe(cls, actor: Actor | None) -> ActorOut | None:
        return None if actor is None else cls(type=actor.type, id=actor.id)


class CauseOut(Out):
    """Why a run happened (or why the next run is planned when it is)."""

    kind: CauseKind
    source: str = Field(description="The governor's source for the slot (as `source`)")
    by: ActorOut | None = Field(None, description="Who set the hint, pause or reflex")
    reason: str | None = None

    @classmethod
    def maybe(cls, cause: Cause | None) -> CauseOut | None:
        if cause is None:
            return None
        return cls(
            kind=cause.kind, source=cause.source, by=ActorOut.maybe(cause.by), reason=cause.reason
        )


class EndpointResponse(Out):
    id: str
    job_id: str
    name: str
    description: str | None = None
    url: str
    method: str
    headers_json: dict[str, str] | None = Field(
        None, description=f"Secret values are shown as {MASK!r}"
    )
    secret_headers: list[str] | None = Field(
        None, description="Names in headersJson whose values are secret (masked)"
    )
    body_json: Any = None
    baseline_cron: str | None = None
    baseline_interval_ms: int | None = None
    timezone: str
    min_interval_ms: int | None = None
    max_interval_ms: int | None = None
    timeout_ms: int | None = None
    max_execution_time_ms: int | None = None
    max_response_size_kb: int | None = None
    next_run_at: Iso
    last_run_at: Iso | None = None
    failure_count: int
    paused_until: Iso | None = None
    archived_at: Iso | None = None
    ai_hint_interval_ms: int | None = None
    ai_hint_next_run_at: Iso | None = None
    ai_hint_expires_at: Iso | None = None
    ai_hint_reason: str | None = None
    ai_hint_set_by: ActorOut | None = Field(None, description="Who set the current hints")
    next_run_cause: CauseOut | None = Field(None, description="Why nextRunAt is what it is")
    created_at: Iso
    updated_at: Iso

    @classmethod
    def of(cls, e: Endpoint) -> EndpointResponse:
        # Every response field is an entity field of the same name; internals are not fields.
        # Secret header values never leave: masked, with the masked names listed.
        fields = {name: getattr(e, name) for name in cls.model_fields}
        marked = e.secret_headers or ()
        sealed = [n for n, v in (e.headers_json or {}).items() if v.startswith(SEALED_PREFIX)]
        fields["headers_json"] = mask(e.headers_json, marked, sealed)
        fields["secret_headers"] = masked_names(e.headers_json, marked, sealed) or None
        fields["ai_hint_set_by"] = ActorOut.maybe(e.ai_hint_set_by)
        fields["next_run_cause"] = CauseOut.maybe(e.next_run_cause)
        return cls(**fields)


class EndpointList(Out):
    endpoints: list[EndpointResponse]


class RunResponse(Out):
    id: str
    run_id: str = Field(description="Same as id (reference list field name)")
    endpoint_id: str
    status: Literal["running", "success", "failed"]
    source: str | None = None
    cause: CauseOut | None = Field(None, description="Why this run happened")
    attempt: int
    started_at: Iso
    slot_at: Iso | None = Field(None, description="The planned time this run was for")
    finished_at: Iso | None = None
    completed_at: Iso | None = Field(None, description="Alias of finishedAt")
    duration_ms: int | None = None
    status_code: int | None = None
    error_message: str | None = None
    error_kind: str | None = None
    response_body: Any = Field(None, description="Parsed JSON or text; null when none")
    response_truncated: bool = False

    @classmethod
    def of(cls, r: Run) -> RunResponse:
        return cls(
            id=r.id,
            run_id=r.id,
            endpoint_id=r.endpoint_id,
            status=r.status,
            source=r.source,
            cause=CauseOut.maybe(r.cause),
            attempt=r.attempt,
            started_at=r.started_at,
            slot_at=r.slot_at,
            finished_at=r.finished_at,
            completed_at=r.finished_at,
            duration_ms=r.duration_ms,
            status_code=r.status_code,
            error_message=r.error_message,
            error_kind=r.error_kind,
            response_body=r.response_body,
            response_truncated=r.response_truncated,
        )

    always = ("responseBody",)


class RunEndpointRef(Out):
    id: str
    name: str
    url: str
    method: str


class RunDetail(RunResponse):
    endpoint: RunEndpointRef


class RunList(Out):
    runs: list[RunResponse]
    total: int
    limit: int
    offset: int


class ToolCallOut(Out):
    tool: str
    args: Any = None
    result: Any = None


class WarningOut(Out):
    code: str
    message: str
    meta: Any = None


class SessionResponse(Out):
    id: str
    endpoint_id: str
    analyzed_at: Iso
    created_at: Iso = Field(description="Alias of analyzedAt")
    status: str
    trigger: str | None = Field(
        None,
        description="Why the planner looked: first_analysis, state_change, sibling_change, "
        "new_failures, scheduled or marked",
    )
    reasoning: str
    confidence: str | None = None
    tool_calls: list[ToolCallOut]
    tools_called: list[str] = Field(description="Names of the tools called, in order")
    token_usage: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_ms: int | None = None
    next_analysis_at: Iso | None = None
    endpoint_failure_count: int | None = None
    error_message: str | None = None
    warnings: list[WarningOut]

    @classmethod
    def of(cls, s: AnalysisSession) -> SessionResponse:
        return cls(**_session_fields(s))

    always = ("tokenUsage", "durationMs")


def _session_fields(s: AnalysisSession) -> dict[str, Any]:
    return {
        "id": s.id,
        "endpoint_id": s.endpoint_id,
        "analyzed_at": s.analyzed_at,
        "created_at": s.analyzed_at,
        "status": s.status,
        "trigger": s.trigger,
        "reasoning": s.reasoning,
        "confidence": s.confidence,
        "tool_calls": [
            ToolCallOut(tool=c.tool, args=c.args, result=c.result) for c in s.tool_calls
        ],
        "tools_called": [c.tool for c in s.tool_calls],
        "token_usage": s.token_usage,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "duration_ms": s.duration_ms,
        "next_analysis_at": s.next_analysis_at,
        "endpoint_failure_count": s.endpoint_failure_count,
        "error_message": s.error_message,
        "warnings": [WarningOut(code=w.code, message=w.message, meta=w.meta) for w in s.warnings],
    }


class SessionEffects(Out):
    """What a session set in motion."""

    hints: list[ToolCallOut] = Field(description="Hint, pause and clear calls that succeeded")
    reflexes: list[str] = Field(description="Ids of the reflexes it set or renewed")
    runs: list[str] = Field(
        description="Runs its hints, or its reflexes, caused (ids, oldest first)"
    )


HINT_TOOLS = ("propose_interval", "propose_next_time", "pause_until", "clear_hints")


def reflexes_set(s: AnalysisSession) -> list[str]:
    """Ids of the reflexes a session's manage_reflexes calls set or renewed."""
    found: list[str] = []
    for call in s.tool_calls:
        if call.tool == "manage_reflexes" and isinstance(call.result, dict):
            for item in call.result.get("results") or []:
                if isinstance(item, dict) and isinstance(item.get("reflexId"), str):
                    found.append(item["reflexId"])
    return found


class SessionDetail(SessionResponse):
    endpoint_name: str
    caused: SessionEffects | None = None

    @classmethod
    def with_name(
        cls, s: AnalysisSession, endpoint_name: str, runs: list[str] | None = None
    ) -> SessionDetail:
        hints = [
            ToolCallOut(tool=c.tool, args=c.args, result=c.result)
            for c in s.tool_calls
            if c.tool in HINT_TOOLS and not (isinstance(c.result, dict) and "error" in c.result)
        ]
        caused = SessionEffects(hints=hints, reflexes=reflexes_set(s), runs=runs or [])
        return cls(**_session_fields(s), endpoint_name=endpoint_name, caused=caused)


class SessionList(Out):
    sessions: list[SessionResponse]
    total: int
    has_more: bool


class LastRun(Out):
    status: str
    at: Iso


class HealthSummary(Out):
    success_count: int
    failure_count: int
    avg_duration_ms: float | None
    last_run: LastRun | None
    failure_streak: int

    always = ("avgDurationMs", "lastRun")


class ApiKeyResponse(Out):
    id: str
    name: str | None = None
    start: str = Field(description="First characters of the key, for recognising it")
    created_at: Iso
    expires_at: Iso | None = None
    revoked_at: Iso | None = None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyResponse:
        return cls(
            id=k.id,
            name=k.name,
            start=k.start,
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )


class ApiKeyCreated(ApiKeyResponse):
    key: str = Field(description="The raw key. Shown once; store it now.")


class ApiKeyList(Out):
    api_keys: list[ApiKeyResponse]


class SigningKeyInfo(Out):
    has_key: bool
    key_prefix: str | None = Field(None, description="`sk_` + the first 8 hex characters")
    created_at: Iso | None = None
    rotated_at: Iso | None = Field(None, description="Null until the key is rotated")
    previous_key_prefix: str | None = Field(
        None, description="The replaced key, while it still signs alongside (absent otherwise)"
    )
    previous_key_expires_at: Iso | None = Field(
        None, description="When the replaced key stops signing (absent when none signs)"
    )

    always = ("keyPrefix", "createdAt", "rotatedAt")

    @classmethod
    def of(cls, key: SigningKey | None, now: datetime) -> SigningKeyInfo:
        """What may be shown about a tenant's key at `now`: never the key itself."""
        if key is None:
            return cls(has_key=False)
        return cls(
            has_key=True,
            key_prefix=key.key_prefix,
            created_at=key.created_at,
            rotated_at=key.rotated_at,
            **_previous(key, now),
        )


class SigningKeyCreated(Out):
    raw_key: str = Field(
        description="The secret, 64 lowercase hex characters; only create and rotate return it"
    )
    key_prefix: str
    previous_key_prefix: str | None = Field(
        None, description="After a rotation with a grace window: the replaced key"
    )
    previous_key_expires_at: Iso | None = Field(
        None, description="When the replaced key stops signing alongside the new one"
    )

    @classmethod
    def of(cls, key: SigningKey, now: datetime) -> SigningKeyCreated:
        """The answer to create and rotate, the only ones that reveal the raw key."""
        return cls(raw_key=key.key_hex, key_prefix=key.key_prefix, **_previous(key, now))


def _previous(key: SigningKey, now: datetime) -> dict[str, Any]:
    if not key.previous_active(now):
        return {}
    return {
        "previous_key_prefix": key.previous_key_prefix,
        "previous_key_expires_at": key.previous_expires_at,
    }


class TenantLimitsOut(Out):
    max_endpoints: int
    min_interval_ms: int
    ai_monthly_tokens: int
    mutations_per_minute: int
    reads_per_minute: int


class TenantResponse(Out):
    id: str
    name: str
    created_at: Iso
    limits: TenantLimitsOut

    @classmethod
    def of(cls, t: Tenant) -> TenantResponse:
        lim = t.limits
        return cls(
            id=t.id,
            name=t.name,
            created_at=t.created_at,
            limits=TenantLimitsOut(
                max_endpoints=lim.max_endpoints,
                min_interval_ms=lim.min_interval_ms,
                ai_monthly_tokens=lim.ai_monthly_tokens,
                mutations_per_minute=lim.mutations_per_minute,
                reads_per_minute=lim.reads_per_minute,
            ),
        )


class TenantCreated(Out):
    tenant: TenantResponse
    api_key: ApiKeyCreated


class TenantList(Out):
    tenants: list[TenantResponse]


class AiUsage(Out):
    """The tenant's planner budget this calendar month (UTC)."""

    planner: Literal["configured", "not_configured"]
    period: str
    tokens_used: int
    tokens_limit: int
    over_budget: bool
    last_skipped_at: Iso | None = None

    always = ("lastSkippedAt",)


class ServiceHealth(Out):
    status: Literal["ok", "degraded"]
    version: str
    storage: Literal["reachable", "unreachable"]
    db: Literal["connected", "disconnected"]
    ai: Literal["configured", "not_configured"]
    timestamp: Iso
    # Only when the request carries a valid API key: that tenant's planner budget.
    ai_usage: AiUsage | None = None


class TestRunResult(Out):
    """What `POST /endpoints/{id}/test` answers (the run is also stored, source `test`)."""

    __test__ = False  # not a pytest test class, despite the name

    run_id: str
    status: Literal["success", "failed"]
    duration_ms: int
    status_code: int | None = None
    response_body: Any = None
    response_truncated: bool = False
    error_message: str | None = None
    error_kind: str | None = None

    always = ("responseBody",)


class ReflexResponse(Out):
    """A reflex as the API shows it: the rule as written, who made it, and how often it fired."""

    id: str
    endpoint_id: str
    job_id: str
    when: dict[str, Any] = Field(description="The condition, as written")
    do: dict[str, Any] = Field(description="The action, as written")
    reason: str
    cooldown_ms: int
    expires_at: Iso | None = None
    active: bool = Field(description="False once expired")
    created_by: ActorOut
    created_at: Iso
    updated_at: Iso
    fire_count: int
    last_fired_at: Iso | None = None
    last_fired_run_id: str | None = Field(None, description="The run whose answer fired it")

    @classmethod
    def of(cls, r: Reflex, now: datetime) -> ReflexResponse:
        rule = to_json(r.spec)
        return cls(
            id=r.id,
            endpoint_id=r.endpoint_id,
            job_id=r.job_id,
            when=rule["when"],
            do=rule["do"],
            reason=r.spec.reason,
            cooldown_ms=r.spec.cooldown_ms,
            expires_at=r.spec.expires_at,
            active=r.live(now),
            created_by=ActorOut(type=r.created_by.type, id=r.created_by.id),
            created_at=r.created_at,
            updated_at=r.updated_at,
            fire_count=r.fire_count,
            last_fired_at=r.last_fired_at,
            last_fired_run_id=r.last_fired_run_id,
        )


class ReflexList(Out):
    reflexes: list[ReflexResponse]
