"""Reflex rules as written by users and the planner: schema, limits, canonical JSON. Pure.

A reflex is `when` a condition on the latest finished run of its endpoint (or of a sibling in
the same job) holds, `do` an action on its endpoint. Rules come from users and from an LLM, so
every limit is checked here and anything unknown is rejected, naming the field.

Paths: `status`, `statusCode`, `durationMs`, `failureCount`, `body` or `body.<seg>(.<seg>)*`.
A segment is an object key or, on an array, a decimal index without leading zeros. Segments
are split on dots, so a key that contains a dot cannot be addressed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.schemas import Instant, Integral, IntervalMs, Schema
from chalicelib.domain.timeutil import iso, ms_floor

REASON_MAX = 500
MAX_COOLDOWN_MS = 7 * 24 * 3_600_000
DEFAULT_COOLDOWN_MS = 60_000
MAX_FOR_MINUTES = 7 * 24 * 60
# Two levels of groups of four: at most 16 clauses, a bound the OpenAPI document can state.
MAX_GROUP_ITEMS = 4
MAX_DEPTH = 2
MAX_CLAUSES = MAX_GROUP_ITEMS**MAX_DEPTH
MAX_PATH = 256
MAX_SEGMENTS = 8
MAX_SEGMENT = 100
MAX_TEXT_VALUE = 1000
MAX_IN_VALUES = 50
# Rule numbers stay within what every JSON consumer (and DynamoDB) holds exactly.
MAX_INT_VALUE = 2**63 - 1
PLANNER_DEFAULT_TTL = timedelta(hours=24)
PLANNER_MAX_TTL = timedelta(days=7)

SELF = "self"
RUN_FIELDS = ("status", "statusCode", "durationMs", "failureCount")
PATH_HELP = (
    "must be status, statusCode, durationMs, failureCount, body or body.<key>(.<key>)*: "
    f"at most {MAX_SEGMENTS} keys of 1 to {MAX_SEGMENT} characters, no dots inside a key "
    f"(a key of digits also indexes an array), {MAX_PATH} characters in all"
)

Op = Literal["==", "!=", ">", ">=", "<", "<=", "in", "exists", "changed"]
ORDERING_OPS = frozenset({">", ">=", "<", "<="})

ENDPOINT_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ENDPOINT = re.compile(ENDPOINT_PATTERN.removeprefix("^").removesuffix("$"))
# The same rule as `_path`, for the OpenAPI document.
PATH_PATTERN = (
    r"^(status|statusCode|durationMs|failureCount|body|body(\.[^.\x00-\x1f\x7f]{1,100}){1,8})$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Unset:
    """Marks a `value` the rule left out, distinct from an explicit JSON null."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


def path_segments(path: str) -> tuple[str, tuple[str, ...]]:
    """Split a valid path into its root and its body segments."""
    root, _, rest = path.partition(".")
    return root, tuple(rest.split(".")) if rest else ()


def _path(value: str) -> str:
    if len(value) > MAX_PATH:
        raise ValueError(PATH_HELP)
    if value in RUN_FIELDS or value == "body":
        return value
    root, segments = path_segments(value)
    if root != "body" or not segments or len(segments) > MAX_SEGMENTS:
        raise ValueError(PATH_HELP)
    for segment in segments:
        if not segment or len(segment) > MAX_SEGMENT or _CONTROL.search(segment):
            raise ValueError(PATH_HELP)
    return value


def _endpoint(value: str) -> str:
    if not _ENDPOINT.fullmatch(value):
        raise ValueError('must be "self" or an endpoint id of the same job')
    return value


