"""The local store's transactions: applied whole or not at all, with no table copied."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import transactions
from chalicelib.local.persistence import dynamodb_backend

REGION = "us-east-1"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="endpoints",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "tenantId", "AttributeType": "S"},
                {"AttributeName": "endpointId", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "tenantId", "KeyType": "HASH"},
                {"AttributeName": "endpointId", "KeyType": "RANGE"},
            ],
        )
        for i in range(50):
            ddb.put_item(
                TableName="endpoints",
                Item={"tenantId": {"S": "t"}, "endpointId": {"S": f"e{i}"}, "v": {"N": "1"}},
            )
        transactions.install()
        try:
            yield ddb
        finally:
            transactions.uninstall()
            # Another test module turns off moto's instance tracking (as the store does), and
            # then leaving mock_aws no longer resets the tables.
            ddb.delete_table(TableName="endpoints")


def _key(endpoint_id: str) -> dict[str, Any]:
    return {"tenantId": {"S": "t"}, "endpointId": {"S": endpoint_id}}


def _items(ddb: Any) -> dict[str, dict[str, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName="endpoints")
    return {i["endpointId"]["S"]: i for page in pages for i in page["Items"]}


def _writes(condition_holds: bool) -> list[dict[str, Any]]:
    """A new item, a changed one, a deleted one, and a condition on a fourth."""
    return [
        {"Put": {"TableName": "endpoints", "Item": {**_key("new"), "v": {"N": "1"}}}},
        {
            "Update": {
                "TableName": "endpoints",
                "Key": _key("e1"),
                "UpdateExpression": "SET v = :two, w = :w",
                "ExpressionAttributeValues": {":two": {"N": "2"}, ":w": {"S": "x"}},
            }
        },
        {"Delete": {"TableName": "endpoints", "Key": _key("e2")}},
        {
            "ConditionCheck": {
                "TableName": "endpoints",
                "Key": _key("e3"),
                "ConditionExpression": "v = :v",
                "ExpressionAttributeValues": {":v": {"N": "1" if condition_holds else "9"}},
            }
        },
    ]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    before = _items(client)
    table = dynamodb_backend(REGION).tables["endpoints"]
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=_writes(condition_holds=False))
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(client) == before
    # The store's other parts hold this table object: it must still be the one in use.
    assert dynamodb_backend(REGION).tables["endpoints"] is table


def test_a_transaction_that_holds_is_applied_whole(client: Any) -> None:
    client.transact_write_items(TransactItems=_writes(condition_holds=True))
    after = _items(client)
    assert "new" in after and "e2" not in after
    assert after["e1"]["v"] == {"N": "2"} and after["e1"]["w"] == {"S": "x"}


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type names of everything deep-copied from here on."""
    names: list[str] = []
    deepcopy = copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        names.append(type(value).__name__)
        return deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    return names


def test_no_table_is_copied(client: Any, copied: list[str]) -> None:
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=_writes(condition_holds=False))
    client.transact_write_items(TransactItems=_writes(condition_holds=True))
    assert "Table" not in copied


def test_moto_copies_tables_without_it(client: Any, copied: list[str]) -> None:
    # The check above can fail: moto's own transaction copies the table.
    transactions.uninstall()
    client.transact_write_items(TransactItems=_writes(condition_holds=True))
    assert "Table" in copied
    transactions.install()  # for the fixture's uninstall
