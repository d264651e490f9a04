"""The packaged template (`make package`: chalice package merged with infra/) defines every
table, queue, schedule and stage variable the code reads, wires the SQS handlers with
partial-batch responses, and gives each function its reviewed IAM policy. The same test
keeps the committed policy files and the configuration reference in step with the code."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.infra import load_template, table_name
from chalicelib.infra.package import ROOT, package
from chalicelib.infra.policies import FUNCTIONS, STAGES, policy, policy_file, render
from chalicelib.local.events import schedule_period_s
from chalicelib.store.models import TABLES

SAM = ROOT / "build" / "package-dev" / "sam.json"
SETTING = re.compile(r'"((?:CRONPILOT|OPENAI)_[A-Z_]+)"')
DEPLOY_REQUIRED = {"CRONPILOT_STAGE", "CRONPILOT_TABLE_PREFIX", "CRONPILOT_ADMIN_TOKEN_PARAM"}
LOGICAL = {"dispatch": "Dispatch", "execute": "Execute", "analyze": "Analyze",
           "analyzer": "Analyzer", "api_handler": "APIHandler",
           "notifier": "Notifier"}  # fmt: skip


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    """The template `make package` wrote; packaged here when it is missing or stale."""
    sources = [
        ROOT / "app.py",
        ROOT / ".chalice" / "config.json",
        *(ROOT / ".chalice").glob("policy-*.json"),
        ROOT / "chalicelib" / "infra" / "package.py",
        *(ROOT / "infra").glob("*"),
    ]
    if not SAM.exists() or SAM.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        package("dev", SAM.parent)
    data: dict[str, Any] = json.loads(SAM.read_text())
    return data


def functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_table_and_queue_is_defined(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    for logical in TABLES:
        assert resources[logical]["Type"] == "AWS::DynamoDB::Table"
        assert resources[logical]["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
    for logical in ("RunsTable", "SessionsTable"):
        ttl = resources[logical]["Properties"]["TimeToLiveSpecification"]
        assert ttl == {"AttributeName": "expiresAt", "Enabled": True}
    for queue, dlq in (
        ("RunsQueue", "RunsDeadLetterQueue"),
        ("AnalysisQueue", "AnalysisDeadLetterQueue"),
        ("NotificationsQueue", "NotificationsDeadLetterQueue"),
    ):
        redrive = resources[queue]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    defined = [r["Properties"] for r in load_template()["Resources"].values()]
    names = {table_name(p["TableName"], "cronpilot-dev") for p in defined if "TableName" in p}
    assert {f"cronpilot-dev-{suffix}" for _, suffix in TABLES.values()} == names


def test_schedules_and_queue_handlers_match_the_app(sam: dict[str, Any]) -> None:
    import app as functions_module

    found = functions(sam)
    for source in functions_module.app.event_sources:
        resource = found[LOGICAL[source.name]]
        (event,) = resource["Properties"]["Events"].values()
        if hasattr(source, "schedule_expression"):
            rate = event["Properties"]["Schedule"]
            assert schedule_period_s(rate) == schedule_period_s(source.schedule_expression)
        else:
            assert event["Type"] == "SQS"
            queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            visibility = sam["Resources"][queue]["Properties"]["VisibilityTimeout"]
            # A message must stay hidden while the function that took it may still run.
            assert visibility >= resource["Properties"]["Timeout"]


def test_functions_fit_the_longest_endpoint_timeout(sam: dict[str, Any]) -> None:
    from chalicelib.domain.schemas import MAX_TIMEOUT_MS
    from chalicelib.planner.analyze import LEASE, TIME_BUDGET

    found = functions(sam)
    execute = found["Execute"]["Properties"]
    assert execute["Timeout"] * 1000 >= MAX_TIMEOUT_MS + 30_000
    assert execute["ReservedConcurrentExecutions"] > 0
    analyzer = found["Analyzer"]["Properties"]["Timeout"]
    assert TIME_BUDGET.total_seconds() + 120 <= analyzer <= LEASE.total_seconds()
    assert found["APIHandler"]["Properties"]["Timeout"] <= 29  # API Gateway's own limit


def test_every_function_has_its_reviewed_policy_and_the_stage_variables(
    sam: dict[str, Any],
) -> None:
    found = functions(sam)
    for name, logical in LOGICAL.items():
        props = found[logical]["Properties"]
        role = sam["Resources"][props["Role"]["Fn::GetAtt"][0]]
        (document,) = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert document == policy("dev", name), name
        variables = props["Environment"]["Variables"]
        assert set(variables) >= DEPLOY_REQUIRED, name
        assert variables["CRONPILOT_TABLE_PREFIX"] == "cronpilot-dev"
        assert not any("KEY" in k and not k.endswith("_PARAM") for k in variables), variables


def test_alarms_watch_what_the_operations_guide_lists(sam: dict[str, Any]) -> None:
    alarms = {k for k, v in sam["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == {
        "RunsDeadLetterAlarm",
        "AnalysisDeadLetterAlarm",
        "NotificationsDeadLetterAlarm",
        "ExecutorErrorsAlarm",
        "DispatcherNotRunningAlarm",
        "RunLatenessAlarm",
    }
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert all(alarm in guide for alarm in alarms)


def test_committed_policies_are_the_generated_ones() -> None:
    for stage in STAGES:
        for name in FUNCTIONS:
            assert policy_file(stage, name).read_text() == render(stage, name), (stage, name)


def test_every_setting_the_code_reads_is_in_the_configuration_reference() -> None:
    code = "".join(
        p.read_text() for p in (ROOT / "chalicelib").rglob("*.py") if "local" not in p.parts
    )
    guide = (ROOT / "docs" / "operations.md").read_text()
    missing = sorted({name for name in SETTING.findall(code) if f"`{name}`" not in guide})
    assert missing == []


def test_unknown_routes_answer_404_in_the_error_envelope(sam: dict[str, Any]) -> None:
    # API Gateway answers a route it does not know with 403 "Missing Authentication Token".
    (response,) = [
        r["Properties"]
        for r in sam["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    ]
    assert response["ResponseType"] == "MISSING_AUTHENTICATION_TOKEN"
    assert response["StatusCode"] == "404" and response["RestApiId"] == {"Ref": "RestAPI"}
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert body == {"error": {"code": "NOT_FOUND", "message": "No such route", "details": None}}


def test_undeclared_methods_reach_the_api_function_for_its_405(sam: dict[str, Any]) -> None:
    # Without an any-method, API Gateway answers TRACE on /jobs like an unknown route.
    paths = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert "/jobs" in paths and "/endpoints/{endpoint_id}/test" in paths
    for path, operations in paths.items():
        declared = {m: op for m, op in operations.items() if not m.startswith("x-")}
        other = operations["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert other["type"] == "aws_proxy", path
        assert all(op["x-amazon-apigateway-integration"] == other for op in declared.values())
