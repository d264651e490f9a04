"""Every table on one botocore client, built once even when threads race to use it first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from chalicelib.deps import Deps
from chalicelib.store import client, models
from chalicelib.store.models import TABLES


@pytest.fixture
def created(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The services of the botocore clients built from now on, with every table unbound."""
    services: list[str] = []
    build = botocore.session.Session.create_client

    def counting(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        services.append(service_name)
        return build(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    for model, _ in TABLES.values():
        model._connection = None
    client.forget()
    yield services
    client.forget()


def test_threads_using_every_table_at_once_build_one_client(deps: Deps, created: list[str]) -> None:
    start = threading.Barrier(16)
    failures: list[BaseException] = []

    def first_use() -> None:
        try:
            start.wait()
            for model, _ in TABLES.values():
                model._get_connection().connection.client  # noqa: B018
        except BaseException as exc:  # reported below: a thread's error would vanish
            failures.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert created == ["dynamodb"]
    clients = {id(model._get_connection().connection.client) for model, _ in TABLES.values()}
    assert len(clients) == 1


def test_reads_writes_and_transactions_go_through_the_shared_client(
    deps: Deps, created: list[str]
) -> None:
    assert deps.tenants.get("nobody") is None
    shared = models.TenantItem._get_connection().connection.client
    assert deps.endpoints._transaction()._connection.client is shared
    assert deps.incidents._transaction()._connection.client is shared
    assert created == ["dynamodb"]


def test_binding_other_tables_builds_a_client_for_them(deps: Deps, created: list[str]) -> None:
    before = models.TenantItem._get_connection().connection.client
    models.bind(deps.settings.__class__.from_env({"AWS_REGION": "eu-west-1"}))
    try:
        after = models.TenantItem._get_connection().connection.client
        assert after is not before and after.meta.region_name == "eu-west-1"
        assert created == ["dynamodb", "dynamodb"]
    finally:
        models.bind(deps.settings)
