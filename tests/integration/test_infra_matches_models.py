"""infra/resources.json is the one definition of the tables; the pynamodb models must agree."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.infra import load_template, table_name
from chalicelib.store.models import TABLES

TEMPLATE = load_template()["Resources"]
TYPES = {"S": "S", "N": "N", "B": "B"}


def _keys(schema: Any) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def _model_indexes(model: type[Model]) -> dict[str, GlobalSecondaryIndex[Any]]:
    return {
        v.Meta.index_name: v for v in vars(model).values() if isinstance(v, GlobalSecondaryIndex)
    }


def _attr_types(model: type[Model]) -> dict[str, str]:
    return {a.attr_name: a.attr_type for a in model.get_attributes().values()}


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_table_definition_matches_model(logical_id: str) -> None:
    model, suffix = TABLES[logical_id]
    resource = TEMPLATE[logical_id]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    props = resource["Properties"]
    assert table_name(props["TableName"], "stack") == f"stack-{suffix}"

    schema = model._get_schema()
    assert _keys(props["KeySchema"]) == _keys(schema["key_schema"])

    declared = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    types = _attr_types(model)
    for name, kind in declared.items():
        assert types[name] == kind, f"{logical_id}.{name}: infra {kind}, model {types[name]}"

    infra_indexes = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    model_indexes = _model_indexes(model)
    assert set(infra_indexes) == set(model_indexes)
    for name, index in model_indexes.items():
        infra = infra_indexes[name]
        index_schema = index._get_schema()
        assert _keys(infra["KeySchema"]) == _keys(index_schema["key_schema"])
        assert infra["Projection"] == index_schema["projection"]

    ttl_attrs = [
        a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)
    ]
    infra_ttl = props.get("TimeToLiveSpecification")
    if ttl_attrs:
        assert infra_ttl == {"AttributeName": ttl_attrs[0], "Enabled": True}
    else:
        assert infra_ttl is None


def test_every_table_in_infra_has_a_model() -> None:
    tables = {k for k, v in TEMPLATE.items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert tables == set(TABLES)


def test_tables_have_point_in_time_recovery() -> None:
    for logical_id in TABLES:
        props = TEMPLATE[logical_id]["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"
