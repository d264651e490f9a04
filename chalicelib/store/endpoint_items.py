"""An endpoint is stored as two items: its configuration and its schedule state.

Every run rewrites the schedule state (next slot, lock, last run, failures); nothing else. In
one item, each of those writes also rewrote the whole configuration (about 2 KB with a
description and headers) in the table and in the byJob and byDue indexes: 14 of a run's 22
write units. The state item (`{endpointId}#s`, a few hundred bytes) now takes those writes; the
configuration item changes only when a person or the planner changes the endpoint.

Only configurations carry `jobId`, so byJob holds them alone and a run's two state writes
cost no byJob copy (2 of a run's 13 write units); a job listing reads the states by key. Only
state items carry `dueShard`, so byDue and byAnalysis hold state items alone. State items
written before they stopped carrying `jobId` still have it, and lose it at their next full
write (a settle).

Items written before the split hold everything in one item (state_version None in the
entity); they are read as they are, and the first write splits them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any, cast

from chalicelib.domain.entities import Endpoint, HttpMethod
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import (
    actor_json,
    actor_of,
    cause_json,
    cause_of_json,
    instant_or_none,
    int_or_none,
    ms_or_none,
)
from chalicelib.store.models import EndpointItem

STATE_SUFFIX = "#s"

# Entity fields kept in the state item; the rest (jobId included) in the configuration.
STATE_FIELDS = (
    "next_run_at",
    "next_run_cause",
    "last_run_at",
    "failure_count",
    "paused_until",
    "archived_at",
    "ai_hint_interval_ms",
    "ai_hint_next_run_at",
    "ai_hint_expires_at",
    "ai_hint_reason",
    "ai_hint_set_by",
    "locked_until",
    "lock_token",
    "enqueued_slot",
    "enqueued_at",
    "due_shard",
    "signal_fingerprint",
    "state_changed_at",
    "state_changed_by",
    "analysis_due_at",
    "updated_at",
)
_BOOKKEEPING = ("version", "state_version")
CONFIG_FIELDS = tuple(
    f.name for f in fields(Endpoint) if f.name not in STATE_FIELDS and f.name not in _BOOKKEEPING
)


def state_key(endpoint_id: str) -> str:
    """The range key of an endpoint's state item."""
    return endpoint_id + STATE_SUFFIX


def is_state_key(range_key: str) -> bool:
    return range_key.endswith(STATE_SUFFIX)


def endpoint_id_of(range_key: str) -> str:
    return range_key[: -len(STATE_SUFFIX)] if is_state_key(range_key) else range_key


def config_changed(old: Endpoint, new: Endpoint) -> bool:
    return any(getattr(old, f) != getattr(new, f) for f in CONFIG_FIELDS)


def state_changed(old: Endpoint, new: Endpoint) -> bool:
    return any(getattr(old, f) != getattr(new, f) for f in STATE_FIELDS)


def config_item(e: Endpoint) -> EndpointItem:
    """The configuration item, at the version the entity was read with."""
    item = EndpointItem(
        e.tenant_id,
        e.id,
        job_id=e.job_id,
        name=e.name,
        description=e.description,
        url=e.url,
        method=e.method,
        headers_json=e.headers_json,
        secret_headers=list(e.secret_headers) if e.secret_headers is not None else None,
        body_json=e.body_json,
        baseline_cron=e.baseline_cron,
        baseline_interval_ms=e.baseline_interval_ms,
        timezone=e.timezone,
        min_interval_ms=e.min_interval_ms,
        max_interval_ms=e.max_interval_ms,
        timeout_ms=e.timeout_ms,
        max_execution_time_ms=e.max_execution_time_ms,
        max_response_size_kb=e.max_response_size_kb,
        created_at=to_ms(e.created_at),
    )
    if e.version:
        item.version = e.version
    return item


def saved_version(config: EndpointItem) -> int:
    """The version a configuration item has once saved (its version attribute counts up)."""
    return int(config.version) + 1 if config.version else 1


def state_item(e: Endpoint, config_version: int | None = None) -> EndpointItem:
    """The state item, at the state version the entity was read with (none when new), naming
    `config_version` as the configuration's version when written with it."""
    item = EndpointItem(
        e.tenant_id,
        state_key(e.id),
        next_run_at=to_ms(e.next_run_at),
        last_run_at=ms_or_none(e.last_run_at),
        failure_count=e.failure_count,
        paused_until=ms_or_none(e.paused_until),
        archived_at=ms_or_none(e.archived_at),
        ai_hint_interval_ms=e.ai_hint_interval_ms,
        ai_hint_next_run_at=ms_or_none(e.ai_hint_next_run_at),
        ai_hint_expires_at=ms_or_none(e.ai_hint_expires_at),
        ai_hint_reason=e.ai_hint_reason,
        ai_hint_set_by=actor_json(e.ai_hint_set_by),
        next_run_cause=cause_json(e.next_run_cause),
        locked_until=ms_or_none(e.locked_until),
        lock_token=e.lock_token,
        enqueued_slot=ms_or_none(e.enqueued_slot),
        enqueued_at=ms_or_none(e.enqueued_at),
        due_shard=e.due_shard,
        signal_fingerprint=e.signal_fingerprint,
        state_changed_at=ms_or_none(e.state_changed_at),
        state_changed_by=ms_or_none(e.state_changed_by),
        analysis_due_at=ms_or_none(e.analysis_due_at),
        updated_at=to_ms(e.updated_at),
        config_version=config_version,
    )
    if e.state_version:
        item.version = e.state_version
    return item


