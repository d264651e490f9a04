"""Saving and restoring the local stack's tables, against in-process moto (same backend code the
store process uses)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.clock import ManualClock
from chalicelib.infra import provision
from chalicelib.local import persistence
from chalicelib.local.store_server import (
    Saver,
    WriteGate,
    disable_instance_tracking,
    table_names,
)
from chalicelib.store.models import TABLES

STACK = "cp-persist"
REGION = "us-east-1"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def tables(aws: None) -> Iterator[dict[str, str]]:
    """The infra/ tables under their own prefix, emptied after each test."""
    provision(STACK, REGION)
    names = table_names(STACK)
    yield names
    backend = persistence.dynamodb_backend(REGION)
    for name in names.values():
        backend.tables[name].items.clear()


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def put_tenant(ddb: Any, names: dict[str, str], tenant_id: str) -> None:
    ddb.put_item(
        TableName=names["tenants"],
        Item={
            "tenantId": {"S": tenant_id},
            "name": {"S": tenant_id.title()},
            "createdAt": {"N": "1"},
            "limits": {"S": "{}"},
            "tags": {"SS": ["a", "b"]},
            "nested": {"M": {"list": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
        },
    )


def put_run(ddb: Any, names: dict[str, str], run_id: str, expires_at: float) -> None:
    ddb.put_item(
        TableName=names["runs"],
        Item={
            "endpointId": {"S": "ep1"},
            "runId": {"S": run_id},
            "tenantId": {"S": "acme"},
            "startedAt": {"N": "1000"},
            "status": {"S": "success"},
            "expiresAt": {"N": str(int(expires_at))},
        },
    )


def test_export_then_import_restores_items_and_indexes(tables: dict[str, str], ddb: Any) -> None:
    put_tenant(ddb, tables, "acme")
    put_run(ddb, tables, "run_live", NOW.timestamp() + 3600)
    backend = persistence.dynamodb_backend(REGION)

    exported = persistence.export_tables(backend, tables, NOW.timestamp())
    assert set(exported) == set(tables)
    assert len(exported["tenants"]) == 1 and len(exported["runs"]) == 1
    tenant = exported["tenants"][0]
    assert tenant["tags"] == {"SS": ["a", "b"]}
    assert tenant["nested"]["M"]["list"]["L"][1] == {"BOOL": True}

    data = persistence.encode(exported, NOW)
    for name in tables.values():
        backend.tables[name].items.clear()
    report = persistence.import_tables(backend, tables, persistence.decode(data))

    assert report.restored == 2 and report.rejected_items == 0 and report.missing_tables == []
    got = ddb.get_item(TableName=tables["tenants"], Key={"tenantId": {"S": "acme"}})["Item"]
    assert got == tenant
    by_tenant = ddb.query(
        TableName=tables["runs"],
        IndexName="byTenant",
        KeyConditionExpression="tenantId = :t",
        ExpressionAttributeValues={":t": {"S": "acme"}},
    )
    assert [i["runId"]["S"] for i in by_tenant["Items"]] == ["run_live"]


def test_expired_items_are_not_saved(tables: dict[str, str], ddb: Any) -> None:
    # moto never enforces TTL; AWS would have deleted these, so a restart does too.
    put_run(ddb, tables, "run_old", NOW.timestamp() - 1)
    put_run(ddb, tables, "run_new", NOW.timestamp() + 1)
    backend = persistence.dynamodb_backend(REGION)

    exported = persistence.export_tables(backend, tables, NOW.timestamp())

    assert [i["runId"]["S"] for i in exported["runs"]] == ["run_new"]


def test_import_skips_unknown_tables_and_unfit_items(tables: dict[str, str]) -> None:
    backend = persistence.dynamodb_backend(REGION)
    saved: dict[str, list[dict[str, Any]]] = {
        "renamed-table": [{"id": {"S": "x"}}],
        "tenants": [{"name": {"S": "no key attribute"}}, {"tenantId": {"S": "ok"}}],
    }

    report = persistence.import_tables(backend, tables, saved)

    assert report.missing_tables == ["renamed-table"]
    assert report.rejected_items == 1 and report.restored == 1


def test_write_atomic_replaces_the_file_privately(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    os.chmod(path, 0o644)

    persistence.write_atomic(path, b"new")

    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_load_without_a_file_is_empty(tmp_path: Path) -> None:
    assert persistence.load(tmp_path / "missing.json", ManualClock(NOW)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format": "something-else", "version": 1, "tables": {}}',
        b'{"format": "cronpilot-local-dynamodb", "version": 99, "tables": {}}',
        b'{"format": "cronpilot-local-dynamodb", "version": 1, "tables": {"t": "x"}}',
    ],
)
def test_an_unusable_file_is_kept_aside_with_a_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="cronpilot-local.persistence"):
        assert persistence.load(path, ManualClock(NOW)) is None

    assert not path.exists()
    aside = tmp_path / "state.json.bad-20250601T000000Z"
    assert aside.read_bytes() == content
    assert "unusable" in caplog.text and str(aside) in caplog.text


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    tables = {"tenants": [{"tenantId": {"S": "a"}}], "runs": []}

    persistence.write_atomic(path, persistence.encode(tables, NOW))

    assert persistence.load(path, ManualClock(NOW)) == tables


def _call(gate: WriteGate, target: str | None) -> list[bytes]:
    environ: dict[str, Any] = {} if target is None else {"HTTP_X_AMZ_TARGET": target}
    return list(gate(environ, lambda *args: None))


def test_write_gate_counts_dynamodb_writes_only() -> None:
    seen: list[bool] = []

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        seen.append(gate.lock.locked())
        return [b"ok"]

    gate = WriteGate(app)
    writes = ["PutItem", "TransactWriteItems", "SomeFutureWrite"]
    for operation in writes:
        assert _call(gate, f"DynamoDB_20120810.{operation}") == [b"ok"]
    for target in ("DynamoDB_20120810.Query", "AmazonSQS.SendMessage", None):
        assert _call(gate, target) == [b"ok"]

    assert gate.writes == 3
    # Writes run under the lock (one at a time), reads and other services do not.
    assert seen == [True, True, True, False, False, False]


def test_write_gate_sends_hot_services_straight_to_their_backend() -> None:
    served: list[str] = []

    def backend(name: str) -> Any:
        def app(environ: dict[str, Any], start: Any) -> list[bytes]:
            served.append(name)
            return [b""]

        return app

    gate = WriteGate(backend("dispatcher"), dynamodb=backend("dynamodb"), sqs=backend("sqs"))
    for target in (
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.PutItem",
        "AmazonSQS.ReceiveMessage",
        "CloudFormation.CreateStack",
        None,
    ):
        _call(gate, target)
    assert served == ["dynamodb", "dynamodb", "sqs", "dispatcher", "dispatcher"]
    assert gate.writes == 1


def test_saver_writes_only_after_writes(tables: dict[str, str], ddb: Any, tmp_path: Path) -> None:
    gate = WriteGate(lambda environ, start: [b""])
    path = tmp_path / "state.json"
    clock = ManualClock(NOW)
    saver = Saver(gate, persistence.dynamodb_backend(REGION), tables, path, clock)

    assert saver.save_if_changed() is False
    assert not path.exists()

    put_tenant(ddb, tables, "acme")
    gate.writes += 1  # what the gate does when the PutItem goes through the server
    assert saver.save_if_changed() is True
    saved = persistence.load(path, clock)
    assert saved is not None and [t["tenantId"]["S"] for t in saved["tenants"]] == ["acme"]
    assert saver.save_if_changed() is False
    assert 1.0 <= saver.interval_s <= 2.0


def test_saver_keeps_trying_when_the_folder_is_gone(
    tables: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate = WriteGate(lambda environ, start: [b""])
    path = tmp_path / "gone" / "state.json"
    saver = Saver(gate, persistence.dynamodb_backend(REGION), tables, path, ManualClock(NOW))
    gate.writes += 1

    with caplog.at_level(logging.ERROR, logger="cronpilot-local.store"):
        assert saver.save_if_changed() is False
        assert saver.save_if_changed() is False
    assert caplog.text.count("cannot save local state") == 1  # reported once, retried

    path.parent.mkdir()
    assert saver.save_if_changed() is True


def test_table_names_cover_every_model_table() -> None:
    names = table_names("cronpilot-local")
    assert set(names) == {suffix for _, suffix in TABLES.values()}
    assert all(name == f"cronpilot-local-{key}" for key, name in names.items())


def test_an_unreadable_file_is_an_error_not_an_empty_start(tmp_path: Path) -> None:
    # Starting empty would overwrite the file at the first save.
    path = tmp_path / "state.json"
    path.mkdir()  # reading a directory fails like an I/O error would

    with pytest.raises(OSError):
        persistence.load(path, ManualClock(NOW))


def test_store_does_not_keep_every_queried_item(
    ddb: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item

    monkeypatch.setattr(BaseModel, "__new__", BaseModel.__new__)  # restored after the test
    disable_instance_tracking()
    put_tenant(ddb, tables, "acme")
    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    for _ in range(20):
        ddb.scan(TableName=tables["tenants"])
    assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]
