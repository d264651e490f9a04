"""Alerts on the local stack, end to end: an endpoint failing on a loopback target opens an
incident and its notice reaches a loopback webhook (signed, checked with the README's receiver
code) and a loopback Slack receiver once each; its recovery sends one recovery notice each; a
channel test arrives; the email channel's notices land in the outbox. A reminder repeats at its
period (each one brought forward in the store rather than waited for). The exactly-once cases
(duplicates, a killed notifier) are driven on the manual clock in
tests/integration/test_alerts.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_until
from tests.integration.test_caller import Target, _send
from tests.unit.test_readme_receiver import _snippet

NOTICE_DEADLINE_S = 30.0


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


def _tenant(stack: Stack) -> dict[str, str]:
    """A tenant of its own (its signing key is created here, so its raw key is known)."""
    token = (stack.home / "admin-token").read_text().strip()
    made = stack.http.post(
        "/admin/tenants",
        content=json.dumps({"name": "Alerts E2E"}),
        headers={"x-admin-token": token},
    )
    assert made.status_code == 201, made.text
    key = made.json()["apiKey"]["key"]
    signing = stack.http.post("/signing-keys", headers={"x-api-key": key})
    assert signing.status_code == 201, signing.text
    return {"key": key, "signing": signing.json()["rawKey"]}


def _caller(stack: Stack, headers: dict[str, str]) -> Callable[..., Any]:
    """`call(method, path, body)`: one API request that must succeed; its JSON answer."""

    def call(method: str, path: str, body: Any = None) -> Any:
        content = json.dumps(body) if body is not None else None
        reply = stack.http.request(method, path, content=content, headers=headers)
        assert reply.status_code < 300, reply.text
        return reply.json() if reply.content else None

    return call


def test_an_incident_reaches_webhook_slack_and_email_once_then_recovers(
    stack: Stack, target: Target
) -> None:
    state = {"job": 503}

    def answer(h: BaseHTTPRequestHandler) -> None:
        code = state["job"] if h.path.startswith("/job") else 200
        _send(h, code, b'{"ok": true}', "application/json")

    target.answer = answer
    tenant = _tenant(stack)
    call = _caller(stack, {"x-api-key": tenant["key"]})

    job = call("POST", "/jobs", {"name": "Alerted"})["id"]
    call("PUT", f"/jobs/{job}/alert-policy", {"failureThreshold": 2})
    webhook = {"kind": "webhook", "name": "Ops", "url": target.url + "/hook"}
    hook = call("POST", "/channels", webhook)
    call("POST", "/channels", {"kind": "slack", "name": "#ops", "url": target.url + "/slack"})
    call("POST", "/channels", {"kind": "email", "name": "Me", "address": "me@example.com"})
    endpoint = call(
        "POST",
        f"/jobs/{job}/endpoints",
        {"name": "Flaky", "url": target.url + "/job", "baselineIntervalMs": 1000},
    )["id"]

    def got(path: str) -> list[dict[str, Any]]:
        return [r for r in target.received if r["path"] == path]

    try:
        wait_until(
            lambda: len(got("/hook")) >= 1 and len(got("/slack")) >= 1,
            NOTICE_DEADLINE_S,
            "the opening notice at the webhook and Slack",
        )
        state["job"] = 200
        wait_until(
            lambda: len(got("/hook")) >= 2 and len(got("/slack")) >= 2,
            NOTICE_DEADLINE_S,
            "the recovery notice at the webhook and Slack",
        )
    finally:
        call("POST", f"/jobs/{job}/pause")

    opened, recovered = (json.loads(r["body"]) for r in got("/hook")[:2])
    assert (opened["type"], recovered["type"]) == ("incident.opened", "incident.recovered")
    assert opened["incident"]["endpointId"] == endpoint
    assert opened["link"] == f"{stack.base_url}/incidents/{opened['incident']['id']}"
    check = _snippet()
    for hit in got("/hook"):
        assert check(tenant["signing"], hit["headers"], hit["body"].encode())
    slack_text = json.loads(got("/slack")[0]["body"])["blocks"][0]["text"]["text"]
    assert "Flaky" in slack_text and "|View the incident>" in slack_text

    incident = call("GET", f"/incidents/{opened['incident']['id']}")
    assert incident["state"] == "closed" and len(incident["openingRuns"]) == 2
    sent = sorted((n["event"], n["channelKind"], n["state"]) for n in incident["notifications"])
    assert sent == sorted(
        (event, kind, "sent")
        for event in ("opened", "recovered")
        for kind in ("webhook", "slack", "email")
    )
    # Exactly one delivery per event and channel, and the receivers saw exactly those.
    assert len(got("/hook")) == 2 and len(got("/slack")) == 2
    subjects = [m["subject"] for m in call("GET", "/outbox")["messages"]]
    assert len(subjects) == 2 and subjects[0].startswith("[Cronpilot] Resolved")

    tested = call("POST", f"/channels/{hook['id']}/test")
    assert tested["state"] == "sent"
    assert json.loads(got("/hook")[-1]["body"])["type"] == "channel.test"


def _store(stack: Stack) -> Any:
    """A DynamoDB client on the stack's store (its URL from the banner)."""
    import boto3

    found = re.search(r"Store\s+:\s+(\S+)", stack.stdout())
    assert found, stack.stdout()
    return boto3.client(
        "dynamodb",
        endpoint_url=found.group(1),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _bring_reminder_forward(stack: Stack, incident_id: str) -> None:
    """Move the open incident's next reminder to now: what waiting out its period would do."""
    store = _store(stack)
    table = next(t for t in store.list_tables()["TableNames"] if t.endswith("-incidents"))
    items = store.scan(
        TableName=table,
        FilterExpression="incidentId = :i",
        ExpressionAttributeValues={":i": {"S": incident_id}},
    )["Items"]
    assert len(items) == 1 and "realertAt" in items[0], items
    store.update_item(
        TableName=table,
        Key={"tenantId": items[0]["tenantId"], "incidentId": items[0]["incidentId"]},
        UpdateExpression="SET realertAt = :now",
        ExpressionAttributeValues={":now": {"N": str(int(time.time() * 1000) - 1000)}},
    )


def test_a_reminder_repeats_at_its_period_until_recovery(
    launch: Callable[..., Stack], target: Target
) -> None:
    # The alert tick rides the dispatcher's schedule: every 2 s here instead of every minute.
    stack = launch(CRONPILOT_SCHEDULE_PERIOD_S="2")
    state = {"code": 503}

    def answer(h: BaseHTTPRequestHandler) -> None:
        # The endpoint fails until told otherwise; the webhook always takes its notices (a
        # refused one would come back as a retry and be counted twice here).
        code = state["code"] if h.path.startswith("/job") else 200
        _send(h, code, b'{"ok": false}', "application/json")

    target.answer = answer
    call = _caller(stack, stack.headers())

    job = call("POST", "/jobs", {"name": "Reminded"})["id"]
    call("PUT", f"/jobs/{job}/alert-policy", {"failureThreshold": 1, "realertMinutes": 5})
    call("POST", "/channels", {"kind": "webhook", "name": "Ops", "url": target.url + "/hook"})
    call(
        "POST",
        f"/jobs/{job}/endpoints",
        {"name": "Down", "url": target.url + "/job", "baselineIntervalMs": 5000},
    )

    def notices() -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in target.received if r["path"] == "/hook"]

    def types() -> list[str]:
        return [n["type"] for n in notices()]

    try:
        wait_until(lambda: "incident.opened" in types(), NOTICE_DEADLINE_S, "the opening")
        incident_id = notices()[0]["incident"]["id"]
        opened = call("GET", f"/incidents/{incident_id}")
        period = timedelta(minutes=5)
        assert _at(opened["nextReminderAt"]) == _at(opened["openedAt"]) + period
        for count in (1, 2):
            _bring_reminder_forward(stack, incident_id)
            wait_until(
                lambda n=count: types().count("incident.realert") == n,  # type: ignore[misc]
                NOTICE_DEADLINE_S,
                f"reminder {count}",
            )
            reminded = call("GET", f"/incidents/{incident_id}")
            assert reminded["reminders"] == count
            sent = _at(notices()[-1]["sentAt"])  # when the tick decided to remind
            # The next one is a whole period after this one (give or take the tick and send).
            next_at = _at(reminded["nextReminderAt"])
            assert period - timedelta(seconds=10) <= next_at - sent <= period
        state["code"] = 200
        wait_until(lambda: "incident.recovered" in types(), NOTICE_DEADLINE_S, "the recovery")
    finally:
        call("POST", f"/jobs/{job}/pause")
    closed = call("GET", f"/incidents/{incident_id}")
    assert closed["state"] == "closed" and closed.get("nextReminderAt") is None
    assert types() == [
        "incident.opened",
        "incident.realert",
        "incident.realert",
        "incident.recovered",
    ]
    assert [n["reminder"] for n in notices() if n["type"] == "incident.realert"] == [1, 2]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_reflex_pausing_an_endpoint_reaches_the_webhook_when_asked(
    stack: Stack, target: Target
) -> None:
    # The endpoint is down; the webhook takes its notices (a refused one would be retried).
    target.answer = lambda h: _send(
        h, 503 if h.path.startswith("/fragile") else 200, b'{"ok": false}', "application/json"
    )
    tenant = _tenant(stack)
    call = _caller(stack, {"x-api-key": tenant["key"]})

    job = call("POST", "/jobs", {"name": "Self-pausing"})["id"]
    call("PUT", f"/jobs/{job}/alert-policy", {"notifyOnPause": True, "failureThreshold": 1000})
    call("POST", "/channels", {"kind": "webhook", "name": "Ops", "url": target.url + "/pauses"})
    endpoint = call(
        "POST",
        f"/jobs/{job}/endpoints",
        {"name": "Fragile", "url": target.url + "/fragile", "baselineIntervalMs": 1000},
    )["id"]
    reflex = call(
        "POST",
        f"/endpoints/{endpoint}/reflexes",
        {
            "when": {"endpoint": "self", "path": "statusCode", "op": "==", "value": 503},
            "do": {"action": "pause", "forMinutes": 60},
            "reason": "Down: stop calling it",
        },
    )["id"]

    def notices() -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in target.received if r["path"] == "/pauses"]

    try:
        wait_until(lambda: len(notices()) >= 1, NOTICE_DEADLINE_S, "the pause notice")
    finally:
        call("POST", f"/jobs/{job}/pause")
    (notice,) = notices()
    assert notice["type"] == "endpoint.paused" and notice["endpoint"]["id"] == endpoint
    assert notice["by"] == {"type": "reflex", "id": reflex}
    assert notice["reason"] == "Down: stop calling it"
    assert _snippet()(tenant["signing"], target.received[-1]["headers"],
                      target.received[-1]["body"].encode())  # fmt: skip
    assert notice["link"] == f"{stack.base_url}/jobs/{job}/endpoints/{endpoint}"
    assert call("GET", f"/jobs/{job}/endpoints/{endpoint}")["pausedUntil"] == notice["until"]
