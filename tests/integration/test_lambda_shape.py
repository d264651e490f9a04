"""The deployed shape, end to end for one minute of virtual time: the dispatcher, executor,
analysis tick and analyzer functions called as Lambda calls them (Lambda-shaped events and a
context), against moto's DynamoDB and SQS, a loopback target and a scripted model.

SQS delays are wall-clock in moto, so the harness sends with no delay and holds each runs
message until the virtual clock reaches its slot, as a delayed message would become visible.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from chalice.test import Client

from bench.scenarios.scripted import Observation, ScriptedModel
from chalicelib import deps as deps_module
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.engine import queue as queue_module
from chalicelib.engine.caller import Caller
from chalicelib.engine.queue import QueuedSlot, SqsSlotQueue
from chalicelib.infra.policies import policy
from chalicelib.local.events import default_context, scheduled_event, sqs_records
from chalicelib.planner.queue import SqsAnalysisQueue
from chalicelib.settings import Settings
from tests.conftest import T0, Api, _wipe, new_tenant
from tests.integration.test_caller import Target, _send

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "cp-test"


@dataclass
class CallLog:
    """Every AWS call, by the function that made it (to check the IAM policies)."""

    function: str = "api_handler"
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)

    @staticmethod
    def authorised_as(
        service: str, operation: str, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        """The actions IAM checks for a call: a transaction is authorised item by item, as the
        PutItem, UpdateItem, DeleteItem or ConditionCheckItem it holds, on that item's table."""
        if service == "dynamodb" and operation == "TransactWriteItems":
            names = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
            return [
                (names.get(kind, "ConditionCheckItem"), body)
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        return [(operation, params)]

    def resource(self, service: str, params: dict[str, Any]) -> str:
        if service == "dynamodb":
            # Batch calls name their table in RequestItems (ours use one table per call).
            name = params.get("TableName") or next(iter(params.get("RequestItems") or {}), "")
            table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
            index = params.get("IndexName")
            return f"{table}/index/{index}" if index else table
        if service == "sqs":
            name = params.get("QueueName") or str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        if service == "ssm":
            return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{params.get('Name', '')}"
        if service == "kms":
            # IAM checks the key an alias names (the policy's alias condition is not simulated).
            from moto.kms.models import kms_backends

            key_id = kms_backends[ACCOUNT][REGION].get_key_id_from_alias(params["KeyId"])
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
        return "*"


def allowed(document: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an IAM policy (ours: Allow statements, `*` wildcards) permits the call."""
    for statement in document["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        patterns = [r.replace("cronpilot-dev", PREFIX) for r in resources]
        if action in actions and any(fnmatch.fnmatchcase(resource, p) for p in patterns):
            return True
    return False


@dataclass
class Harness:
    """Plays EventBridge and the SQS event source mappings on virtual time."""

    deps: Deps
    clock: ManualClock
    sqs: Any
    held: list[dict[str, Any]] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    log: CallLog = field(default_factory=CallLog)

    def url(self, name: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def receive(self, name: str) -> list[dict[str, Any]]:
        url, got = self.url(name), list[dict[str, Any]]()
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return got
            for m in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.extend(messages)

    def invoke(self, handler: Any, name: str, messages: list[dict[str, Any]]) -> None:
        arn = f"arn:aws:sqs:{REGION}:123456789012:{name}"
        event = {"Records": sqs_records(messages, arn, REGION)}
        self.log.function = "execute" if handler is self.functions.execute else "analyzer"
        try:
            result = handler(event, default_context(name))
        finally:
            self.log.function = "harness"
        self.results.append(result)

    def schedule(self, handler: Any, rule: str) -> None:
        self.log.function = rule.removeprefix("cronpilot-")
        try:
            handler(scheduled_event(rule, REGION, self.clock), default_context(rule))
        finally:
            self.log.function = "harness"

    @property
    def functions(self) -> Any:
        import app as functions_module

        return functions_module

    def step(self, functions: Any) -> None:
        """Deliver what is visible at the current virtual second."""
        settings = self.deps.settings
        self.held.extend(self.receive(settings.runs_queue_name))
        now = self.clock.now()
        due = [m for m in self.held if QueuedSlot.decode(m["Body"]).at <= now]
        self.held = [m for m in self.held if m not in due]
        for start in range(0, len(due), 10):
            self.invoke(functions.execute, settings.runs_queue_name, due[start : start + 10])
        for message in self.receive(settings.analysis_queue_name):
            self.invoke(functions.analyzer, settings.analysis_queue_name, [message])


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    server.answer = lambda h: _send(h, 200, b'{"status": "degraded"}', "application/json")
    yield server
    server.close()


@pytest.fixture
def stage(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    clock = ManualClock(T0)
    settings = replace(Settings.from_env(), allow_private_targets=True, ai_configured=True)

    def tighten(o: Observation) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(o.latest, dict) and o.latest.get("status") == "degraded":
            return [("propose_interval", {"intervalMs": 5_000, "ttlMinutes": 10})]
        return []

    d = Deps(
        settings=settings,
        clock=clock,
        queue=SqsSlotQueue(settings.runs_queue_name, REGION),
        analysis_queue=SqsAnalysisQueue(settings.analysis_queue_name, REGION),
        planner_model=ScriptedModel({"Health": tighten}, next_analysis_ms=3_600_000),
    )
    d.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    monkeypatch.setattr(queue_module, "delay_seconds", lambda slot, now: 0)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    deps_module.use(d)
    harness = Harness(d, clock, boto3.client("sqs", region_name=REGION))
    original = BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.endpoint_prefix
        if harness.log.function != "harness":
            for action, part in harness.log.authorised_as(service, operation, params):
                resource = harness.log.resource(service, part)
                harness.log.calls.append((harness.log.function, service, action, resource))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    yield harness
    for name in (settings.runs_queue_name, settings.analysis_queue_name):
        harness.sqs.purge_queue(QueueUrl=harness.url(name))
    _wipe()
    deps_module.use(None)


def test_one_minute_of_the_deployed_functions(
    stage: Harness, target: Target, capfd: pytest.CaptureFixture[str]
) -> None:
    import app as functions  # what the Lambda handlers `app.dispatch`, `app.execute`... name

    stage.log.function = "api_handler"
    with Client(functions.app, stage_name="local") as client:
        api = Api(client, new_tenant(stage.deps, "acme"))
        job = api.post("/api/jobs", {"name": "Monitoring"}).body
        body = {
            "name": "Health",
            "url": target.url + "/health",
            "baselineIntervalMs": 10_000,
            "headersJson": {"Authorization": "Bearer test-fake-shape"},
        }
        endpoint = api.post(f"/api/jobs/{job['id']}/endpoints", body).body
    stage.log.function = "harness"
    # Two minutes: the endpoint is analysed when created (nothing has answered yet), and again
    # at least a minute later, once its degraded answers are news.
    for second in range(121):
        if second % 60 == 0:
            stage.schedule(functions.dispatch, "cronpilot-dispatch")
            stage.schedule(functions.analyze, "cronpilot-analyze")
        stage.step(functions)
        stage.clock.advance(timedelta(seconds=1))

    assert all(r == {"batchItemFailures": []} for r in stage.results), stage.results
    runs, total = stage.deps.runs.page("acme", endpoint["id"], stage.clock.now(), None, 100, 0)
    slots = [r.slot_at for r in runs if r.slot_at is not None]
    assert len(set(slots)) == len(slots) == total  # each slot ran exactly once
    assert all(r.status == "success" for r in runs)
    # The API sealed the secret header; the executor opened it for each call.
    assert {r["headers"]["Authorization"] for r in target.received} == {"Bearer test-fake-shape"}
    # Every 10 s until the planner, reacting to the first degraded answer, tightened to 5 s.
    gaps = sorted({(a - b).total_seconds() for a, b in itertools.pairwise(slots)})
    assert gaps[0] == 5.0 and gaps[-1] <= 10.0 and total >= 10
    sessions = stage.deps.sessions.page("acme", endpoint["id"], stage.clock.now(), 10, 0)[0]
    session, created = sessions  # newest first
    assert session.status == created.status == "success"
    assert [c.tool for c in created.tool_calls][-1:] == ["submit_analysis"]
    assert [c.tool for c in session.tool_calls][-2:] == ["propose_interval", "submit_analysis"]

    out, err = capfd.readouterr()
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    ran = [x for x in logs if x.get("handler") == "analyzer" and "analysed" in x["message"]]
    assert ran and ran[0]["job_id"] == job["id"] and ran[0]["endpoint_id"] == endpoint["id"]
    assert [x["session_id"] for x in ran] == [created.id, session.id]
    emf = [json.loads(line) for line in out.splitlines() if '"CloudWatchMetrics"' in line]
    names = {m["Name"] for e in emf for d in e["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Runs", "RunLateness", "DispatcherTicks", "AnalysisSessions", "AiTokens"} <= names

    # Least privilege, checked against what the code really calls.
    made = {(fn, f"{service}:{op}", resource) for fn, service, op, resource in stage.log.calls}
    assert {fn for fn, _, _ in made} == {
        "api_handler",
        "dispatch",
        "analyze",
        "execute",
        "analyzer",
    }
    refused = sorted(c for c in made if not allowed(policy("dev", c[0]), c[1], c[2]))
    assert refused == [], refused
    kms = {(fn, action) for fn, action, _ in made if action.startswith("kms:")}
    assert kms == {("api_handler", "kms:GenerateDataKey"), ("execute", "kms:Decrypt")}
