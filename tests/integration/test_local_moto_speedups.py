"""The store's moto shortcuts answer exactly what moto's own code answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import responses
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.responses import DynamoHandler

from chalicelib.local import moto_speedups

REGION = "us-east-1"

# Every kind of attribute value, nested, and the edge values of each.
ITEM: dict[str, Any] = {
    "pk": {"S": "endpoint#1"},
    "empty": {"S": ""},
    "n": {"N": "12.50"},
    "zero": {"N": "0"},
    "blob": {"B": b"\x00\x01compressed\xff"},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"x", b"\x00y"]},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "nothing": {"NULL": True},
    "emptyMap": {"M": {}},
    "emptyList": {"L": []},
    "map": {
        "M": {
            "inner": {"S": "value"},
            "deeper": {"M": {"list": {"L": [{"N": "1"}, {"S": "two"}, {"B": b"3"}]}}},
        }
    },
    "list": {"L": [{"M": {"k": {"BOOL": False}}}, {"L": [{"NULL": True}]}, {"SS": ["z"]}]},
}


def serialize(operation: str, result: Any) -> Any:
    """`result` as moto's DynamoDB JSON serializer writes it for `operation` (parsed back)."""
    model = get_service_model("dynamodb").operation_model(operation)
    picker = XFormedAttributePicker(response_transformers=None)
    serializer = JSONSerializer(operation_model=model, value_picker=picker)
    return json.loads(serializer.serialize(result)["body"])


def both(operation: str, result: Any) -> tuple[Any, Any]:
    """(moto's own answer, the shortcut's answer) for the same result."""
    moto_speedups.uninstall()
    own = serialize(operation, result)
    moto_speedups.install()
    try:
        fast = serialize(operation, result)
    finally:
        moto_speedups.uninstall()
    return own, fast


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    yield
    moto_speedups.uninstall()


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("GetItem", {"Item": ITEM}),
        ("UpdateItem", {"Attributes": ITEM, "ConsumedCapacity": {"TableName": "t"}}),
        ("Query", {"Items": [ITEM, {"pk": {"S": "2"}}], "Count": 2, "ScannedCount": 2,
                   "LastEvaluatedKey": {"pk": {"S": "2"}}}),
        ("BatchGetItem", {"Responses": {"t": [ITEM]}, "UnprocessedKeys": {}}),
        ("TransactGetItems", {"Responses": [{"Item": ITEM}, {}]}),
    ],
)  # fmt: skip
def test_answers_match_moto_for_every_kind_of_value(operation: str, result: Any) -> None:
    own, fast = both(operation, result)
    assert fast == own
    assert own  # the comparison is of something


@pytest.mark.parametrize(
    "odd",
    [
        {"X": "not a member"},  # unknown member: moto drops it
        {"S": None, "N": "1"},  # an absent member given as None
        {"L": [None, {"S": "a"}]},  # a None inside a list
        {"SS": ("a", "b")},  # a set given as a tuple
    ],
)
def test_values_outside_the_plain_wire_form_match_moto_too(odd: dict[str, Any]) -> None:
    own, fast = both("GetItem", {"Item": {"pk": {"S": "1"}, "odd": odd}})
    assert fast == own


def test_the_shortcut_refuses_what_it_does_not_mirror() -> None:
    def b64(value: Any) -> str:
        return "b64"

    assert moto_speedups.attribute_value({"B": b"x", "N": 5}, b64) == {"B": "b64", "N": "5"}
    for value in ITEM.values():  # the comparisons above took the shortcut for all of these
        moto_speedups.attribute_value(value, b64)
    odds: list[Any] = [{"X": "y"}, {"L": [None]}, {"M": []}, "S"]
    for odd in odds:
        with pytest.raises(moto_speedups.Unusual):
            moto_speedups.attribute_value(odd, b64)


