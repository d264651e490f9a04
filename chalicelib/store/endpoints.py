"""Endpoints: keyed (tenantId, endpointId), each stored as a configuration item and a schedule
state item (endpoint_items.py); by-job and sparse due indexes; optimistic writes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError

from chalicelib.domain.claim import too_early
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.timeutil import to_ms
from chalicelib.store.codec import int_or_none
from chalicelib.store.conditions import (
    CONDITION_FAILED,
    TRANSACTION_CONFLICT,
    Transactions,
    condition_failed,
)
from chalicelib.store.config_cache import VersionedCache
from chalicelib.store.endpoint_items import (
    config_changed,
    config_item,
    endpoint_id_of,
    is_one_item,
    is_state_key,
    merged,
    pair_up,
    saved_version,
    state_changed,
    state_item,
    state_key,
    with_versions,
)
from chalicelib.store.models import EndpointItem, RunItem, SessionItem


class StaleWrite(Exception):
    """The endpoint changed since it was read; re-read and re-apply."""


# A transaction cancelled by another write to one of its items lost the race as surely as a
# failed condition: the caller re-reads and re-applies.
_LOST = frozenset({CONDITION_FAILED, TRANSACTION_CONFLICT})


@dataclass(frozen=True, slots=True)
class Won:
    """A won claim: the endpoint as claimed and, when it took over an earlier claim that
    expired without settling (its run abandoned: a zombie to mark), the endpoint as that
    claim left it."""

    endpoint: Endpoint
    abandoned: Endpoint | None = None

    @property
    def took_over(self) -> bool:
        return self.abandoned is not None


class EndpointRepo:
    def __init__(self) -> None:
        self._transaction = Transactions(EndpointItem)
        # Configurations read by claims, each trusted only at the version a state names.
        self._configs: VersionedCache[EndpointItem] = VersionedCache()

    def get(self, tenant_id: str, endpoint_id: str) -> Endpoint | None:
        """Both items in one consistent query (the state key sorts right after the id)."""
        items = EndpointItem.query(
            tenant_id,
            EndpointItem.endpoint_id.between(endpoint_id, state_key(endpoint_id)),
            consistent_read=True,
        )
        found = [i for i in items if endpoint_id_of(i.endpoint_id) == endpoint_id]
        endpoints = pair_up(found)
        return endpoints[0] if endpoints else None

    def list_by_job(self, tenant_id: str, job_id: str) -> list[Endpoint]:
        """The job's configurations from byJob, with their states read by key."""
        items = EndpointItem.by_job.query(
            job_id, filter_condition=EndpointItem.tenant_id == tenant_id
        )
        # State items written before they stopped carrying jobId are still in byJob; the
        # states are read from the table for every endpoint alike.
        configs = [i for i in items if not is_state_key(i.endpoint_id)]
        return sorted(pair_up(_with_states(configs)), key=lambda e: (e.created_at, e.id))

    def list_by_tenant(self, tenant_id: str) -> list[Endpoint]:
        return pair_up(EndpointItem.query(tenant_id))

    def memberships(self, tenant_id: str) -> list[tuple[str, bool]]:
        """(jobId, archived) of every endpoint of the tenant: what counts need, nothing more."""
        attributes = ["endpointId", "jobId", "archivedAt"]
        jobs: dict[str, str] = {}
        archived: dict[str, bool] = {}
        for i in EndpointItem.query(tenant_id, attributes_to_get=attributes):
            endpoint_id = endpoint_id_of(i.endpoint_id)
            if is_state_key(i.endpoint_id):
                archived[endpoint_id] = i.archived_at is not None
            else:
                jobs[endpoint_id] = i.job_id
                archived.setdefault(endpoint_id, i.archived_at is not None)
        return [(job, archived[eid]) for eid, job in jobs.items()]

    def save(self, endpoint: Endpoint, before: Endpoint | None = None) -> Endpoint:
        """Write the endpoint if the versions read are still current (0 = must be new).

        With `before` (the endpoint as read), only the item whose fields changed is written:
        a run's settle rewrites the small state item, not the configuration. An endpoint
        still in the one-item layout is split by this write.
        """
        write_config = write_state = True
        if before is not None and endpoint.state_version is not None and endpoint.version:
            write_config = config_changed(before, endpoint)
            # A new configuration always comes with its state: the state's configVersion is
            # what lets a claim trust a configuration it holds (config_cache.py).
            write_state = write_config or state_changed(before, endpoint)
        config = config_item(endpoint) if write_config else None
        config_version = saved_version(config) if config is not None else endpoint.version
        state = state_item(endpoint, config_version) if write_state else None
        try:
            if config is not None and state is not None:
                with self._transaction() as transaction:
                    transaction.save(config)
                    transaction.save(state)
            elif config is not None:
                config.save()
            elif state is not None:
                state.save()
        except (PutError, TransactWriteError) as exc:
            if condition_failed(exc, _LOST):
                raise StaleWrite(endpoint.id) from None
            raise
        return with_versions(endpoint, config, state)

    def delete(self, endpoint: Endpoint) -> None:
        """Hard delete with its runs and sessions."""
        try:
            with self._transaction() as transaction:
                transaction.delete(config_item(endpoint))
                transaction.delete(state_item(endpoint), add_version_condition=False)
        except (DeleteError, TransactWriteError) as exc:
            if condition_failed(exc, _LOST):
                raise StaleWrite(endpoint.id) from None
            raise
        self._configs.forget((endpoint.tenant_id, endpoint.id))
        for model in (RunItem, SessionItem):
            with model.batch_write() as batch:
                for child in model.query(endpoint.id, attributes_to_get=_key_attrs(model)):
                    batch.delete(child)

    def _split_if_older(self, tenant_id: str, endpoint_id: str) -> bool:
        """Split an endpoint still in the one-item layout; whether it was one."""
        current = self.get(tenant_id, endpoint_id)
        if current is None or current.state_version is not None:
            return False
        # A StaleWrite means someone else wrote it meanwhile, and so split it.
        with contextlib.suppress(StaleWrite):
            self.save(current)
        return True

    def _on_state(
        self, tenant_id: str, endpoint_id: str, update: Callable[[str], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Run a conditional update of the state item; after splitting an endpoint still in
        the older layout, once more. The update's answer, or None when its condition failed."""
        for attempt in range(2):
            try:
                return update(state_key(endpoint_id))
            except UpdateError as exc:
                if not condition_failed(exc, _LOST):
                    raise
            if attempt or not self._split_if_older(tenant_id, endpoint_id):
                return None
        return None

    def claim(
        self,
        tenant_id: str,
        endpoint_id: str,
        slot: datetime,
        now: datetime,
        lock_until: datetime,
        token: str,
    ) -> Won | None:
        """Take the slot: one conditional write of the state item that succeeds only while the
        slot is still the endpoint's next run and its time has come (domain/claim.py's skew),
        no live lock is held, it is in the due index (not archived, job active) and not
        paused; then the configuration, read by key. Returns the claim, or None when it lost
        (or was refused as early)."""
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

        def update(key: str) -> dict[str, Any]:
            # The item as it was: whether an earlier claim's token was still there is the
            # one thing ALL_NEW cannot tell; the new values are the actions' own.
            answer: dict[str, Any] = e._get_connection().update_item(
                tenant_id, key, actions=actions, condition=condition, return_values="ALL_OLD"
            )
            return answer

        data = self._on_state(tenant_id, endpoint_id, update)
        if data is None:
            return None
        state = e.from_raw_data(data["Attributes"])
        config = self._config(tenant_id, endpoint_id, state)
        if config is None:
            return None  # deleted between the two; the lock expires with nothing to settle
        # The state as it was; settling removes the token, and the condition let only an
        # expired lock through.
        abandoned = merged(config, state) if state.lock_token is not None else None
        state.locked_until = to_ms(lock_until)
        state.lock_token = token
        state.version = int(state.version or 0) + 1
        return Won(merged(config, state), abandoned)

    def _config(self, tenant_id: str, endpoint_id: str, state: EndpointItem) -> EndpointItem | None:
        """The configuration at the version `state` names: the one held when it is that
        version (both were written in one transaction), otherwise read by key."""
        key = (tenant_id, endpoint_id)
        held = self._configs.get(key, int_or_none(state.config_version))
        if held is not None:
            return held
        try:
            # Consistent: the run's settle plans the next slot from this configuration when
            # nothing wrote the endpoint since (a change after this read bumps the state's
            # version and sends the settle back to a read).
            config = EndpointItem.get(tenant_id, endpoint_id, consistent_read=True)
        except EndpointItem.DoesNotExist:
            self._configs.forget(key)
            return None
        self._configs.put(key, int(config.version or 0), config)
        return config

    def extend_lock(self, tenant_id: str, endpoint_id: str, token: str, until: datetime) -> bool:
        """Hold the claim until `until`, if this execution still holds it."""
        e = EndpointItem
        try:
            e._get_connection().update_item(
                tenant_id,
                state_key(endpoint_id),
                actions=[e.locked_until.set(to_ms(until))],
                condition=e.lock_token == token,
            )
        except UpdateError as exc:
            if condition_failed(exc, _LOST):
                return False
            raise
        return True

    def mark_enqueued(
        self, tenant_id: str, endpoint_id: str, slot: datetime, now: datetime
    ) -> bool:
        """Record that `slot` is in flight, if it is still the next run; False otherwise."""
        e = EndpointItem

        def update(key: str) -> dict[str, Any]:
            answer: dict[str, Any] = e._get_connection().update_item(
                tenant_id,
                key,
                actions=[e.enqueued_slot.set(to_ms(slot)), e.enqueued_at.set(to_ms(now))],
                condition=e.next_run_at == to_ms(slot),
            )
            return answer

        return self._on_state(tenant_id, endpoint_id, update) is not None

    def due(self, shard: str, until_ms: int, page_size: int = 100) -> Iterator[Endpoint]:
        """Endpoints in `shard` whose nextRunAt <= until_ms, earliest first."""
        query = EndpointItem.by_due.query(
            shard,
            EndpointItem.next_run_at <= until_ms,
            scan_index_forward=True,
            page_size=page_size,
        )
        yield from _with_configs(query, page_size)

    def in_shard(self, shard: str) -> Iterator[Endpoint]:
        """Every endpoint carrying `shard` in the due index, whatever its next run."""
        yield from _with_configs(EndpointItem.by_due.query(shard, page_size=100), 100)

    def move_shard(self, tenant_id: str, endpoint_id: str, old: str, new: str) -> bool:
        """Move an endpoint from due shard `old` to `new` if it is still in `old`. The version
        is bumped so a writer holding the old state re-reads instead of writing `old` back."""
        e = EndpointItem
        # The shard is on the state item, or on the only item of an endpoint not yet split.
        for key in (state_key(endpoint_id), endpoint_id):
            try:
                e._get_connection().update_item(
                    tenant_id,
                    key,
                    actions=[e.due_shard.set(new), e.version.add(1)],
                    condition=e.due_shard == old,
                )
            except UpdateError as exc:
                if not condition_failed(exc, _LOST):
                    raise
                continue
            return True
        return False

    def due_for_analysis(self, shard: str, until_ms: int) -> Iterator[tuple[str, str]]:
        """(tenantId, jobId) of endpoints in `shard` due for analysis by `until_ms`; the job of
        a state item without one is read from its configuration, a page at a time."""
        query = EndpointItem.by_analysis.query(
            shard, EndpointItem.analysis_due_at <= until_ms, page_size=_PAGE
        )
        unknown: list[tuple[str, str]] = []
        for item in query:
            if item.job_id is not None:
                yield item.tenant_id, item.job_id
                continue
            unknown.append((item.tenant_id, endpoint_id_of(item.endpoint_id)))
            if len(unknown) >= _PAGE:
                yield from _jobs_of(unknown)
                unknown = []
        yield from _jobs_of(unknown)


# Keys a BatchGetItem request reads at most (pynamodb splits longer lists itself).
_PAGE = 100


def _with_states(configs: list[EndpointItem]) -> list[EndpointItem]:
    """The configurations followed by the state items of those that have one, read by key
    (eventually consistent, as the index the configurations came from)."""
    keys = [(c.tenant_id, state_key(c.endpoint_id)) for c in configs if not is_one_item(c)]
    return [*configs, *(EndpointItem.batch_get(keys) if keys else [])]


def _jobs_of(keys: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(tenantId, jobId) from the configurations of `keys` (tenantId, endpointId) that exist."""
    if not keys:
        return
    wanted = ["tenantId", "endpointId", "jobId"]
    for config in EndpointItem.batch_get(keys, attributes_to_get=wanted):
        if config.job_id is not None:
            yield config.tenant_id, config.job_id


def _with_configs(entries: Iterable[EndpointItem], page_size: int) -> Iterator[Endpoint]:
    """Due-index entries (state items, or older one-item endpoints) as whole endpoints, their
    configurations fetched by key a page at a time, in the index's order."""
    page: list[EndpointItem] = []
    for entry in entries:
        page.append(entry)
        if len(page) >= page_size:
            yield from _completed(page)
            page = []
    yield from _completed(page)


def _completed(page: list[EndpointItem]) -> Iterator[Endpoint]:
    keys = [
        (i.tenant_id, endpoint_id_of(i.endpoint_id)) for i in page if is_state_key(i.endpoint_id)
    ]
    configs: dict[tuple[str, str], EndpointItem] = {}
    if keys:
        configs = {(c.tenant_id, c.endpoint_id): c for c in EndpointItem.batch_get(keys)}
    for entry in page:
        if not is_state_key(entry.endpoint_id):
            yield merged(entry, None)
            continue
        config = configs.get((entry.tenant_id, endpoint_id_of(entry.endpoint_id)))
        if config is not None:  # deleted meanwhile otherwise
            yield merged(config, entry)


def _key_attrs(model: Any) -> list[str]:
    return [a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key]
