"""Runs: keyed (endpointId, runId) with time-sortable run ids; expired items are never returned."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import PutError

from chalicelib.domain import ids
from chalicelib.domain.entities import Run, RunSource, RunStatus
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import (
    cause_json,
    cause_of_json,
    instant_or_none,
    int_or_none,
    ms_or_none,
)
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import RunItem
from chalicelib.store.packed import pack, unpack


def _visible(tenant_id: str, now: datetime) -> Any:
    """The tenant's runs that have not expired (TTL deletion lags, and moto never deletes)."""
    live = RunItem.expires_at.does_not_exist() | (RunItem.expires_at > now)
    return (RunItem.tenant_id == tenant_id) & live


class RunRepo:
    def put(self, run: Run) -> None:
        to_item(run).save()

    def put_if_running(self, run: Run) -> bool:
        """Write a run only while it is not stored yet (in flight, its claim stands for it) or
        the stored one is still `running` (written so by the release before)."""
        try:
            to_item(run).save(
                condition=RunItem.run_id.does_not_exist() | (RunItem.status == "running")
            )
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get(self, tenant_id: str, run_id: str, now: datetime) -> Run | None:
        """The tenant's run of id `run_id`, found through the tenant's runs at the start its id
        carries: no index by run id, which cost a write unit on every run."""
        started = ids.run_started_at(run_id)
        if started is None:
            return None
        entries = RunItem.by_tenant.query(
            tenant_id,
            RunItem.started_at == to_ms(started),
            filter_condition=RunItem.run_id == run_id,
        )
        key = next(iter(entries), None)
        if key is None:
            return None
        try:
            run = to_entity(RunItem.get(key.endpoint_id, run_id))
        except RunItem.DoesNotExist:
            return None
        return None if _expired(run, now) else run

    def page(
        self,
        tenant_id: str,
        endpoint_id: str,
        now: datetime,
        status: str | None,
        limit: int,
        offset: int,
        in_flight: Run | None = None,
    ) -> tuple[list[Run], int]:
        """Newest first; the count of all matches comes with the page. `in_flight`, the run
        the endpoint's claim stands for (not stored until it finishes), is listed among them
        by its start, unless the filter leaves it out or it was stored meanwhile."""
        condition = _visible(tenant_id, now)
        if status is not None:
            condition = condition & (RunItem.status == status)
        if in_flight is not None and (
            status not in (None, in_flight.status) or self._stored(in_flight)
        ):
            in_flight = None
        total = int(RunItem.count(endpoint_id, filter_condition=condition))
        # Ask for one page of the size needed: every item the store returns costs time.
        query = RunItem.query(
            endpoint_id,
            filter_condition=condition,
            scan_index_forward=False,
            page_size=min(100, offset + limit),
        )
        runs: list[Run] = []
        for index, run in enumerate(_newest_first(query, in_flight)):
            if index < offset:
                continue
            runs.append(run)
            if len(runs) >= limit:
                break
        return runs, total + (in_flight is not None)

    @staticmethod
    def _stored(run: Run) -> bool:
        try:
            RunItem.get(run.endpoint_id, run.id, attributes_to_get=["runId"])
        except RunItem.DoesNotExist:
            return False
        return True

    def since(self, tenant_id: str, endpoint_id: str, since: datetime, now: datetime) -> list[Run]:
        """Runs started at or after `since`, newest first."""
        query = RunItem.query(
            endpoint_id,
            RunItem.run_id >= run_id_floor(since),
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
        )
        return [to_entity(i) for i in query]

    def caused_by(
        self,
        tenant_id: str,
        endpoint_id: str,
        since: datetime,
        actor_ids: frozenset[str],
        now: datetime,
        scan_limit: int = 500,
    ) -> list[Run]:
        """Runs started at or after `since` whose cause names one of `actor_ids`, oldest
        first, among the first `scan_limit` runs."""
        query = RunItem.query(
            endpoint_id,
            RunItem.run_id >= run_id_floor(since),
            filter_condition=_visible(tenant_id, now),
            limit=scan_limit,
        )
        runs = (to_entity(i) for i in query)
        return [r for r in runs if r.cause and r.cause.by and r.cause.by.id in actor_ids]

    def newest_and_finished(
        self, tenant_id: str, endpoint_id: str, now: datetime, scan_limit: int = 500
    ) -> tuple[Run | None, Run | None]:
        """In one query: the newest run (any status) and the newest one with a duration."""
        query = RunItem.query(
            endpoint_id,
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
            page_size=5,
            limit=scan_limit,
        )
        newest: Run | None = None
        for item in query:
            run = to_entity(item)
            newest = newest or run
            if run.duration_ms is not None:
                return newest, run
        return newest, None

    def finished(
        self, tenant_id: str, endpoint_id: str, now: datetime, count: int, scan_limit: int = 500
    ) -> list[Run]:
        """Up to `count` newest runs that have a duration (still-running runs and swept
        zombies have none), looking at no more than `scan_limit` runs."""
        query = RunItem.query(
            endpoint_id,
            filter_condition=_visible(tenant_id, now) & RunItem.duration_ms.exists(),
            scan_index_forward=False,
            page_size=min(100, count + 5),
            limit=scan_limit,
        )
        found: list[Run] = []
        for item in query:
            found.append(to_entity(item))
            if len(found) >= count:
                break
        return found

    def outcomes_since(
        self, tenant_id: str, endpoint_id: str, since: datetime, now: datetime, limit: int = 3000
    ) -> list[Run]:
        """Runs started at or after `since`, newest first, without bodies: what health needs."""
        attributes = [
            "endpointId", "runId", "tenantId", "jobId", "status", "startedAt", "durationMs",
            "expiresAt",
        ]  # fmt: skip
        query = RunItem.query(
            endpoint_id,
            RunItem.run_id >= run_id_floor(since),
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
            attributes_to_get=attributes,
            limit=limit,
        )
        return [to_entity(i) for i in query]

    def abandoned(self, tenant_id: str, endpoint_id: str, now: datetime) -> Run | None:
        """The endpoint's newest run if it is still `running` past its deadline (a zombie).

        Asked only of an endpoint whose claim expired unsettled: that claim's run, written just
        after it, is the endpoint's newest (run ids sort by start)."""
        for item in RunItem.query(
            endpoint_id,
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
            limit=1,
        ):
            run = to_entity(item)
            overdue = run.deadline_at is not None and run.deadline_at <= now
            return run if run.status == "running" and overdue else None
        return None

    def for_tenant(
        self, tenant_id: str, start: datetime, end: datetime, now: datetime
    ) -> list[Run]:
        """All of a tenant's runs started in [start, end], oldest first."""
        query = RunItem.by_tenant.query(
            tenant_id,
            RunItem.started_at.between(to_ms(start), to_ms(end)),
            filter_condition=_visible(tenant_id, now),
        )
        return [to_entity(i) for i in query]

    def newest_for_tenant(
        self, tenant_id: str, start: datetime, end: datetime, now: datetime, limit: int
    ) -> list[Run]:
        """The tenant's newest `limit` runs started in [start, end], newest first (summaries:
        the index holds no bodies). One page, whatever the tenant's volume."""
        query = RunItem.by_tenant.query(
            tenant_id,
            RunItem.started_at.between(to_ms(start), to_ms(end)),
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
        )
        return [to_entity(i) for i in query]


