"""Small conversions between stored numbers and domain instants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast, get_args

from chalicelib.domain.entities import Actor, ActorType, Cause, CauseKind, RunSource, ScheduleSource
from chalicelib.domain.timeutil import from_ms, to_ms


def ms_or_none(instant: datetime | None) -> int | None:
    return None if instant is None else to_ms(instant)


def instant_or_none(value: float | int | None) -> datetime | None:
    return None if value is None else from_ms(int(value))


def ms_map_or_none(instants: Mapping[str, datetime] | None) -> dict[str, int] | None:
    """{key: epoch ms} for a JSON attribute; None stays None."""
    return None if instants is None else {k: to_ms(t) for k, t in instants.items()}


def instant_map_or_none(value: Mapping[str, Any] | None) -> dict[str, datetime] | None:
    """The inverse of `ms_map_or_none`."""
    return None if value is None else {k: from_ms(int(t)) for k, t in value.items()}


def int_or_none(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def actor_json(actor: Actor | None) -> dict[str, str] | None:
    return None if actor is None else {"type": actor.type, "id": actor.id}


def actor_of(value: Any) -> Actor | None:
    if not isinstance(value, dict) or value.get("type") not in get_args(ActorType):
        return None
    return Actor(value["type"], str(value.get("id", "")))


def cause_json(cause: Cause | None) -> dict[str, Any] | None:
    if cause is None:
        return None
    return {
        "kind": cause.kind,
        "source": cause.source,
        "by": actor_json(cause.by),
        "reason": cause.reason,
    }


def cause_of_json(value: Any) -> Cause | None:
    """A stored cause; None for anything this version cannot read (kept, never fatal)."""
    if not isinstance(value, dict) or value.get("kind") not in get_args(CauseKind):
        return None
    source = value.get("source")
    if source not in get_args(ScheduleSource) and source != "test":
        return None
    return Cause(
        value["kind"], cast(RunSource, source), actor_of(value.get("by")), value.get("reason")
    )
