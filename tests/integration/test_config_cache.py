"""A claim uses the configuration it already holds when the claimed state names that version,
and reads it otherwise: a changed configuration is called at once, never a stale one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.timing import Keep
from chalicelib.store.endpoint_items import config_item, state_item, state_key
from chalicelib.store.endpoints import StaleWrite
from chalicelib.store.models import EndpointItem
from tests.conftest import Api
from tests.integration.fakes import StubCaller
from tests.integration.slots import endpoint_of, run_due


def _versions(endpoint_id: str) -> tuple[int, int | None]:
    """(the configuration's version, the configVersion its state names)."""
    config = EndpointItem.get("acme", endpoint_id, consistent_read=True)
    state = EndpointItem.get("acme", state_key(endpoint_id), consistent_read=True)
    named = None if state.config_version is None else int(state.config_version)
    return int(config.version or 0), named


def _change(api: Api, job: dict[str, Any], endpoint: dict[str, Any], body: dict[str, Any]) -> None:
    """Change the endpoint through the API, as a person would."""
    reply = api.patch(f"/api/jobs/{job['id']}/endpoints/{endpoint['id']}", body)
    assert reply.status == 200, reply.body


@pytest.fixture
def get_items() -> Iterator[list[dict[str, Any]]]:
    """Every GetItem request sent to DynamoDB while the test runs."""
    client = EndpointItem._get_connection().connection.client
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    client.meta.events.register("before-parameter-build.dynamodb.GetItem", record)
    yield seen
    client.meta.events.unregister("before-parameter-build.dynamodb.GetItem", record)


def _config_reads(seen: list[dict[str, Any]], endpoint_id: str) -> int:
    return sum(1 for p in seen if p["Key"].get("endpointId") == {"S": endpoint_id})


def test_a_state_names_the_version_of_the_configuration_written_with_it(
    deps: Deps, api: Api, job: dict[str, Any], endpoint: dict[str, Any], clock: ManualClock
) -> None:
    assert _versions(endpoint["id"]) == (1, 1)
    _change(api, job, endpoint, {"name": "Renamed"})
    assert _versions(endpoint["id"]) == (2, 2)
    clock.advance(timedelta(seconds=1))
    deps.scheduling.change(
        "acme", endpoint["id"], lambda ep, now: (replace(ep, failure_count=2), Keep())
    )
    assert _versions(endpoint["id"]) == (2, 2), "a state-only write names the same version"


def test_a_configuration_written_alone_rewrites_its_state(
    deps: Deps, endpoint: dict[str, Any]
) -> None:
    # Nothing but the name changes (not even updatedAt): the state is still written, naming
    # the new version, so no claim can pair it with the configuration before.
    read = endpoint_of(deps, endpoint["id"])
    state_before = EndpointItem.get("acme", state_key(endpoint["id"]), consistent_read=True)
    saved = deps.endpoints.save(replace(read, name="Renamed"), before=read)
    state_after = EndpointItem.get("acme", state_key(endpoint["id"]), consistent_read=True)
    assert int(state_after.version) == int(state_before.version) + 1
    assert _versions(endpoint["id"]) == (saved.version, saved.version) == (2, 2)
    # A writer holding the state read before the change is sent back to a read.
    with pytest.raises(StaleWrite):
        deps.endpoints.save(replace(read, failure_count=3), before=read)


def test_a_second_claim_of_an_unchanged_endpoint_reads_no_configuration(
    deps: Deps,
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    get_items: list[dict[str, Any]],
) -> None:
    run_due(deps, clock, endpoint["id"])
    assert _config_reads(get_items, endpoint["id"]) == 1
    run_due(deps, clock, endpoint["id"])
    run_due(deps, clock, endpoint["id"])
    assert _config_reads(get_items, endpoint["id"]) == 1
    assert [c.url for c in stub.calls] == [endpoint["url"]] * 3


def test_a_configuration_changed_between_runs_is_called_at_once(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    get_items: list[dict[str, Any]],
) -> None:
    run_due(deps, clock, endpoint["id"])
    moved = "https://api.example.com/v2/health"
    _change(api, job, endpoint, {"url": moved, "timeoutMs": 5000})
    run_due(deps, clock, endpoint["id"])
    assert [c.url for c in stub.calls] == [endpoint["url"], moved]
    assert stub.calls[-1].timeout_ms == 5000
    assert _config_reads(get_items, endpoint["id"]) == 2
    # The new version is held from then on.
    run_due(deps, clock, endpoint["id"])
    assert [c.url for c in stub.calls][-1] == moved
    assert _config_reads(get_items, endpoint["id"]) == 2


def test_a_configuration_changed_during_a_call_is_used_by_the_next_claim(
    deps: Deps,
    api: Api,
    job: dict[str, Any],
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
) -> None:
    moved = "https://api.example.com/v3/health"

    def change() -> None:
        stub.during = None
        _change(api, job, endpoint, {"url": moved})

    stub.during = change
    run_due(deps, clock, endpoint["id"])  # the settle re-reads after the change
    run_due(deps, clock, endpoint["id"])
    assert [c.url for c in stub.calls] == [endpoint["url"], moved]
    assert _versions(endpoint["id"]) == (2, 2)


def test_a_state_naming_no_version_sends_the_claim_to_a_read(
    deps: Deps,
    endpoint: dict[str, Any],
    clock: ManualClock,
    stub: StubCaller,
    get_items: list[dict[str, Any]],
) -> None:
    # As the release before writes an endpoint: both items whole, the state naming no
    # configuration version. Its claim must read the configuration, not trust one held.
    run_due(deps, clock, endpoint["id"])
    ep = endpoint_of(deps, endpoint["id"])
    moved = replace(ep, url="https://api.example.com/older-release")
    older_config = config_item(moved)
    older_config.save()
    older_state = state_item(moved)
    older_state.save()
    assert _versions(endpoint["id"])[1] is None
    get_items.clear()
    run_due(deps, clock, endpoint["id"])
    assert stub.calls[-1].url == "https://api.example.com/older-release"
    assert _config_reads(get_items, endpoint["id"]) == 1
    # Its settle, written by this release, names the version again.
    assert _versions(endpoint["id"]) == (int(older_config.version), int(older_config.version))


def test_a_deleted_endpoint_is_forgotten(
    deps: Deps, endpoint: dict[str, Any], clock: ManualClock, stub: StubCaller
) -> None:
    run_due(deps, clock, endpoint["id"])
    held = len(deps.endpoints._configs)
    deps.endpoints.delete(endpoint_of(deps, endpoint["id"]))
    assert len(deps.endpoints._configs) == held - 1