def _scalar(value: Any) -> Any:
    """A JSON scalar a rule may compare with; raises ValueError otherwise."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT_VALUE:
            raise ValueError(f"integers must lie within ±{MAX_INT_VALUE}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_VALUE:
            raise ValueError(f"strings must be at most {MAX_TEXT_VALUE} characters")
        return value
    raise ValueError("must be a JSON scalar: null, true/false, a number or a string")


def _value_for(op: str, value: Any) -> Any:
    if op == "changed":
        if value is not UNSET:
            raise ValueError("changed takes no value")
        return None
    if op == "exists":
        if value is UNSET:
            return True
        if not isinstance(value, bool):
            raise ValueError("exists takes true (the path resolves) or false (it does not)")
        return value
    if value is UNSET:
        raise ValueError(f"{op} needs a value")
    if op in ORDERING_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{op} compares with a number")
        return _scalar(value)
    if op == "in":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
            raise ValueError(f"in takes a list of 1 to {MAX_IN_VALUES} JSON scalars")
        return tuple(_scalar(item) for item in value)
    return _scalar(value)


def value_fits(op: str, value: Any, present: bool = True) -> bool:
    """Whether `value` (or its absence) is what `op` takes: a rule JSON Schema cannot state."""
    try:
        _value_for(op, value if present else UNSET)
    except ValueError:
        return False
    return True


class Rule(Schema):
    """Condition and action parts: an unknown key is a mistake, not an extension."""

    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


_SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number", "minimum": -MAX_INT_VALUE, "maximum": MAX_INT_VALUE},
        {"type": "string", "maxLength": MAX_TEXT_VALUE},
    ]
}
_NUMBER = {"type": "number", "minimum": -MAX_INT_VALUE, "maximum": MAX_INT_VALUE}


def _value_by_op(schema: dict[str, Any]) -> None:
    """State in the document what `_value_for` checks: the value's shape follows `op` (and
    `status`, being text, takes no ordering operator)."""
    schema["oneOf"] = [
        {
            "properties": {"op": {"enum": ["==", "!="]}, "value": _SCALAR_SCHEMA},
            "required": ["value"],
        },
        {
            "properties": {
                "op": {"enum": sorted(ORDERING_OPS)},
                "value": _NUMBER,
                "path": {"not": {"const": "status"}},
            },
            "required": ["value"],
        },
        {
            "properties": {
                "op": {"const": "in"},
                "value": {
                    "type": "array",
                    "items": _SCALAR_SCHEMA,
                    "minItems": 1,
                    "maxItems": MAX_IN_VALUES,
                },
            },
            "required": ["value"],
        },
        {"properties": {"op": {"const": "exists"}, "value": {"type": "boolean"}}},
        {"properties": {"op": {"const": "changed"}}, "not": {"required": ["value"]}},
    ]


class Clause(Rule):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_value_by_op)

    endpoint: Annotated[StrictStr, AfterValidator(_endpoint)] = Field(
        SELF,
        description='"self" or the id of an endpoint of the same job',
        json_schema_extra={"pattern": ENDPOINT_PATTERN},
    )
    path: Annotated[StrictStr, AfterValidator(_path)] = Field(
        description="status, statusCode, durationMs, failureCount, body or body.<key>(.<key>)*",
        json_schema_extra={"pattern": PATH_PATTERN, "maxLength": MAX_PATH},
    )
    op: Op
    # Any, not a union of scalars: the shape depends on `op`, checked below with the field named.
    value: Any = Field(
        None,
        description="a JSON scalar for == and !=, a number for > >= < <=, a list of scalars "
        "for in, optionally true/false for exists, nothing for changed",
        json_schema_extra=_no_default,
    )

    @model_validator(mode="before")
    @classmethod
    def _mark_missing_value(cls, data: Any) -> Any:
        # Left out and null differ (`== null` is a rule): the value check below needs to know.
        if isinstance(data, dict) and "value" not in data:
            return {**data, "value": UNSET}
        return data

    @field_validator("op", mode="after")
    @classmethod
    def _op_fits_path(cls, op: str, info: ValidationInfo) -> str:
        if op in ORDERING_OPS and info.data.get("path") == "status":
            raise ValueError("status is text (success or failed): compare it with ==, != or in")
        return op

    @field_validator("value", mode="after")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return None if value is UNSET else value  # `op` is reported invalid already
        return _value_for(op, value)


class AllOf(Rule):
    all: Annotated[list[Condition], Field(min_length=1, max_length=MAX_GROUP_ITEMS)]


class AnyOf(Rule):
    any: Annotated[list[Condition], Field(min_length=1, max_length=MAX_GROUP_ITEMS)]


# Union tags appear in error locations. Negative integers keep them out of the field names:
# schemas.parse drops integer parts and parse_reflex drops negative ones (indexes never are).
_ALL_TAG, _ANY_TAG, _CLAUSE_TAG = -1, -2, -3
_ACTION_TAGS = {"run_now": -4, "set_interval": -5, "pause": -6, "resume": -7, "clear_hints": -8}


def _condition_tag(value: Any) -> int:
    if isinstance(value, AllOf) or (isinstance(value, dict) and "all" in value):
        return _ALL_TAG
    if isinstance(value, AnyOf) or (isinstance(value, dict) and "any" in value):
        return _ANY_TAG
    return _CLAUSE_TAG


Condition: TypeAlias = Annotated[
    Annotated[AllOf, Tag(_ALL_TAG)]
    | Annotated[AnyOf, Tag(_ANY_TAG)]
    | Annotated[Clause, Tag(_CLAUSE_TAG)],
    Discriminator(_condition_tag),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()

ForMinutes = Annotated[StrictInt, Field(ge=1, le=MAX_FOR_MINUTES), Integral]


def _instant_ms(value: datetime | None) -> datetime | None:
    # Stored and returned with millisecond precision: keep the parsed value equal to its JSON.
    return None if value is None else ms_floor(value)


MsInstant = Annotated[Instant, AfterValidator(_instant_ms)]


class RunNow(Rule):
    action: Literal["run_now"]


class SetInterval(Rule):
    action: Literal["set_interval"]
    interval_ms: IntervalMs
    for_minutes: ForMinutes


def _one_of_for_or_until(schema: dict[str, Any]) -> None:
    """State in the document that exactly one of the two is given (null counts as absent)."""

    def without(name: str) -> dict[str, Any]:
        return {
            "anyOf": [
                {"not": {"required": [name]}},
                {"properties": {name: {"type": "null"}}},
            ]
        }

    schema["oneOf"] = [
        {
            "required": ["forMinutes"],
            "properties": {"forMinutes": {"type": "integer"}},
            "allOf": [without("until")],
        },
        {
            "required": ["until"],
            "properties": {"until": {"type": "string"}},
            "allOf": [without("forMinutes")],
        },
    ]


class Pause(Rule):
    """Pause for `forMinutes` or until `until`: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_for_or_until)

    action: Literal["pause"]
    for_minutes: ForMinutes | None = None
    until: MsInstant | None = Field(default=None, validate_default=True)

    @field_validator("until", mode="after")
    @classmethod
    def _exactly_one(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        if "for_minutes" not in info.data:
            return until  # `forMinutes` is reported invalid already
        given = info.data["for_minutes"] is not None
        if given and until is not None:
            raise ValueError("give either forMinutes or until, not both")
        if not given and until is None:
            raise ValueError("give forMinutes or until")
        return until


class Resume(Rule):
    action: Literal["resume"]


class ClearHints(Rule):
    action: Literal["clear_hints"]


def _action_tag(value: Any) -> int | None:
    name = value.get("action") if isinstance(value, dict) else getattr(value, "action", None)
    return _ACTION_TAGS.get(name) if isinstance(name, str) else None


Action: TypeAlias = Annotated[
    Annotated[RunNow, Tag(_ACTION_TAGS["run_now"])]
    | Annotated[SetInterval, Tag(_ACTION_TAGS["set_interval"])]
    | Annotated[Pause, Tag(_ACTION_TAGS["pause"])]
    | Annotated[Resume, Tag(_ACTION_TAGS["resume"])]
    | Annotated[ClearHints, Tag(_ACTION_TAGS["clear_hints"])],
    Discriminator(
        _action_tag,
        custom_error_type="unknown_action",
        custom_error_message="action must be one of " + ", ".join(_ACTION_TAGS),
    ),
]


def _groups(node: Any) -> list[Any] | None:
    """The items of an all/any group, raw or parsed; None for a clause."""
    if isinstance(node, dict):
        items = node.get("all", node.get("any"))
    else:
        items = getattr(node, "all", None) or getattr(node, "any", None)
    return items if isinstance(items, list) else None


def tree_fits(when: Any) -> bool:
    """Whether a condition keeps the depth and clause limits (JSON Schema cannot count them)."""
    try:
        _check_tree(when)
    except ValueError:
        return False
    return True


def _check_tree(when: Any) -> Any:
    """Depth and clause limits, walked iteratively before pydantic recurses into the tree."""
    stack: list[tuple[Any, int]] = [(when, 0)]
    clauses = 0
    while stack:
        node, depth = stack.pop()
        items = _groups(node)
        if items is None:
            clauses += 1
            if clauses > MAX_CLAUSES:
                raise ValueError(f"at most {MAX_CLAUSES} clauses in all")
            continue
        if depth + 1 > MAX_DEPTH:
            raise ValueError(f"at most {MAX_DEPTH} nested all/any groups")
        # Enough to exceed the clause limit: a hostile list is never walked in full.
        stack.extend((item, depth + 1) for item in items[: MAX_CLAUSES + 1])
    return when


def _reason(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Reason = Annotated[StrictStr, Field(min_length=1, max_length=REASON_MAX), AfterValidator(_reason)]


def _depth_limited(schema: dict[str, Any]) -> None:
    """State the nesting limit in the document: `when` unrolled to MAX_DEPTH levels of
    all/any groups around clauses, instead of the recursive AllOf/AnyOf definitions. (The
    clause limit, MAX_CLAUSES, follows from the two.)"""
    when = schema.get("properties", {}).get("when", {})
    refs = [branch.get("$ref", "") for branch in when.get("oneOf", [])]
    # At this point pydantic's refs are placeholders (`...reflex_rules__Clause-Input__1`).
    clause = next((ref for ref in refs if "Clause" in ref.rsplit("/", 1)[-1]), None)
    if clause is None:
        return
    level: dict[str, Any] = {"$ref": clause}
    for _ in range(MAX_DEPTH):
        items = {"type": "array", "items": level, "minItems": 1, "maxItems": MAX_GROUP_ITEMS}
        level = {
            "oneOf": [
                {"$ref": clause},
                {
                    "type": "object",
                    "properties": {"all": items},
                    "required": ["all"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"any": items},
                    "required": ["any"],
                    "additionalProperties": False,
                },
            ]
        }
    description = when.get("description")
    schema["properties"]["when"] = {
        **level,
        **({"description": description} if description else {}),
    }


class ReflexSpec(Schema):
    """One reflex: when `when` holds after a run, do `do` (at most once per cooldown)."""

    # A misspelt `cooldown` or `expires` would silently take the default: refuse it instead.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra=_depth_limited,
    )

    when: Condition
    do: Action
    reason: Reason
    cooldown_ms: Annotated[StrictInt, Field(ge=0, le=MAX_COOLDOWN_MS), Integral] = (
        DEFAULT_COOLDOWN_MS
    )
    expires_at: MsInstant | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _limits(cls, when: Any) -> Any:
        return _check_tree(when)


def clauses(condition: AllOf | AnyOf | Clause) -> Iterator[Clause]:
    """Every clause of a condition tree, depth first in written order."""
    if isinstance(condition, Clause):
        yield condition
        return
    for item in condition.all if isinstance(condition, AllOf) else condition.any:
        yield from clauses(item)


def _condition_json(condition: AllOf | AnyOf | Clause) -> dict[str, Any]:
    if isinstance(condition, AllOf):
        return {"all": [_condition_json(item) for item in condition.all]}
    if isinstance(condition, AnyOf):
        return {"any": [_condition_json(item) for item in condition.any]}
    out: dict[str, Any] = {"endpoint": condition.endpoint, "path": condition.path}
    out["op"] = condition.op
    if condition.op != "changed":
        value = condition.value
        out["value"] = list(value) if isinstance(value, tuple) else value
    return out


def _action_json(action: RunNow | SetInterval | Pause | Resume | ClearHints) -> dict[str, Any]:
    out = action.model_dump(by_alias=True, exclude_none=True)
    if isinstance(action, Pause) and action.until is not None:
        out["until"] = iso(action.until)
    return out


def to_json(spec: ReflexSpec) -> dict[str, Any]:
    """The canonical camelCase JSON of a reflex, for storage and API responses."""
    return {
        "when": _condition_json(spec.when),
        "do": _action_json(spec.do),
        "reason": spec.reason,
        "cooldownMs": spec.cooldown_ms,
        "expiresAt": None if spec.expires_at is None else iso(spec.expires_at),
    }


def from_json(data: dict[str, Any]) -> ReflexSpec:
    """A reflex from its stored JSON (trusted: written by to_json)."""
    return ReflexSpec.model_validate(data)


def _field_of(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ()) if not (isinstance(part, int) and part < 0)]
    if error.get("type") == "unknown_action":
        loc.append("action")
    return ".".join(loc) or "body"


def _message_of(error: Any) -> str:
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, ValueError):
        return str(original)
    return str(error.get("msg", "invalid value"))


def parse_reflex(data: Any) -> ReflexSpec:
    """Validate a request body into a ReflexSpec or raise ValidationFailed naming each field
    with its list indexes (`when.all.0.op`)."""
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", "must be a JSON object")
    try:
        return ReflexSpec.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": _field_of(error), "message": _message_of(error)}
            for error in exc.errors(include_url=False)
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ValidationFailed(f"Invalid reflex: {summary}", details) from None


def planner_expiry(now: datetime, requested: datetime | None) -> datetime:
    """When a planner-made reflex expires: 24 h by default, never beyond 7 days."""
    if requested is not None and requested <= now:
        raise ValidationFailed.field("expiresAt", "must be in the future")
    capped = (
        now + PLANNER_DEFAULT_TTL if requested is None else min(requested, now + PLANNER_MAX_TTL)
    )
    return ms_floor(capped)