@pytest.fixture
def ddb() -> Iterator[Any]:
    moto_speedups.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="speedups",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        try:
            yield client
        finally:
            client.delete_table(TableName="speedups")


def test_items_round_trip_through_boto3(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shortcuts: list[Any] = []
    plain = moto_speedups.attribute_value

    def counted(value: Any, base64: Any) -> dict[str, Any]:
        shortcuts.append(value)
        return plain(value, base64)

    monkeypatch.setattr(moto_speedups, "attribute_value", counted)
    item = {**ITEM, "sk": {"N": "1"}}
    ddb.put_item(TableName="speedups", Item=item)
    got = ddb.get_item(TableName="speedups", Key={"pk": ITEM["pk"], "sk": {"N": "1"}})["Item"]
    # DynamoDB normalises numbers and sets; compare with what moto stored, via moto's own path.
    assert len(shortcuts) >= len(item)  # the store's answers take the shortcut
    moto_speedups.uninstall()
    own = ddb.get_item(TableName="speedups", Key={"pk": ITEM["pk"], "sk": {"N": "1"}})["Item"]
    assert got == own
    assert got["blob"] == {"B": ITEM["blob"]["B"]}
    assert got["map"]["M"]["deeper"]["M"]["list"]["L"][2] == {"B": b"3"}


def test_a_condition_cached_by_its_text_is_judged_with_each_requests_values(ddb: Any) -> None:
    key = {"pk": {"S": "lock"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="speedups", Item={**key, "holder": {"S": "a"}, "v": {"N": "1"}})
    condition = "attribute_exists(pk) AND #h = :expected AND v < :limit"

    def take(expected: str, limit: str, new: str) -> bool:
        try:
            ddb.update_item(
                TableName="speedups",
                Key=key,
                UpdateExpression="SET #h = :new",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#h": "holder"},
                ExpressionAttributeValues={
                    ":expected": {"S": expected},
                    ":limit": {"N": limit},
                    ":new": {"S": new},
                },
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    assert take("a", "5", "b") is True
    assert take("a", "5", "c") is False  # the holder is b now
    assert take("b", "1", "c") is False  # v < 1 is false
    assert take("b", "2", "c") is True
    holder = ddb.get_item(TableName="speedups", Key=key)["Item"]["holder"]
    assert holder == {"S": "c"}
    filtered = ddb.query(
        TableName="speedups",
        KeyConditionExpression="pk = :pk",
        FilterExpression="#h = :expected",
        ExpressionAttributeNames={"#h": "holder"},
        ExpressionAttributeValues={":pk": {"S": "lock"}, ":expected": {"S": "c"}},
    )
    assert filtered["Count"] == 1


def test_lexed_nodes_are_new_for_every_parse() -> None:
    moto_speedups.install()
    expression = "attribute_not_exists(pk) OR #a <> :b"
    first = ConditionExpressionParser(expression, None, None)._lex_condition_expression()
    first[0].children.append("mutated by a caller")
    second = ConditionExpressionParser(expression, None, None)._lex_condition_expression()
    moto_speedups.uninstall()
    own = ConditionExpressionParser(expression, None, None)._lex_condition_expression()
    assert list(second) == list(own)
    assert second[0] is not first[0]
    with pytest.raises(ValueError, match="Cannot parse"):
        moto_speedups.install()
        ConditionExpressionParser("a = :b ;", None, None)._lex_condition_expression()


def test_method_names_are_listed_once_per_class() -> None:
    def used() -> Any:  # the name moto's call_action looks up at each request
        return vars(responses)["method_names_from_class"]

    own = used()
    moto_speedups.install()
    moto_speedups.install()  # idempotent: one layer, not two
    cached = used()
    assert cached is not own
    assert cached(DynamoHandler) == own(DynamoHandler)
    assert cached(DynamoHandler) is cached(DynamoHandler)
    assert "update_item" in own(DynamoHandler)
    moto_speedups.uninstall()
    assert used() is own
