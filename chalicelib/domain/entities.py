"""The aggregates Cronpilot keeps. Frozen dataclasses: changes make new values via `replace`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

JobStatus = Literal["active", "paused", "archived"]
RunStatus = Literal["running", "success", "failed"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
ScheduleSource = Literal[
    "baseline-interval",
    "baseline-cron",
    "ai-interval",
    "ai-oneshot",
    "clamped-min",
    "clamped-max",
    "paused",
]
RunSource = Literal[ScheduleSource, "test"]
ActorType = Literal["session", "reflex", "apiKey"]
# Why a run happened, in the words a person asks it: which rule chose its time.
CauseKind = Literal[
    "baseline",
    "backoff",
    "interval-hint",
    "oneshot-hint",
    "reflex",
    "clamp",
    "pause-ended",
    "resumed",
    "manual-test",
]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who set a hint, a pause or a reflex: a planner session, a reflex, or a person's API key."""

    type: ActorType
    id: str


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a slot was planned when it was: the rule, the governor's source, who set the rule
    and why. Copied onto the run that executes the slot."""

    kind: CauseKind
    source: RunSource
    by: Actor | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Per-tenant limits; exceeding one is a clear 400 or 429, never a silent skip."""

    max_endpoints: int
    min_interval_ms: int
    ai_monthly_tokens: int
    mutations_per_minute: int
    reads_per_minute: int


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    limits: TenantLimits
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key; only its SHA-256 hash is stored, the raw key is shown once."""

    id: str
    tenant_id: str
    key_hash: str
    start: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """True while neither revoked nor expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Job:
    tenant_id: str
    id: str
    name: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    archived_at: datetime | None = None

    @property
    def schedulable(self) -> bool:
        """Endpoints of a paused or archived job are never dispatched."""
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The schedulable unit: one HTTP request, its schedule, hints, guardrails and state."""

    tenant_id: str
    id: str
    job_id: str
    name: str
    url: str
    next_run_at: datetime
    created_at: datetime
    updated_at: datetime
    method: HttpMethod = "GET"
    description: str | None = None
    baseline_cron: str | None = None
    baseline_interval_ms: int | None = None
    timezone: str = "UTC"
    min_interval_ms: int | None = None
    max_interval_ms: int | None = None
    last_run_at: datetime | None = None
    failure_count: int = 0
    paused_until: datetime | None = None
    archived_at: datetime | None = None
    headers_json: dict[str, str] | None = None
    # Header names the user marked secret (beyond those secret by name).
    secret_headers: tuple[str, ...] | None = None
    body_json: Any = None
    timeout_ms: int | None = None
    max_execution_time_ms: int | None = None
    max_response_size_kb: int | None = None
    ai_hint_interval_ms: int | None = None
    ai_hint_next_run_at: datetime | None = None
    ai_hint_expires_at: datetime | None = None
    ai_hint_reason: str | None = None
    ai_hint_set_by: Actor | None = None
    # Why `next_run_at` is what it is (domain/causes.py); None on items planned before it was kept.
    next_run_cause: Cause | None = None
    # Internal, never exposed: claim lock, optimistic-concurrency version, due-index shard.
    locked_until: datetime | None = None
    lock_token: str | None = None
    enqueued_slot: datetime | None = None
    enqueued_at: datetime | None = None
    version: int = 0
    # The schedule state's own version (store/endpoint_items.py keeps it apart from the
    # configuration): 0 before the first write, None while stored in the older one-item layout.
    state_version: int | None = 0
    due_shard: str | None = None
    # Planner bookkeeping (domain/analysis.py): the last response's signal hash, when the
    # endpoint's state last changed, and when it is next due for analysis.
    signal_fingerprint: str | None = None
    state_changed_at: datetime | None = None
    # The start of the run whose answer made that change: a session that read this answer
    # has read the change, even when the settle's stamp came after the session.
    state_changed_by: datetime | None = None
    analysis_due_at: datetime | None = None

    def paused_at(self, now: datetime) -> bool:
        """Paused while `pausedUntil` is strictly in the future."""
        return self.paused_until is not None and self.paused_until > now

    def hints_fresh(self, now: datetime) -> bool:
        """Hints count while their shared expiry is strictly in the future."""
        return self.ai_hint_expires_at is not None and self.ai_hint_expires_at > now


@dataclass(frozen=True, slots=True)
class Run:
    """One execution attempt of an endpoint (scheduled or test)."""

    endpoint_id: str
    id: str
    tenant_id: str
    job_id: str
    status: RunStatus
    started_at: datetime
    attempt: int = 1
    source: RunSource | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    status_code: int | None = None
    error_message: str | None = None
    error_kind: str | None = None
    response_body: Any = None
    response_truncated: bool = False
    slot_at: datetime | None = None
    deadline_at: datetime | None = None
    expires_at: datetime | None = None
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Reflex:
    """A rule the engine applies after every run it watches, with no model call: when its
    condition holds on the latest answers, its action is applied to `endpoint_id`.

    `spec` is the validated rule (domain/reflex_rules.py: when, do, reason, cooldown, expiry);
    `seen` holds the value digests its `changed` clauses compare against."""

    tenant_id: str
    job_id: str
    endpoint_id: str
    id: str
    spec: Any
    created_by: Actor
    created_at: datetime
    updated_at: datetime
    fire_count: int = 0
    last_fired_at: datetime | None = None
    last_fired_run_id: str | None = None
    seen: dict[str, str] = field(default_factory=dict)

    def live(self, now: datetime) -> bool:
        """Until its expiry (None: until removed)."""
        expires: datetime | None = self.spec.expires_at
        return expires is None or expires > now


@dataclass(frozen=True, slots=True)
class ToolCall:
    tool: str
    args: Any
    result: Any


@dataclass(frozen=True, slots=True)
class SessionWarning:
    code: str
    message: str
    meta: Any = None


@dataclass(frozen=True, slots=True)
class AnalysisSession:
    """One AI planner session for one endpoint."""

    endpoint_id: str
    id: str
    tenant_id: str
    job_id: str
    analyzed_at: datetime
    reasoning: str
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    token_usage: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_ms: int | None = None
    next_analysis_at: datetime | None = None
    endpoint_failure_count: int | None = None
    confidence: str | None = None
    status: str = "success"
    error_message: str | None = None
    warnings: tuple[SessionWarning, ...] = field(default_factory=tuple)
    expires_at: datetime | None = None
    # Each sibling's state-change time as the session's context held it (siblings that never
    # changed are left out); None for sessions recorded before it was kept.
    siblings_seen: dict[str, datetime] | None = None
    # Why it ran (domain/analysis.py's verdict reasons); None for sessions recorded before.
    trigger: str | None = None
    # The start of the answer it read of each endpoint (its own and its siblings'); None for
    # sessions recorded before it was kept.
    answers_read: dict[str, datetime] | None = None
