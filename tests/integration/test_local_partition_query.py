"""The local store's partition-scoped queries answer exactly what moto's own query answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.local import partition_query
from chalicelib.local.persistence import dynamodb_backend

REGION = "us-east-1"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="runs",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": "S"}
                for a in ("endpointId", "runId", "tenantId", "status")
            ],
            KeySchema=[
                {"AttributeName": "endpointId", "KeyType": "HASH"},
                {"AttributeName": "runId", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byTenant",
                    "KeySchema": [
                        {"AttributeName": "tenantId", "KeyType": "HASH"},
                        {"AttributeName": "runId", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "byStatus",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        )
        ddb.create_table(
            TableName="jobs",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        )
        for i in range(240):
            item = {
                "endpointId": {"S": f"ep{i % 7}"},
                "runId": {"S": f"run{(i * 37) % 240:04d}"},
                "tenantId": {"S": f"t{i % 3}"},
                "n": {"N": str(i)},
            }
            if i % 5 == 0:  # a sparse index: only some items carry the key
                item["status"] = {"S": "running" if i % 10 else "failed"}
            ddb.put_item(TableName="runs", Item=item)
        for i in range(30):
            ddb.put_item(TableName="jobs", Item={"jobId": {"S": f"job{i:02d}"}})
        try:
            yield ddb
        finally:
            partition_query.uninstall()
            # Another moto may be active around this one (the session's): leave it as found.
            ddb.delete_table(TableName="runs")
            ddb.delete_table(TableName="jobs")


def _all_pages(ddb: Any, **request: Any) -> list[Any]:
    pages = []
    while True:
        page = ddb.query(**request)
        pages.append((page.get("Items"), page["Count"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


QUERIES: list[dict[str, Any]] = [
    {
        "KeyConditionExpression": "endpointId = :e",
        "ExpressionAttributeValues": {":e": {"S": "ep3"}},
    },
    {
        "KeyConditionExpression": "endpointId = :e AND runId > :r",
        "ExpressionAttributeValues": {":e": {"S": "ep1"}, ":r": {"S": "run0100"}},
        "ScanIndexForward": False,
        "Limit": 4,
    },
    {
        "KeyConditionExpression": "endpointId = :e AND begins_with(runId, :p)",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":e": {"S": "ep0"}, ":p": {"S": "run01"}, ":n": {"N": "50"}},
        "Limit": 3,
    },
    {
        "KeyConditionExpression": "endpointId = :e",
        "ExpressionAttributeValues": {":e": {"S": "ep5"}},
        "Select": "COUNT",
    },
    {
        # An endpoint's two items (store/endpoints.py's get) are read this way.
        "KeyConditionExpression": "endpointId = :e AND runId BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":e": {"S": "ep2"},
            ":a": {"S": "run0050"},
            ":b": {"S": "run0150"},
        },
        "ConsistentRead": True,
        "Limit": 5,
    },
    {
        "KeyConditionExpression": "endpointId = :e AND runId <= :r",
        "ExpressionAttributeValues": {":e": {"S": "ep4"}, ":r": {"S": "run0120"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "endpointId = :e",
        "ExpressionAttributeValues": {":e": {"S": "no"}},
    },
    {
        "IndexName": "byTenant",
        "KeyConditionExpression": "tenantId = :t AND runId BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":t": {"S": "t2"},
            ":a": {"S": "run0010"},
            ":b": {"S": "run0200"},
        },
        "ScanIndexForward": False,
        "Limit": 7,
    },
    {
        "IndexName": "byStatus",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "running"}},
        "Limit": 5,
    },
]


def _answers(ddb: Any) -> list[list[Any]]:
    """Every page of every query in QUERIES, then of one on a table without range key."""
    answers = [_all_pages(ddb, TableName="runs", **q) for q in QUERIES]
    answers.append(
        _all_pages(
            ddb,
            TableName="jobs",
            KeyConditionExpression="jobId = :j",
            ExpressionAttributeValues={":j": {"S": "job07"}},
        )
    )
    return answers


def test_every_query_answers_as_moto_does_page_by_page(client: Any) -> None:
    before = _answers(client)
    partition_query.install()
    partition_query.install()  # idempotent: a second install must not wrap twice
    after = _answers(client)
    assert after == before
    # The comparison is not vacuous: the queries return items, over several pages.
    assert sum(count for pages in before for _, count, _ in pages) > 100
    assert any(len(pages) > 2 for pages in before)
    assert before[-1][0][1] == 1


def test_a_query_reads_only_its_partition_and_adds_none(client: Any) -> None:
    partition_query.install()
    table = dynamodb_backend(REGION).get_table("runs")
    seen: list[int] = []
    narrowed = type(table).all_items

    def spy(self: Any) -> list[Any]:
        listed: list[Any] = narrowed(self)
        seen.append(len(listed))
        return listed

    type(table).all_items = spy
    try:
        partitions = len(table.items)
        client.query(
            TableName="runs",
            KeyConditionExpression="endpointId = :e",
            ExpressionAttributeValues={":e": {"S": "ep2"}},
        )
        client.query(
            TableName="runs",
            KeyConditionExpression="endpointId = :e",
            ExpressionAttributeValues={":e": {"S": "missing"}},
        )
        scanned = client.scan(TableName="runs", Limit=10)
    finally:
        type(table).all_items = narrowed
    # 240 items over 7 partitions: ep2 holds 34; a miss lists none; a scan still sees all.
    assert seen == [34, 0, 240]
    assert len(table.items) == partitions
    assert len(scanned["Items"]) == 10
