"""An endpoint as two items: runs rewrite only the small state item; the listing, the due index,
the claim and deletes see one endpoint; endpoints stored in the older one-item layout are read
as they are and split by their first write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.timeutil import to_ms
from chalicelib.domain.timing import Keep
from chalicelib.store.endpoint_items import (
    STATE_FIELDS,
    config_item,
    pair_up,
    state_item,
    state_key,
)
from chalicelib.store.endpoints import StaleWrite
from chalicelib.store.models import EndpointItem
from tests.integration.fakes import StubCaller
from tests.integration.slots import endpoint_of, run_due


def _raw(tenant_id: str, key: str) -> dict[str, Any] | None:
    try:
        item = EndpointItem.get(tenant_id, key, consistent_read=True)
    except EndpointItem.DoesNotExist:
        return None
    data: dict[str, Any] = item.attribute_values
    return data


def _legacy(deps: Deps, ep: Endpoint) -> None:
    """Store `ep` as the release before the split did: one item with every attribute."""
    EndpointItem(ep.tenant_id, state_key(ep.id)).delete(add_version_condition=False)
    EndpointItem(ep.tenant_id, ep.id).delete(add_version_condition=False)
    EndpointItem(
        ep.tenant_id,
        ep.id,
        **{
            name: value
            for name, value in {
                **config_item(ep).attribute_values,
                **state_item(ep).attribute_values,
            }.items()
            if name not in ("tenant_id", "endpoint_id", "version")
        },
    ).save()


def test_a_created_endpoint_is_a_configuration_and_a_state(
    deps: Deps, endpoint: dict[str, Any]
) -> None:
    config = _raw("acme", endpoint["id"])
    state = _raw("acme", state_key(endpoint["id"]))
    assert config is not None and state is not None
    assert config["url"] == endpoint["url"] and "next_run_at" not in config
    assert "due_shard" not in config and "name" not in state
    assert state["next_run_at"] == to_ms(endpoint_of(deps, endpoint["id"]).next_run_at)
    # Only the configuration is in byJob: a run's writes to the state cost no copy there.
    assert config["job_id"] == endpoint["jobId"] and "job_id" not in state
    in_by_job = list(EndpointItem.by_job.query(endpoint["jobId"]))
    assert [i.endpoint_id for i in in_by_job] == [endpoint["id"]]


def test_a_run_rewrites_the_state_and_leaves_the_configuration(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    before = _raw("acme", endpoint["id"])
    state_before = _raw("acme", state_key(endpoint["id"]))
    run_due(deps, clock, endpoint["id"])
    assert _raw("acme", endpoint["id"]) == before
    state_after = _raw("acme", state_key(endpoint["id"]))
    assert state_before is not None and state_after is not None
    assert state_after["version"] > state_before["version"]
    assert state_after["last_run_at"] is not None


def test_a_configuration_change_and_a_run_both_land(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    read = endpoint_of(deps, endpoint["id"])
    renamed = deps.endpoints.save(replace(read, name="Renamed"), before=read)
    # The rename rewrote the state too, naming the new configuration's version (a claim trusts
    # a configuration it holds only at that version), so a settle holding the state read
    # before it is sent back to a read ...
    moved = replace(read, failure_count=2, next_run_at=read.next_run_at + timedelta(minutes=5))
    with pytest.raises(StaleWrite):
        deps.endpoints.save(moved, before=read)
    # ... which the scheduling chokepoint, the settle's path, makes and retries from.
    deps.scheduling.change(
        "acme", endpoint["id"], lambda ep, now: (replace(ep, failure_count=2), Keep()), read
    )
    both = endpoint_of(deps, endpoint["id"])
    assert both.name == "Renamed" and both.failure_count == 2
    assert renamed.version == both.version
    # A second writer of the same item still loses, on either item.
    with pytest.raises(StaleWrite):
        deps.endpoints.save(replace(read, name="Again"), before=read)
    with pytest.raises(StaleWrite):
        deps.endpoints.save(replace(read, failure_count=3), before=read)
    assert endpoint_of(deps, endpoint["id"]).failure_count == 2


def test_the_job_listing_and_the_due_index_return_whole_endpoints(
    deps: Deps, endpoint: dict[str, Any], job: dict[str, Any], clock: ManualClock
) -> None:
    listed = deps.endpoints.list_by_job("acme", job["id"])
    assert [e.id for e in listed] == [endpoint["id"]]
    assert listed[0] == endpoint_of(deps, endpoint["id"])
    ep = listed[0]
    due = [
        e
        for shard in range(deps.settings.due_shards)
        for e in deps.endpoints.due(str(shard), to_ms(ep.next_run_at))
    ]
    assert due == [ep]
    assert deps.endpoints.list_by_tenant("acme") == [ep]
    assert deps.endpoints.memberships("acme") == [(job["id"], False)]


def test_a_listing_that_sees_one_item_of_an_endpoint_leaves_it_out(
    deps: Deps, endpoint: dict[str, Any]
) -> None:
    # The byJob index shows the two items of a creation or a delete one at a time on AWS
    # (moto's indexes are synchronous, so the other item is removed by hand here).
    ep = endpoint_of(deps, endpoint["id"])
    EndpointItem(ep.tenant_id, state_key(ep.id)).delete(add_version_condition=False)
    assert deps.endpoints.list_by_job("acme", ep.job_id) == []
    assert pair_up([config_item(ep)]) == []
    assert pair_up([state_item(ep)]) == []
    # An endpoint stored in the older one-item layout is whole on its own.
    _legacy(deps, ep)
    assert [e.id for e in deps.endpoints.list_by_job("acme", ep.job_id)] == [ep.id]


def test_a_delete_removes_both_items(deps: Deps, endpoint: dict[str, Any]) -> None:
    deps.endpoints.delete(endpoint_of(deps, endpoint["id"]))
    assert _raw("acme", endpoint["id"]) is None
    assert _raw("acme", state_key(endpoint["id"])) is None
    assert deps.endpoints.get("acme", endpoint["id"]) is None


def test_an_endpoint_in_the_older_layout_is_read_then_split_by_its_claim(
    deps: Deps, endpoint: dict[str, Any], job: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    ep = endpoint_of(deps, endpoint["id"])
    _legacy(deps, ep)
    old = endpoint_of(deps, endpoint["id"])
    assert old.state_version is None
    assert replace(old, version=0, state_version=0) == replace(ep, version=0, state_version=0)
    assert [e.id for e in deps.endpoints.list_by_job("acme", job["id"])] == [ep.id]
    due = list(deps.endpoints.due(str(ep.due_shard), to_ms(ep.next_run_at)))
    assert [e.id for e in due] == [ep.id] and due[0].state_version is None

    run_due(deps, clock, endpoint["id"])  # the claim splits it, then claims the state item

    config = _raw("acme", endpoint["id"])
    assert config is not None
    assert not set(config) & set(STATE_FIELDS) - {"updated_at"}, "state left in the config"
    after = endpoint_of(deps, endpoint["id"])
    assert after.state_version is not None and after.last_run_at is not None
    assert after.name == ep.name and after.url == ep.url
    assert len(stub.calls) == 1


def test_an_older_endpoint_is_split_by_a_configuration_change(
    deps: Deps, endpoint: dict[str, Any]
) -> None:
    _legacy(deps, endpoint_of(deps, endpoint["id"]))
    old = endpoint_of(deps, endpoint["id"])
    deps.endpoints.save(replace(old, name="Split"), before=old)
    assert _raw("acme", state_key(endpoint["id"])) is not None
    assert endpoint_of(deps, endpoint["id"]).name == "Split"


def test_an_older_endpoint_moves_shard_and_is_marked_enqueued(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock
) -> None:
    ep = endpoint_of(deps, endpoint["id"])
    _legacy(deps, ep)
    assert ep.due_shard is not None
    assert deps.endpoints.move_shard("acme", ep.id, ep.due_shard, "99")
    assert not deps.endpoints.move_shard("acme", ep.id, ep.due_shard, "98")
    moved = endpoint_of(deps, endpoint["id"])
    assert moved.due_shard == "99" and moved.state_version is None
    assert deps.endpoints.mark_enqueued("acme", ep.id, moved.next_run_at, clock.now())
    marked = endpoint_of(deps, endpoint["id"])
    assert marked.state_version is not None and marked.enqueued_slot == moved.next_run_at


def test_a_transaction_cancelled_by_a_conflicting_write_is_retried(
    deps: Deps, endpoint: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # DynamoDB cancels a transaction when another write to one of its items is in flight;
    # moto never does, so the first two commits are made to fail as DynamoDB would.
    from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError
    from pynamodb.transactions import TransactWrite

    commit = TransactWrite._commit
    attempts: list[int] = []

    def conflicting(self: TransactWrite) -> Any:
        attempts.append(1)
        if len(attempts) <= 2:
            cause = VerboseClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}},
                "TransactWriteItems",
                cancellation_reasons=[CancellationReason(code="TransactionConflict"), None],
            )
            raise TransactWriteError("Failed to write transaction items", cause)
        return commit(self)

    monkeypatch.setattr(TransactWrite, "_commit", conflicting)
    read = endpoint_of(deps, endpoint["id"])
    with pytest.raises(StaleWrite):
        deps.endpoints.save(replace(read, name="Both", failure_count=1), before=read)
    # Through the scheduling chokepoint, the API's path, the conflict is re-read and retried.
    changed = deps.scheduling.change(
        "acme", endpoint["id"], lambda ep, now: (replace(ep, name="Both", failure_count=1), Keep())
    )
    assert changed.name == "Both" and len(attempts) == 3
    assert endpoint_of(deps, endpoint["id"]).name == "Both"


def _state_as_the_release_before(deps: Deps, endpoint_id: str) -> None:
    """Rewrite the state item as the release before wrote it: carrying its job's id."""
    ep = endpoint_of(deps, endpoint_id)
    item = state_item(ep)
    item.job_id = ep.job_id
    item.save()


