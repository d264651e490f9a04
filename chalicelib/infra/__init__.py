"""Provision the resources of infra/resources.json: the one definition of tables and queues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
RESOURCES_FILE = INFRA_DIR / "resources.json"


def load_template() -> dict[str, Any]:
    """The CloudFormation template that defines every table and queue."""
    data: dict[str, Any] = json.loads(RESOURCES_FILE.read_text())
    return data


def provision(stack_name: str, region: str) -> None:
    """Create the stack through CloudFormation (moto locally), then apply TTL settings.

    moto's CloudFormation ignores TimeToLiveSpecification, so TTL is applied with the API from
    the same template; on AWS the call is a harmless repeat.
    """
    import boto3

    template = load_template()
    cfn = boto3.client("cloudformation", region_name=region)
    existing = {
        s["StackName"]
        for s in cfn.list_stacks().get("StackSummaries", [])
        if s.get("StackStatus") != "DELETE_COMPLETE"
    }
    if stack_name not in existing:
        cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    dynamodb = boto3.client("dynamodb", region_name=region)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        ttl = props.get("TimeToLiveSpecification")
        if not ttl:
            continue
        name = table_name(props["TableName"], stack_name)
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )


def table_name(spec: Any, stack_name: str) -> str:
    """Resolve a `TableName` that is a literal or `Fn::Sub` on `${AWS::StackName}`."""
    if isinstance(spec, str):
        return spec
    return str(spec["Fn::Sub"]).replace("${AWS::StackName}", stack_name)