def _config_values(i: EndpointItem) -> dict[str, Any]:
    return {
        "tenant_id": i.tenant_id,
        "id": i.endpoint_id,
        "job_id": str(i.job_id),
        "name": i.name,
        "description": i.description,
        "url": i.url,
        "method": cast(HttpMethod, i.method),
        "headers_json": i.headers_json,
        "secret_headers": tuple(str(n) for n in i.secret_headers)
        if i.secret_headers is not None
        else None,
        "body_json": i.body_json,
        "baseline_cron": i.baseline_cron,
        "baseline_interval_ms": int_or_none(i.baseline_interval_ms),
        "timezone": i.timezone or "UTC",
        "min_interval_ms": int_or_none(i.min_interval_ms),
        "max_interval_ms": int_or_none(i.max_interval_ms),
        "timeout_ms": int_or_none(i.timeout_ms),
        "max_execution_time_ms": int_or_none(i.max_execution_time_ms),
        "max_response_size_kb": int_or_none(i.max_response_size_kb),
        "created_at": from_ms(int(i.created_at)),
        "version": int(i.version or 0),
    }


def _state_values(i: EndpointItem) -> dict[str, Any]:
    return {
        "next_run_at": from_ms(int(i.next_run_at)),
        "last_run_at": instant_or_none(i.last_run_at),
        "failure_count": int(i.failure_count or 0),
        "paused_until": instant_or_none(i.paused_until),
        "archived_at": instant_or_none(i.archived_at),
        "ai_hint_interval_ms": int_or_none(i.ai_hint_interval_ms),
        "ai_hint_next_run_at": instant_or_none(i.ai_hint_next_run_at),
        "ai_hint_expires_at": instant_or_none(i.ai_hint_expires_at),
        "ai_hint_reason": i.ai_hint_reason,
        "ai_hint_set_by": actor_of(i.ai_hint_set_by),
        "next_run_cause": cause_of_json(i.next_run_cause),
        "locked_until": instant_or_none(i.locked_until),
        "lock_token": i.lock_token,
        "enqueued_slot": instant_or_none(i.enqueued_slot),
        "enqueued_at": instant_or_none(i.enqueued_at),
        "due_shard": i.due_shard,
        "signal_fingerprint": i.signal_fingerprint,
        "state_changed_at": instant_or_none(i.state_changed_at),
        "state_changed_by": instant_or_none(i.state_changed_by),
        "analysis_due_at": instant_or_none(i.analysis_due_at),
        "updated_at": from_ms(int(i.updated_at)),
    }


def merged(config: EndpointItem, state: EndpointItem | None) -> Endpoint:
    """The endpoint from its two items; from one older item alone when there is no state."""
    if state is None:
        return Endpoint(**_config_values(config), **_state_values(config), state_version=None)
    return Endpoint(
        **_config_values(config), **_state_values(state), state_version=int(state.version or 0)
    )


def pair_up(items: Iterable[EndpointItem]) -> list[Endpoint]:
    """Endpoints from a mix of configuration and state items, in first-seen order.

    Either item without the other is left out: an index (byJob) is eventually consistent and
    does not show the two items of one transaction at once, so a listing can see one of a
    creation or a delete before the other. An item of the older one-item layout stands alone.
    """
    configs: dict[str, EndpointItem] = {}
    states: dict[str, EndpointItem] = {}
    for item in items:
        if is_state_key(item.endpoint_id):
            states[endpoint_id_of(item.endpoint_id)] = item
        else:
            configs[item.endpoint_id] = item
    return [
        merged(c, states.get(eid)) for eid, c in configs.items() if eid in states or is_one_item(c)
    ]


def is_one_item(config: EndpointItem) -> bool:
    """Whether a configuration item is an endpoint in the older one-item layout (it then holds
    the schedule state too; a split configuration never has a next run)."""
    return config.next_run_at is not None


def with_versions(e: Endpoint, config: EndpointItem | None, state: EndpointItem | None) -> Endpoint:
    """The entity after a write, carrying the versions the written items now have."""
    if config is not None:
        e = replace(e, version=int(config.version or 0))
    if state is not None:
        e = replace(e, state_version=int(state.version or 0))
    return e
