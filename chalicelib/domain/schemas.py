"""Request schemas: every limit a client can break, checked before anything is written."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chalicelib.domain.cron import CRON_HELP, validate_cron, zone
from chalicelib.domain.errors import CronError, ValidationFailed
from chalicelib.domain.secret_headers import MASK, SEALED_PREFIX
from chalicelib.domain.signing import DEFAULT_GRACE
from chalicelib.domain.timeutil import parse_instant

MIN_INTERVAL_MS = 1_000
MAX_INTERVAL_MS = 366 * 24 * 3_600_000
# Runs execute on AWS Lambda, which stops a function after 15 minutes; 14 leave room to record
# the run and settle the endpoint.
MAX_TIMEOUT_MS = 840_000
MAX_RESPONSE_KB = 10_000
JOB_DESCRIPTION_MAX = 1000
ENDPOINT_DESCRIPTION_MAX = 2000
URL_MAX = 2048
MAX_HEADERS = 50
HEADER_VALUE_MAX = 8192
REASON_MAX = 1000
MAX_TTL_MINUTES = 7 * 24 * 60
ONESHOT_PAST_TOLERANCE_MS = 60_000
DEFAULT_GRACE_MINUTES = int(DEFAULT_GRACE / timedelta(minutes=1))
MAX_GRACE_MINUTES = 7 * 24 * 60

HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_HEADER_NAME = re.compile(HEADER_NAME_PATTERN.removeprefix("^").removesuffix("$"))


class FieldError(ValueError):
    """A cross-field rule broken on `field`; surfaces in the 400's details under that name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must include a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    return value


def _cron(value: str) -> str:
    try:
        return validate_cron(value)
    except CronError as exc:
        raise ValueError(f"{CRON_HELP} ({exc})") from exc


# The IANA zone names of the pinned tzdata package: what the document lists and the server
# accepts for new values (zones stored earlier keep working however they are named).
ZONE_NAMES = tuple(files("tzdata").joinpath("zones").read_text().split())
_ZONE_SET = frozenset(ZONE_NAMES)


def _timezone(value: str) -> str:
    if value not in _ZONE_SET:
        raise ValueError(f"Unknown IANA timezone {value!r}")
    zone(value)
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, header_value in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if any(ch in header_value for ch in "\r\n\0"):
            raise ValueError(f"header {name!r} contains a line break or NUL")
        if len(header_value) > HEADER_VALUE_MAX:
            raise ValueError(f"header {name!r} is longer than {HEADER_VALUE_MAX} characters")
        if header_value.startswith(SEALED_PREFIX):
            raise ValueError(f"header {name!r} holds a sealed value: send the value itself")
    return value


def _header_names(value: list[str]) -> list[str]:
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} names")
    for name in value:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
    return value