def _by_job(job_id: str) -> list[str]:
    return sorted(i.endpoint_id for i in EndpointItem.by_job.query(job_id))


def test_a_state_item_with_its_job_lists_once_and_leaves_byjob_at_its_settle(
    deps: Deps, endpoint: dict[str, Any], job: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    _state_as_the_release_before(deps, endpoint["id"])
    assert _by_job(job["id"]) == [endpoint["id"], state_key(endpoint["id"])]
    listed = deps.endpoints.list_by_job("acme", job["id"])
    assert listed == [endpoint_of(deps, endpoint["id"])]

    run_due(deps, clock, endpoint["id"])  # the claim updates it in place; the settle rewrites it

    assert _by_job(job["id"]) == [endpoint["id"]]
    after = deps.endpoints.list_by_job("acme", job["id"])
    assert [e.id for e in after] == [endpoint["id"]] and after[0].last_run_at is not None
    assert len(stub.calls) == 1


def test_a_listing_reads_every_state_of_a_large_job(
    deps: Deps, endpoint: dict[str, Any], job: dict[str, Any]
) -> None:
    # More endpoints than one BatchGetItem reads: the listing must not lose the rest.
    template = endpoint_of(deps, endpoint["id"])
    made = [
        deps.endpoints.save(replace(template, id=f"ep_many{n:03d}", version=0, state_version=None))
        for n in range(120)
    ]
    listed = deps.endpoints.list_by_job("acme", job["id"])
    assert len(listed) == 121
    assert {e.id for e in listed} == {endpoint["id"], *(m.id for m in made)}
    assert all(e.state_version is not None for e in listed)


def test_the_analysis_index_finds_the_job_of_a_state_item_without_one(
    deps: Deps, endpoint: dict[str, Any], job: dict[str, Any], clock: ManualClock
) -> None:
    ep = endpoint_of(deps, endpoint["id"])
    assert ep.due_shard is not None
    due = deps.endpoints.save(replace(ep, analysis_due_at=clock.now()), before=ep)
    assert "job_id" not in (_raw("acme", state_key(ep.id)) or {"job_id": "?"})
    now_ms = to_ms(clock.now())
    assert list(deps.endpoints.due_for_analysis(ep.due_shard, now_ms)) == [("acme", job["id"])]
    # Nothing for a state whose configuration is gone (deleted; the state still indexed).
    EndpointItem(ep.tenant_id, ep.id).delete(add_version_condition=False)
    assert list(deps.endpoints.due_for_analysis(ep.due_shard, now_ms)) == []
    # A state item that still carries its job is answered from the index alone.
    older = state_item(due)
    older.job_id = due.job_id
    older.save()
    assert list(deps.endpoints.due_for_analysis(ep.due_shard, now_ms)) == [("acme", job["id"])]
