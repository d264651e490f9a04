"""One frozen settings object, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


# The most due shards a stage may be configured with; shards from the configured count up to
# this one are checked for endpoints a previous, larger count left there (engine/shards.py).
MAX_DUE_SHARDS = 64


@dataclass(frozen=True)
class TenantDefaults:
    """Limits a new tenant gets unless the admin route sets others."""

    max_endpoints: int = 1000
    min_interval_ms: int = 1000
    ai_monthly_tokens: int = 2_000_000
    mutations_per_minute: int = 600
    reads_per_minute: int = 1200


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with production defaults; see docs/operations.md."""

    stage: str = "local"
    region: str = "us-east-1"
    table_prefix: str = "cronpilot-local"
    due_shards: int = 4
    admin_token: str | None = field(default=None, repr=False)
    # SSM parameter holding the admin token on deployed stages (read on first admin request).
    admin_token_param: str | None = None
    retention_days: int = 30
    max_body_bytes: int = 256 * 1024
    auth_cache_seconds: int = 5
    allow_private_targets: bool = False
    dispatch_period_s: int = 60
    offline: bool = False
    ai_configured: bool = False
    # The planner: any OpenAI-compatible Chat Completions server with tool calling.
    ai_api_key: str | None = field(default=None, repr=False)
    ai_base_url: str | None = None
    ai_model: str = "gpt-4o-mini"
    ai_max_output_tokens: int = 8192
    ai_temperature: float = 0.7
    ai_request_timeout_s: float = 60.0
    ai_retry_budget_s: float = 120.0
    analysis_period_s: int = 300
    # Secret header values are sealed with this KMS key (alias or ARN) when set, else with
    # the key in `secrets_key_file` (the local stack's; created on first use).
    secrets_kms_alias: str | None = None
    secrets_key_file: str = ".cronpilot/secrets.key"
    # Per tenant and minute, for `POST /endpoints/{id}/test` alone: each one makes an outbound
    # call inside the request, so it has its own, smaller limit (not the mutations one).
    test_runs_per_minute: int = 30
    # Alert email: "ses" (Amazon SES, from `alerts_from`, a verified identity) or "outbox"
    # (the local stack's: kept in the outbox table, read through GET /outbox).
    mailer: str = "ses"
    alerts_from: str = "alerts@cronpilot.invalid"
    # Where notices link back to (the API's base URL, ending in /api); None: no link.
    public_url: str | None = None
    tenant_defaults: TenantDefaults = field(default_factory=TenantDefaults)

    @property
    def runs_queue_name(self) -> str:
        """The SQS queue of scheduled slots (infra/resources.json: `${AWS::StackName}-runs`)."""
        return f"{self.table_prefix}-runs"

    @property
    def analysis_queue_name(self) -> str:
        """The SQS queue of jobs to analyse (infra/resources.json: `${AWS::StackName}-analysis`)."""
        return f"{self.table_prefix}-analysis"

    @property
    def notifications_queue_name(self) -> str:
        """The SQS queue of incident notices (infra/resources.json: `-notifications`)."""
        return f"{self.table_prefix}-notifications"

    @property
    def dispatch_lookahead_s(self) -> int:
        """How far ahead the dispatcher and the scheduler put slots in flight: one dispatcher
        period plus a margin, so no slot falls between two ticks (SQS delays cap it at 900)."""
        return min(self.dispatch_period_s + 15, 900)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment)."""
        e = dict(os.environ if env is None else env)
        defaults = TenantDefaults(
            max_endpoints=_int(e, "CRONPILOT_DEFAULT_MAX_ENDPOINTS", 1000),
            min_interval_ms=_int(e, "CRONPILOT_DEFAULT_MIN_INTERVAL_MS", 1000),
            ai_monthly_tokens=_int(e, "CRONPILOT_AI_MONTHLY_TOKENS", 2_000_000),
            mutations_per_minute=_int(e, "CRONPILOT_RATE_LIMIT_MUTATIONS_PER_MIN", 600),
            reads_per_minute=_int(e, "CRONPILOT_RATE_LIMIT_READS_PER_MIN", 1200),
        )
        if defaults.min_interval_ms < 1000:
            raise ValueError("CRONPILOT_DEFAULT_MIN_INTERVAL_MS must be at least 1000")
        if not 1 <= _int(e, "CRONPILOT_DISPATCH_PERIOD_S", 60) <= 600:
            raise ValueError("CRONPILOT_DISPATCH_PERIOD_S must be between 1 and 600")
        shards = _int(e, "CRONPILOT_DUE_SHARDS", 4)
        if not 1 <= shards <= MAX_DUE_SHARDS:
            raise ValueError(f"CRONPILOT_DUE_SHARDS must be between 1 and {MAX_DUE_SHARDS}")
        tests_per_minute = _int(e, "CRONPILOT_RATE_LIMIT_TESTS_PER_MIN", 30)
        if tests_per_minute < 1:
            raise ValueError("CRONPILOT_RATE_LIMIT_TESTS_PER_MIN must be at least 1")
        temperature = _float(e, "CRONPILOT_AI_TEMPERATURE", 0.7)
        if not 0 <= temperature <= 2:
            raise ValueError("CRONPILOT_AI_TEMPERATURE must be between 0 and 2")
        if not 10 <= _int(e, "CRONPILOT_ANALYSIS_PERIOD_S", 300) <= 3600:
            raise ValueError("CRONPILOT_ANALYSIS_PERIOD_S must be between 10 and 3600")
        if not 256 <= _int(e, "CRONPILOT_AI_MAX_TOKENS", 8192) <= 128_000:
            raise ValueError("CRONPILOT_AI_MAX_TOKENS must be between 256 and 128000")
        mailer = (e.get("CRONPILOT_MAILER") or "ses").strip().lower()
        if mailer not in {"ses", "outbox"}:
            raise ValueError("CRONPILOT_MAILER must be 'ses' or 'outbox'")
        return cls(
            stage=e.get("CRONPILOT_STAGE", "local"),
            region=e.get("AWS_DEFAULT_REGION") or e.get("AWS_REGION") or "us-east-1",
            table_prefix=e.get("CRONPILOT_TABLE_PREFIX", "cronpilot-local"),
            due_shards=shards,
            admin_token=e.get("CRONPILOT_ADMIN_TOKEN") or None,
            admin_token_param=e.get("CRONPILOT_ADMIN_TOKEN_PARAM") or None,
            retention_days=_int(e, "CRONPILOT_RETENTION_DAYS", 30),
            auth_cache_seconds=_int(e, "CRONPILOT_AUTH_CACHE_SECONDS", 5),
            allow_private_targets=_bool(e, "CRONPILOT_ALLOW_PRIVATE_TARGETS", False),
            dispatch_period_s=_int(e, "CRONPILOT_DISPATCH_PERIOD_S", 60),
            offline=_bool(e, "CRONPILOT_OFFLINE", False),
            ai_configured=bool(e.get("OPENAI_API_KEY")),
            ai_api_key=e.get("OPENAI_API_KEY") or None,
            ai_base_url=e.get("OPENAI_BASE_URL") or None,
            ai_model=e.get("CRONPILOT_AI_MODEL") or "gpt-4o-mini",
            ai_max_output_tokens=_int(e, "CRONPILOT_AI_MAX_TOKENS", 8192),
            ai_temperature=temperature,
            ai_request_timeout_s=_float(e, "CRONPILOT_AI_TIMEOUT_S", 60.0),
            ai_retry_budget_s=_float(e, "CRONPILOT_AI_RETRY_BUDGET_S", 120.0),
            analysis_period_s=_int(e, "CRONPILOT_ANALYSIS_PERIOD_S", 300),
            secrets_kms_alias=e.get("CRONPILOT_SECRETS_KMS_ALIAS") or None,
            secrets_key_file=e.get("CRONPILOT_SECRETS_KEY_FILE")
            or os.path.join(e.get("CRONPILOT_HOME") or ".cronpilot", "secrets.key"),
            test_runs_per_minute=tests_per_minute,
            mailer=mailer,
            alerts_from=e.get("CRONPILOT_ALERTS_FROM") or "alerts@cronpilot.invalid",
            public_url=(e.get("CRONPILOT_PUBLIC_URL") or "").rstrip("/") or None,
            tenant_defaults=defaults,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own with `Settings.from_env`)."""
    return Settings.from_env()