def _integral(value: Any) -> Any:
    """JSON Schema calls 1728.0 an integer (and some JSON encoders write whole numbers that
    way), so such a float is taken as the integer; 1.5, strings and booleans stay errors."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _method(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string such as 2025-01-01T00:00:00Z")
    try:
        return parse_instant(value)
    except OverflowError:
        raise ValueError("is outside the supported range of dates") from None
    except ValueError as exc:
        raise ValueError(
            f"must be an ISO-8601 date-time with a timezone such as 2025-01-01T00:00:00Z ({exc})"
        ) from exc


# A JSON integer: strict (no strings, no booleans) except that whole floats are integers.
# The validator goes after the bounds so the document keeps them as minimum/maximum.
Integral = BeforeValidator(_integral)
# The URLs the document promises every stage accepts: http(s), a host name (up to three labels,
# the last starting with a letter, so never an IP address), an optional port, then anything
# without whitespace. The server accepts more (IP literals where the stage allows them,
# bracketed IPv6, user info, internationalised names; engine/urlguard.py), never less.
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:[A-Za-z0-9_-]{1,63}\.){0,2}[A-Za-z][A-Za-z0-9_-]{0,62}\.?"
    rf"(?::{_PORT}?)?"
    r"(?:[/?#]\S*)?$"
)
URL_NOTE = (
    "http or https URL. The pattern is what every stage accepts; IP literals (private ones "
    "only where the stage allows private targets), bracketed IPv6 addresses, user info and "
    "internationalised host names are accepted too."
)

Name = Annotated[StrictStr, Field(min_length=1, max_length=255), AfterValidator(_name)]
Url = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=URL_MAX,
        json_schema_extra={"pattern": URL_PATTERN, "description": URL_NOTE},
    ),
    AfterValidator(_url),
]
# `format: cron` names the grammar (5 fields, or a macro such as @daily) that no JSON Schema
# keyword can express; tests/e2e/schemathesis_hooks.py teaches the fuzzer to write it.
Cron = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200, json_schema_extra={"format": "cron"}),
    AfterValidator(_cron),
]
TimeZoneName = Annotated[
    StrictStr, Field(json_schema_extra={"enum": list(ZONE_NAMES)}), AfterValidator(_timezone)
]
IntervalMs = Annotated[StrictInt, Field(ge=MIN_INTERVAL_MS, le=MAX_INTERVAL_MS), Integral]


def _timeout(value: int) -> int:
    if value > MAX_TIMEOUT_MS:
        raise ValueError(
            f"must be at most {MAX_TIMEOUT_MS} ms (14 minutes): runs execute on AWS Lambda, "
            "which stops a function after 15 minutes"
        )
    return value


TimeoutMs = Annotated[
    StrictInt,
    Field(ge=1_000, json_schema_extra={"maximum": MAX_TIMEOUT_MS}),
    AfterValidator(_timeout),
    Integral,
]
ResponseKb = Annotated[StrictInt, Field(ge=1, le=MAX_RESPONSE_KB), Integral]
Headers = Annotated[
    dict[StrictStr, StrictStr],
    AfterValidator(_headers),
    Field(
        json_schema_extra={
            "maxProperties": MAX_HEADERS,
            "propertyNames": {"pattern": HEADER_NAME_PATTERN},
            "additionalProperties": {
                "type": "string",
                "maxLength": HEADER_VALUE_MAX,
                "not": {"pattern": "[\r\n\u0000]"},
            },
        }
    ),
]
HeaderNames = Annotated[
    list[StrictStr],
    AfterValidator(_header_names),
    Field(
        json_schema_extra={
            "maxItems": MAX_HEADERS,
            "items": {"type": "string", "pattern": HEADER_NAME_PATTERN},
        }
    ),
]
Method = Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE"], BeforeValidator(_method)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
Reason = Annotated[StrictStr, Field(max_length=REASON_MAX)]
TtlMinutes = Annotated[StrictInt, Field(ge=1, le=MAX_TTL_MINUTES), Integral]


def _drop_null(schema: dict[str, Any]) -> None:
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        del schema["anyOf"]
        schema.pop("default", None)
        schema.update(branches[0])


# On an optional field that refuses null (absent means unchanged): the document offers only
# the value's own type, as the server accepts.
NotNull = Field(json_schema_extra=_drop_null)


class Schema(BaseModel):
    """camelCase on the wire, unknown keys ignored (existing clients send extras)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class JobCreate(Schema):
    name: Name
    description: Annotated[StrictStr, Field(max_length=JOB_DESCRIPTION_MAX)] | None = None


class JobUpdate(Schema):
    # Absent means unchanged; null is refused, so the document does not offer it.
    name: Annotated[Name | None, NotNull] = None
    description: Annotated[StrictStr, Field(max_length=JOB_DESCRIPTION_MAX)] | None = None

    @model_validator(mode="after")
    def _name_not_null(self) -> JobUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise FieldError("name", "may not be null")
        return self


class EndpointFields(Schema):
    """Fields shared by create and update; limits documented in docs/api.md."""

    # name, url, method, timezone: absent means unchanged, null is refused (the document does
    # not offer null); the other fields may be cleared with null.
    name: Annotated[Name | None, NotNull] = None
    description: Annotated[StrictStr, Field(max_length=ENDPOINT_DESCRIPTION_MAX)] | None = None
    url: Annotated[Url | None, NotNull] = None
    method: Annotated[Method | None, NotNull] = None
    headers_json: Headers | None = Field(
        None,
        description="Request headers. Secret ones (Authorization, Cookie, "
        "Proxy-Authorization, names containing key/token/secret/auth, and those in "
        f"secretHeaders) are encrypted at rest and returned as {MASK!r}; sending {MASK!r} "
        "back keeps the stored value.",
    )
    secret_headers: HeaderNames | None = Field(
        None,
        description="Further header names to treat as secret (case-insensitive), in addition "
        "to those secret by name. On PATCH it replaces the list.",
    )
    body_json: Any = None
    baseline_cron: Cron | None = None
    baseline_interval_ms: IntervalMs | None = None
    timezone: Annotated[TimeZoneName | None, NotNull] = None
    min_interval_ms: Annotated[
        IntervalMs | None, Field(description="At most maxIntervalMs when both are set")
    ] = None
    max_interval_ms: IntervalMs | None = None
    timeout_ms: TimeoutMs | None = None
    max_execution_time_ms: TimeoutMs | None = None
    max_response_size_kb: ResponseKb | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> EndpointFields:
        low, high = self.min_interval_ms, self.max_interval_ms
        if low is not None and high is not None and low > high:
            raise FieldError("minIntervalMs", "must be less than or equal to maxIntervalMs")
        return self