def _newest_first(items: Iterable[RunItem], in_flight: Run | None) -> Iterator[Run]:
    """The stored runs (newest first) with `in_flight` in its place among them (ids sort by
    start)."""
    for item in items:
        if in_flight is not None and in_flight.id > item.run_id:
            yield in_flight
            in_flight = None
        yield to_entity(item)
    if in_flight is not None:
        yield in_flight


def run_id_floor(instant: datetime) -> str:
    """The smallest run id that can start at `instant` (ids sort by start time)."""
    return f"run_{to_ms(instant):013d}"


def _expired(run: Run, now: datetime) -> bool:
    return run.expires_at is not None and run.expires_at <= now


# A body this long makes a run item (about 0.35 KB besides the body) cross the 1 KB of a write
# unit, so compressing it from here on can save a unit on each of the run's writes.
BODY_PACK_FROM_BYTES = 512


def to_item(r: Run) -> RunItem:
    body_z = pack(r.response_body, BODY_PACK_FROM_BYTES) if r.response_body is not None else None
    return RunItem(
        r.endpoint_id,
        r.id,
        tenant_id=r.tenant_id,
        job_id=r.job_id,
        status=r.status,
        started_at=to_ms(r.started_at),
        finished_at=ms_or_none(r.finished_at),
        attempt=r.attempt,
        source=r.source,
        duration_ms=r.duration_ms,
        status_code=r.status_code,
        error_message=r.error_message,
        error_kind=r.error_kind,
        response_body=r.response_body if body_z is None else None,
        response_body_z=body_z,
        response_truncated=r.response_truncated,
        slot_at=ms_or_none(r.slot_at),
        cause=cause_json(r.cause),
        deadline_at=ms_or_none(r.deadline_at) if r.status == "running" else None,
        expires_at=r.expires_at,
    )


def _body(i: RunItem) -> Any:
    return unpack(i.response_body_z) if i.response_body_z is not None else i.response_body


def to_entity(i: RunItem) -> Run:
    return Run(
        endpoint_id=i.endpoint_id,
        id=i.run_id,
        tenant_id=i.tenant_id,
        job_id=i.job_id,
        status=cast(RunStatus, i.status),
        started_at=from_ms(int(i.started_at)),
        finished_at=instant_or_none(i.finished_at),
        attempt=int(i.attempt or 1),
        source=cast(RunSource | None, i.source),
        duration_ms=int_or_none(i.duration_ms),
        status_code=int_or_none(i.status_code),
        error_message=i.error_message,
        error_kind=i.error_kind,
        response_body=_body(i),
        response_truncated=bool(i.response_truncated),
        slot_at=instant_or_none(i.slot_at),
        deadline_at=instant_or_none(i.deadline_at),
        expires_at=i.expires_at,
        cause=cause_of_json(i.cause),
    )
