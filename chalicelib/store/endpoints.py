"""Endpoints: keyed (tenantId, endpointId); by-job and sparse due indexes; optimistic writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.domain.claim import too_early
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
from chalicelib.store.models import EndpointItem, RunItem, SessionItem


class StaleWrite(Exception):
    """The endpoint changed since it was read; re-read and re-apply."""


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class EndpointRepo:
    def get(self, tenant_id: str, endpoint_id: str) -> Endpoint | None:
        try:
            return to_entity(EndpointItem.get(tenant_id, endpoint_id, consistent_read=True))
        except EndpointItem.DoesNotExist:
            return None

    def list_by_job(self, tenant_id: str, job_id: str) -> list[Endpoint]:
        items = EndpointItem.by_job.query(
            job_id, filter_condition=EndpointItem.tenant_id == tenant_id
        )
        return sorted((to_entity(i) for i in items), key=lambda e: (e.created_at, e.id))

    def list_by_tenant(self, tenant_id: str) -> list[Endpoint]:
        return [to_entity(i) for i in EndpointItem.query(tenant_id)]

    def memberships(self, tenant_id: str) -> list[tuple[str, bool]]:
        """(jobId, archived) of every endpoint of the tenant: what counts need, nothing more."""
        attributes = ["endpointId", "jobId", "archivedAt"]
        return [
            (i.job_id, i.archived_at is not None)
            for i in EndpointItem.query(tenant_id, attributes_to_get=attributes)
        ]

    def save(self, endpoint: Endpoint) -> Endpoint:
        """Write the whole endpoint if its version is still the one read (0 = must be new)."""
        item = to_item(endpoint)
        try:
            item.save()
        except PutError as exc:
            if _condition_failed(exc):
                raise StaleWrite(endpoint.id) from None
            raise
        return to_entity(item)

    def delete(self, endpoint: Endpoint) -> None:
        """Hard delete with its runs and sessions."""
        try:
            to_item(endpoint).delete()
        except DeleteError as exc:
            if _condition_failed(exc):
                raise StaleWrite(endpoint.id) from None
            raise
        for model in (RunItem, SessionItem):
            with model.batch_write() as batch:
                for child in model.query(endpoint.id, attributes_to_get=_key_attrs(model)):
                    batch.delete(child)

    def claim(
        self,
        tenant_id: str,
        endpoint_id: str,
        slot: datetime,
        now: datetime,
        lock_until: datetime,
        token: str,
    ) -> Endpoint | None:
        """Take the slot: one conditional write that succeeds only while the slot is still the
        endpoint's next run and its time has come (domain/claim.py's skew), no live lock is
        held, it is in the due index (not archived, job active) and not paused. Returns the
        claimed endpoint, or None when the claim lost (or was refused as early)."""
        e = EndpointItem
        now_ms = to_ms(now)
        if too_early(slot, now):
            return None  # refused without a write: the slot is the message's own field
        condition = (
            (e.next_run_at == to_ms(slot))
            & e.due_shard.exists()
            & e.archived_at.does_not_exist()
            & (e.locked_until.does_not_exist() | (e.locked_until <= now_ms))
            & (e.paused_until.does_not_exist() | (e.paused_until <= now_ms))
        )
        actions = [
            e.locked_until.set(to_ms(lock_until)),
            e.lock_token.set(token),
            e.version.add(1),  # API writers holding the old version must re-read
        ]
        try:
            data = e._get_connection().update_item(
                tenant_id,
                endpoint_id,
                actions=actions,
                condition=condition,
                return_values="ALL_NEW",
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return None
            raise
        return to_entity(e.from_raw_data(data["Attributes"]))

    def extend_lock(self, tenant_id: str, endpoint_id: str, token: str, until: datetime) -> bool:
        """Hold the claim until `until`, if this execution still holds it."""
        e = EndpointItem
        try:
            e._get_connection().update_item(
                tenant_id,
                endpoint_id,
                actions=[e.locked_until.set(to_ms(until))],
                condition=e.lock_token == token,
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def mark_enqueued(
        self, tenant_id: str, endpoint_id: str, slot: datetime, now: datetime
    ) -> bool:
        """Record that `slot` is in flight, if it is still the next run; False otherwise."""
        e = EndpointItem
        try:
            e._get_connection().update_item(
                tenant_id,
                endpoint_id,
                actions=[e.enqueued_slot.set(to_ms(slot)), e.enqueued_at.set(to_ms(now))],
                condition=e.next_run_at == to_ms(slot),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def due(self, shard: str, until_ms: int, page_size: int = 100) -> Iterator[Endpoint]:
        """Endpoints in `shard` whose nextRunAt <= until_ms, earliest first."""
        query = EndpointItem.by_due.query(
            shard,
            EndpointItem.next_run_at <= until_ms,
            scan_index_forward=True,
            page_size=page_size,
        )
        for item in query:
            yield to_entity(item)

    def in_shard(self, shard: str) -> Iterator[Endpoint]:
        """Every endpoint carrying `shard` in the due index, whatever its next run."""
        for item in EndpointItem.by_due.query(shard, page_size=100):
            yield to_entity(item)

    def move_shard(self, tenant_id: str, endpoint_id: str, old: str, new: str) -> bool:
        """Move an endpoint from due shard `old` to `new` if it is still in `old`. The version
        is bumped so a writer holding the old state re-reads instead of writing `old` back."""
        e = EndpointItem
        try:
            e._get_connection().update_item(
                tenant_id,
                endpoint_id,
                actions=[e.due_shard.set(new), e.version.add(1)],
                condition=e.due_shard == old,
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def due_for_analysis(self, shard: str, until_ms: int) -> Iterator[tuple[str, str]]:
        """(tenantId, jobId) of endpoints in `shard` due for analysis by `until_ms`."""
        query = EndpointItem.by_analysis.query(
            shard, EndpointItem.analysis_due_at <= until_ms, page_size=200
        )
        for item in query:
            yield item.tenant_id, item.job_id


def _key_attrs(model: Any) -> list[str]:
    return [a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key]


def to_item(e: Endpoint) -> EndpointItem:
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
        analysis_due_at=ms_or_none(e.analysis_due_at),
        created_at=to_ms(e.created_at),
        updated_at=to_ms(e.updated_at),
    )
    if e.version:
        item.version = e.version
    return item


def to_entity(i: EndpointItem) -> Endpoint:
    return Endpoint(
        tenant_id=i.tenant_id,
        id=i.endpoint_id,
        job_id=i.job_id,
        name=i.name,
        description=i.description,
        url=i.url,
        method=cast(HttpMethod, i.method),
        headers_json=i.headers_json,
        secret_headers=tuple(str(n) for n in i.secret_headers)
        if i.secret_headers is not None
        else None,
        body_json=i.body_json,
        baseline_cron=i.baseline_cron,
        baseline_interval_ms=int_or_none(i.baseline_interval_ms),
        timezone=i.timezone or "UTC",
        min_interval_ms=int_or_none(i.min_interval_ms),
        max_interval_ms=int_or_none(i.max_interval_ms),
        timeout_ms=int_or_none(i.timeout_ms),
        max_execution_time_ms=int_or_none(i.max_execution_time_ms),
        max_response_size_kb=int_or_none(i.max_response_size_kb),
        next_run_at=from_ms(int(i.next_run_at)),
        last_run_at=instant_or_none(i.last_run_at),
        failure_count=int(i.failure_count or 0),
        paused_until=instant_or_none(i.paused_until),
        archived_at=instant_or_none(i.archived_at),
        ai_hint_interval_ms=int_or_none(i.ai_hint_interval_ms),
        ai_hint_next_run_at=instant_or_none(i.ai_hint_next_run_at),
        ai_hint_expires_at=instant_or_none(i.ai_hint_expires_at),
        ai_hint_reason=i.ai_hint_reason,
        ai_hint_set_by=actor_of(i.ai_hint_set_by),
        next_run_cause=cause_of_json(i.next_run_cause),
        locked_until=instant_or_none(i.locked_until),
        lock_token=i.lock_token,
        enqueued_slot=instant_or_none(i.enqueued_slot),
        enqueued_at=instant_or_none(i.enqueued_at),
        due_shard=i.due_shard,
        signal_fingerprint=i.signal_fingerprint,
        state_changed_at=instant_or_none(i.state_changed_at),
        analysis_due_at=instant_or_none(i.analysis_due_at),
        created_at=from_ms(int(i.created_at)),
        updated_at=from_ms(int(i.updated_at)),
        version=int(i.version or 0),
    )
