"""Request schemas of alerts: channels, alert policies and the incident list's filters.
Everything a client can get wrong is refused here, before anything is written."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chalicelib.domain.channels import MAX_JOBS_PER_CHANNEL, URL_KINDS, ChannelKind
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.incidents import (
    MAX_FAILURE_THRESHOLD,
    MAX_LATE_AFTER_MS,
    MAX_REALERT_MINUTES,
    MIN_LATE_AFTER_MS,
    MIN_REALERT_MINUTES,
)
from chalicelib.domain.schemas import URL_MAX, FieldError, Instant, Integral, Name, NotNull, Query
from chalicelib.domain.schemas import Schema as _Schema
from chalicelib.domain.schemas import Url as _Url


def _address(value: str) -> str:
    # Syntax only: a deliverability check would need DNS, which validation never asks.
    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address ({exc})") from None


Address = Annotated[
    StrictStr,
    Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
    AfterValidator(_address),
]
Url = Annotated[_Url, Field(max_length=URL_MAX)]
JobIds = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
    Field(max_length=MAX_JOBS_PER_CHANNEL),
]


class ChannelFields(_Schema):
    name: Annotated[Name | None, NotNull] = None
    url: Annotated[Url | None, NotNull] = Field(
        None,
        description="webhook and slack: where to POST. A secret: stored encrypted and returned "
        "masked (scheme and host only).",
    )
    address: Annotated[Address | None, NotNull] = Field(
        None, description="email: the recipient address"
    )
    job_ids: JobIds | None = Field(
        None, description="The jobs whose incidents this channel hears of; null: every job"
    )
    enabled: Annotated[StrictBool | None, NotNull] = None


# The target each kind takes, as the document states it (the validator below is the check).
_ONE_TARGET: list[JsonValue] = [
    {
        "properties": {"kind": {"enum": ["webhook", "slack"]}},
        "required": ["url"],
        "not": {"required": ["address"]},
    },
    {
        "properties": {"kind": {"enum": ["email"]}},
        "required": ["address"],
        "not": {"required": ["url"]},
    },
]


class ChannelCreate(ChannelFields):
    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_TARGET})

    kind: ChannelKind
    name: Name

    @model_validator(mode="after")
    def _target_fits_kind(self) -> ChannelCreate:
        for name in ("url", "address", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise FieldError(name, "may not be null (leave it out)")
        if self.kind in URL_KINDS:
            if self.url is None:
                raise FieldError("url", f"is required for a {self.kind} channel")
            if self.address is not None:
                raise FieldError("address", f"is not used by a {self.kind} channel")
        else:
            if self.address is None:
                raise FieldError("address", "is required for an email channel")
            if self.url is not None:
                raise FieldError("url", "is not used by an email channel")
        return self


class ChannelUpdate(ChannelFields):
    """Absent fields stay as they are; the kind never changes, so `url` is for webhook and
    slack channels only and `address` for email ones (a 400 otherwise)."""

    # A channel has one target: never both in one change.
    model_config = ConfigDict(json_schema_extra={"not": {"required": ["url", "address"]}})

    @model_validator(mode="after")
    def _no_nulls(self) -> ChannelUpdate:
        for name in ("name", "url", "address", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise FieldError(name, "may not be null (leave it out to keep the value)")
        if self.url is not None and self.address is not None:
            raise FieldError("address", "a channel has one target: send url or address")
        return self


Threshold = Annotated[StrictInt, Field(ge=1, le=MAX_FAILURE_THRESHOLD), Integral]
RealertMinutes = Annotated[
    StrictInt, Field(ge=MIN_REALERT_MINUTES, le=MAX_REALERT_MINUTES), Integral
]
LateAfterMs = Annotated[StrictInt, Field(ge=MIN_LATE_AFTER_MS, le=MAX_LATE_AFTER_MS), Integral]


class AlertPolicyInput(_Schema):
    """Every field optional: absent takes the tenant's default (or the built-in one)."""

    failure_threshold: Annotated[Threshold | None, NotNull] = Field(
        None, description="Consecutive failures that open an incident (default 3)"
    )
    notify_on_recovery: Annotated[StrictBool | None, NotNull] = Field(
        None, description="Send a notice when the incident closes (default true)"
    )
    realert_minutes: RealertMinutes | None = Field(
        None, description="Remind every this many minutes while open; null: never (default)"
    )
    late_after_ms: Annotated[LateAfterMs | None, NotNull] = Field(
        None, description="A slot not started this long after its time opens a 'late' incident"
    )
    notify_on_pause: Annotated[StrictBool | None, NotNull] = Field(
        None,
        description="Send a notice when the planner or a reflex pauses or resumes an endpoint "
        "(default false)",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> AlertPolicyInput:
        for name in ("failure_threshold", "notify_on_recovery", "late_after_ms", "notify_on_pause"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise FieldError(to_camel(name), "may not be null (leave it out for the default)")
        return self

    def stored(self) -> dict[str, Any]:
        """The fields the client set, as stored (camelCase)."""
        return self.model_dump(by_alias=True, include=self.model_fields_set)


IdParam = Annotated[str, Field(min_length=1, max_length=128)]


class IncidentsQuery(Query):
    job_id: IdParam | None = Field(None, description="Only this job's (404 if not yours)")
    endpoint_id: IdParam | None = Field(None, description="Only this endpoint's (404 if not yours)")
    state: Literal["open", "closed"] | None = None
    since: Instant | None = Field(None, description="Opened at or after (ISO-8601)")
    until: Instant | None = Field(None, description="Opened before (ISO-8601)")
    limit: int = Field(50, ge=1, le=200)


class OutboxQuery(Query):
    limit: int = Field(20, ge=1, le=100)


def check_no_mask(url: str | None) -> None:
    """A masked URL sent back is not a URL to save (the stored one is kept by leaving `url`
    out)."""
    if url is not None and "********" in url:
        raise ValidationFailed.field(
            "url", "send the whole URL, or leave url out to keep the stored one"
        )