_ONE_BASELINE: list[JsonValue] = [
    {"required": ["baselineCron"], "properties": {"baselineCron": {"type": "string"}}},
    {"required": ["baselineIntervalMs"], "properties": {"baselineIntervalMs": {"type": "integer"}}},
]


class EndpointCreate(EndpointFields):
    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_BASELINE})

    name: Name
    url: Url
    method: Method = "GET"
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _exactly_one_baseline(self) -> EndpointCreate:
        if (self.baseline_cron is None) == (self.baseline_interval_ms is None):
            raise FieldError(
                "baselineCron", "Provide either baselineCron or baselineIntervalMs, but not both."
            )
        return self


NOT_NULLABLE_ON_UPDATE = ("name", "url", "method", "timezone")


class EndpointUpdate(EndpointFields):
    """PATCH: only the keys sent change; `null` clears an optional field."""

    model_config = ConfigDict(
        json_schema_extra={"not": {"allOf": _ONE_BASELINE}},
    )

    @model_validator(mode="after")
    def _required_not_null(self) -> EndpointUpdate:
        for field in NOT_NULLABLE_ON_UPDATE:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise FieldError(to_camel(field), "may not be null")
        if self.baseline_cron is not None and self.baseline_interval_ms is not None:
            raise FieldError(
                "baselineCron", "Provide either baselineCron or baselineIntervalMs, but not both."
            )
        return self

    def changes(self) -> dict[str, Any]:
        """The snake_case fields the client actually sent, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class IntervalHint(Schema):
    interval_ms: IntervalMs
    ttl_minutes: TtlMinutes = 60
    reason: Reason | None = None


class OneShotHint(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["nextRunAt"], "properties": {"nextRunAt": {"type": "string"}}},
                {"required": ["nextRunInMs"], "properties": {"nextRunInMs": {"type": "integer"}}},
            ]
        }
    )

    next_run_at: Instant | None = None
    next_run_in_ms: Annotated[StrictInt, Field(ge=0, le=MAX_INTERVAL_MS), Integral] | None = None
    ttl_minutes: TtlMinutes = 60
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_target(self) -> OneShotHint:
        if self.next_run_at is None and self.next_run_in_ms is None:
            raise FieldError("nextRunAt", "Must provide either nextRunAt or nextRunInMs")
        return self


class PauseRequest(Schema):
    paused_until: Instant | None = Field(...)
    reason: Reason | None = None


class ApiKeyCreate(Schema):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650), Integral] | None = None


class SigningKeyRotate(Schema):
    """Optional body of a rotation: how long the replaced key keeps signing alongside."""

    grace_minutes: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=MAX_GRACE_MINUTES,
            description="Minutes the replaced key keeps signing alongside the new one "
            "(default 1440 = 24 h; 0 = stop at once; at most 10080 = 7 days)",
        ),
    ] = DEFAULT_GRACE_MINUTES


class TenantLimitsInput(Schema):
    max_endpoints: Annotated[StrictInt, Field(ge=1, le=100_000), Integral] | None = None
    min_interval_ms: IntervalMs | None = None
    ai_monthly_tokens: Annotated[StrictInt, Field(ge=0, le=10_000_000_000), Integral] | None = None
    mutations_per_minute: Annotated[StrictInt, Field(ge=1, le=1_000_000), Integral] | None = None
    reads_per_minute: Annotated[StrictInt, Field(ge=1, le=1_000_000), Integral] | None = None


class TenantCreate(Schema):
    name: Name
    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] | None = None
    api_key: Annotated[StrictStr, Field(min_length=20, max_length=200)] | None = None
    limits: TenantLimitsInput | None = None


# Query strings arrive as text: these models coerce digits to ints (lax mode).


class Query(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class JobsQuery(Query):
    status: Literal["active", "paused", "archived"] | None = None


class RunsQuery(Query):
    status: Literal["running", "success", "failed"] | None = None
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=100_000)


class SessionsQuery(Query):
    limit: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0, le=100_000)


class HealthQuery(Query):
    since_hours: int = Field(24, ge=1, le=24 * 366)


M = TypeVar("M", bound=BaseModel)


def _field_of(error: Any) -> str:
    ctx = error.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, FieldError):
        return original.field
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    return ".".join(loc) or "body"


def _message_of(error: Any) -> str:
    ctx = error.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, ValueError):
        return str(original)
    return str(error.get("msg", "invalid value"))


def parse(model: type[M], data: Any) -> M:
    """Validate `data` into `model` or raise ValidationFailed naming every offending field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = []
        for error in exc.errors(include_url=False):
            details.append({"field": _field_of(error), "message": _message_of(error)})
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ValidationFailed(f"Invalid request: {summary}", details) from None
