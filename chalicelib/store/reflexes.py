"""Reflexes: keyed (jobId, reflexId), so a finished run reads its job's rules in one query.

Firing is a conditional write on the last firing time: two runs finishing at once fire a
reflex once per cooldown, never twice.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, UpdateError

from chalicelib.domain.entities import Actor, Reflex
from chalicelib.domain.reflex_rules import from_json, to_json
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import actor_json, actor_of, instant_or_none, ms_or_none
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import ReflexItem


class ReflexRepo:
    def list_by_job(self, tenant_id: str, job_id: str) -> list[Reflex]:
        """Every reflex of the job (expired ones included: callers decide), oldest first."""
        items = ReflexItem.query(job_id, filter_condition=ReflexItem.tenant_id == tenant_id)
        return sorted((to_entity(i) for i in items), key=lambda r: (r.created_at, r.id))

    def list_by_endpoint(self, tenant_id: str, job_id: str, endpoint_id: str) -> list[Reflex]:
        """The reflexes acting on one endpoint."""
        return [r for r in self.list_by_job(tenant_id, job_id) if r.endpoint_id == endpoint_id]

    def get(self, tenant_id: str, job_id: str, reflex_id: str) -> Reflex | None:
        try:
            item = ReflexItem.get(job_id, reflex_id, consistent_read=True)
        except ReflexItem.DoesNotExist:
            return None
        return to_entity(item) if item.tenant_id == tenant_id else None

    def put(self, reflex: Reflex) -> Reflex:
        """Create or replace whole."""
        to_item(reflex).save()
        return reflex

    def delete(self, reflex: Reflex) -> bool:
        """Remove; False when it was already gone."""
        try:
            ReflexItem(reflex.job_id, reflex.id).delete(condition=ReflexItem.reflex_id.exists())
        except DeleteError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def delete_for_endpoint(self, tenant_id: str, job_id: str, endpoint_id: str) -> None:
        """Cascade of an endpoint's deletion."""
        for reflex in self.list_by_endpoint(tenant_id, job_id, endpoint_id):
            self.delete(reflex)

    def record_firing(
        self, reflex: Reflex, now: datetime, run_id: str, seen: dict[str, str]
    ) -> bool:
        """Count a firing if nobody fired it since `reflex` was read; False when they did."""
        item = ReflexItem(reflex.job_id, reflex.id)
        previous = ms_or_none(reflex.last_fired_at)
        condition = ReflexItem.reflex_id.exists() & (
            ReflexItem.last_fired_at.does_not_exist()
            if previous is None
            else ReflexItem.last_fired_at == previous
        )
        try:
            item.update(
                actions=[
                    ReflexItem.fire_count.add(1),
                    ReflexItem.last_fired_at.set(to_ms(now)),
                    ReflexItem.last_fired_run_id.set(run_id),
                    ReflexItem.seen.set(seen),
                ],
                condition=condition,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def record_seen(self, reflex: Reflex, seen: dict[str, str]) -> None:
        """Keep what its `changed` clauses saw (only while it exists)."""
        try:
            ReflexItem(reflex.job_id, reflex.id).update(
                actions=[ReflexItem.seen.set(seen)], condition=ReflexItem.reflex_id.exists()
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise


def to_item(r: Reflex) -> ReflexItem:
    return ReflexItem(
        r.job_id,
        r.id,
        tenant_id=r.tenant_id,
        endpoint_id=r.endpoint_id,
        spec=to_json(r.spec),
        created_by=actor_json(r.created_by),
        created_at=to_ms(r.created_at),
        updated_at=to_ms(r.updated_at),
        fire_count=r.fire_count,
        last_fired_at=ms_or_none(r.last_fired_at),
        last_fired_run_id=r.last_fired_run_id,
        seen=r.seen or None,
        expires_at=r.spec.expires_at,
    )


def to_entity(i: ReflexItem) -> Reflex:
    return Reflex(
        tenant_id=i.tenant_id,
        job_id=i.job_id,
        endpoint_id=i.endpoint_id,
        id=i.reflex_id,
        spec=from_json(i.spec),
        created_by=actor_of(i.created_by) or Actor("apiKey", "unknown"),
        created_at=from_ms(int(i.created_at)),
        updated_at=from_ms(int(i.updated_at)),
        fire_count=int(i.fire_count or 0),
        last_fired_at=instant_or_none(i.last_fired_at),
        last_fired_run_id=i.last_fired_run_id,
        seen=dict(i.seen or {}),
    )
