"""Alerts in process on the manual clock: incidents opened by a failure streak and closed by a
success, notices delivered to loopback webhook and Slack receivers exactly once (duplicated
messages, racing notifiers, a notifier stopped mid-send), retries with backoff, reminders,
late slots, pause notices from the planner and reflexes, and the REST routes with their
rejections (which change nothing)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Actor
from chalicelib.domain.incidents import slot_late
from chalicelib.domain.timeutil import iso
from chalicelib.engine.caller import Caller, CallRequest, CallResult
from chalicelib.engine.notices_queue import NoticeRef
from chalicelib.engine.notifier import Notifier
from chalicelib.planner.tools import Toolbox
from chalicelib.store.models import ChannelItem
from tests.conftest import Api, new_tenant, snapshot
from tests.integration.test_caller import Target, _send
from tests.integration.test_planner_flow import _ep, _run
from tests.integration.test_planner_tools import view
from tests.unit.test_readme_receiver import _snippet


class Notices:
    """The notifications queue, recorded: (message, delay)."""

    def __init__(self) -> None:
        self.sent: list[tuple[NoticeRef, int]] = []

    def send(self, notice: NoticeRef, delay_s: int = 0) -> None:
        self.sent.append((notice, delay_s))

    def take(self) -> list[NoticeRef]:
        taken = [n for n, _ in self.sent]
        self.sent.clear()
        return taken


class Receivers:
    """One loopback server: `/job` is the endpoint (answers `job_status`), `/hook` the webhook
    and `/slack` the Slack channel (answer `channel_status`)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.job_status = 503
        self.channel_status = 200

        def answer(h: BaseHTTPRequestHandler) -> None:
            status = self.job_status if h.path.startswith("/job") else self.channel_status
            _send(h, status, b'{"ok": false}', "application/json")

        target.answer = answer

    def got(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.target.received if r["path"] == path]


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


@pytest.fixture
def notices(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Notices:
    recorder = Notices()
    monkeypatch.setattr(deps, "notices_queue", recorder)
    return recorder


@pytest.fixture
def loopback(deps: Deps, clock: ManualClock, target: Target) -> Receivers:
    """Private targets allowed (the receivers are on 127.0.0.1), with the real caller."""
    deps.settings = replace(
        deps.settings, allow_private_targets=True, public_url="http://cp.test/api"
    )
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    return Receivers(target)


@pytest.fixture
def setup(api: Api, loopback: Receivers, notices: Notices) -> dict[str, str]:
    """A job with one endpoint failing at `/job`, a webhook and a Slack channel."""
    url = loopback.target.url
    job = api.post("/api/jobs", {"name": "Nightly"}).body["id"]
    endpoint = api.post(
        f"/api/jobs/{job}/endpoints",
        {"name": "Health", "url": url + "/job", "baselineIntervalMs": 60_000},
    ).body["id"]
    hook = api.post("/api/channels", {"kind": "webhook", "name": "Ops", "url": url + "/hook"})
    assert hook.status == 201, hook.body
    slack = api.post("/api/channels", {"kind": "slack", "name": "#ops", "url": url + "/slack"})
    assert slack.status == 201, slack.body
    key = api.post("/api/signing-keys").body["rawKey"]
    return {
        "job": job,
        "endpoint": endpoint,
        "hook": hook.body["id"],
        "slack": slack.body["id"],
        "key": key,
    }


def _fail_times(deps: Deps, clock: ManualClock, endpoint: str, n: int) -> None:
    for _ in range(n):
        run = _run(deps, clock, endpoint)
        assert run.status == "failed"


def _deliver(deps: Deps, notices: Notices) -> None:
    for ref in notices.take():
        Notifier(deps).handle(ref)


# --- incidents and notices -------------------------------------------------------------------


def test_threshold_opens_one_incident_one_signed_webhook_one_slack_then_one_recovery(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    _fail_times(deps, clock, setup["endpoint"], 2)
    assert notices.sent == [] and api.get("/api/incidents").body["incidents"] == []

    _fail_times(deps, clock, setup["endpoint"], 1)
    (opened,) = notices.take()
    assert opened.event == "opened"
    Notifier(deps).handle(opened)
    (hook,) = loopback.got("/hook")
    (slack,) = loopback.got("/slack")

    body = json.loads(hook["body"])
    assert body["type"] == "incident.opened" and body["eventId"] == f"{opened.incident_id}:opened"
    assert body["incident"]["endpointId"] == setup["endpoint"]
    assert body["incident"]["failureCount"] == 3
    assert body["incident"]["lastError"]["statusCode"] == 503
    assert body["link"] == f"http://cp.test/api/incidents/{opened.incident_id}"
    check = _snippet()
    assert check(setup["key"], hook["headers"], hook["body"].encode(), now=clock.now().timestamp())
    assert "X-Cronpilot-Signature" not in slack["headers"]  # Slack's secret is its URL
    text = json.loads(slack["body"])["blocks"][0]["text"]["text"]
    assert "Health" in text and f"<http://cp.test/api/incidents/{opened.incident_id}|" in text

    # Still failing: the open incident is not opened again, nobody hears of it again.
    _fail_times(deps, clock, setup["endpoint"], 2)
    assert notices.sent == []

    loopback.job_status = 200
    assert _run(deps, clock, setup["endpoint"]).status == "success"
    (recovered,) = notices.take()
    assert (recovered.event, recovered.incident_id) == ("recovered", opened.incident_id)
    Notifier(deps).handle(recovered)
    assert len(loopback.got("/hook")) == 2 and len(loopback.got("/slack")) == 2
    assert json.loads(loopback.got("/hook")[1]["body"])["type"] == "incident.recovered"

    detail = api.get(f"/api/incidents/{opened.incident_id}").body
    assert detail["state"] == "closed" and detail["closedAt"]
    assert len(detail["openingRuns"]) == 3
    assert all(r["status"] == "failed" for r in detail["openingRuns"])
    sent = [(n["event"], n["channelKind"], n["state"]) for n in detail["notifications"]]
    assert sorted(sent) == sorted(
        [
            ("opened", "webhook", "sent"),
            ("opened", "slack", "sent"),
            ("recovered", "webhook", "sent"),
            ("recovered", "slack", "sent"),
        ]
    )
    assert all(len(n["attempts"]) == 1 for n in detail["notifications"])

    # A new streak opens a new incident.
    loopback.job_status = 500
    _fail_times(deps, clock, setup["endpoint"], 3)
    (again,) = notices.take()
    assert again.event == "opened" and again.incident_id != opened.incident_id


def test_no_recovery_notice_when_the_policy_says_so(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    reply = api.call(
        "PUT", f"/api/jobs/{setup['job']}/alert-policy",
        {"failureThreshold": 1, "notifyOnRecovery": False},
    )  # fmt: skip
    assert reply.status == 200, reply.body
    _fail_times(deps, clock, setup["endpoint"], 1)
    assert [n.event for n in notices.take()] == ["opened"]
    loopback.job_status = 200
    _run(deps, clock, setup["endpoint"])
    assert notices.take() == []
    (incident,) = api.get("/api/incidents").body["incidents"]
    assert incident["state"] == "closed"


def test_duplicated_messages_and_racing_notifiers_send_once(
    deps: Deps, clock: ManualClock, setup: dict[str, str], loopback: Receivers, notices: Notices
) -> None:
    _fail_times(deps, clock, setup["endpoint"], 3)
    (opened,) = notices.take()
    start = threading.Barrier(4)

    def notifier() -> None:
        start.wait()
        Notifier(deps).handle(opened)

    threads = [threading.Thread(target=notifier) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Notifier(deps).handle(opened)  # and once more, late
    assert len(loopback.got("/hook")) == 1 and len(loopback.got("/slack")) == 1
    deliveries = deps.deliveries.for_incident(opened.incident_id)
    assert [(d.state, len(d.attempts)) for d in deliveries] == [("sent", 1), ("sent", 1)]


class Killed(BaseException):
    """The notifier's process stopping mid-send (not an error it could handle)."""


def test_a_notifier_killed_mid_send_is_not_sent_again(
    deps: Deps, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _fail_times(deps, clock, setup["endpoint"], 3)
    (opened,) = notices.take()
    real = deps.caller

    class DiesAfterSending:
        def call(self, request: CallRequest, keys: Any = None) -> CallResult:
            real.call(request, keys)  # the notice reached the receiver...
            raise Killed  # ...and the process died before recording it

    monkeypatch.setattr(deps, "caller", DiesAfterSending())
    with pytest.raises(Killed):
        Notifier(deps).handle(_for_channel(opened, setup["hook"]))
    assert len(loopback.got("/hook")) == 1
    monkeypatch.setattr(deps, "caller", real)

    # SQS hands the message out again while the claim's lease runs: nothing is sent...
    Notifier(deps).handle(opened)
    assert len(loopback.got("/hook")) == 1 and len(loopback.got("/slack")) == 1
    (hook,) = [
        d for d in deps.deliveries.for_incident(opened.incident_id) if d.channel_id == setup["hook"]
    ]
    assert hook.state == "sending"
    # ...nor after the lease: the delivery is recorded abandoned, never sent twice.
    clock.advance(timedelta(minutes=2))
    Notifier(deps).handle(opened)
    assert len(loopback.got("/hook")) == 1
    (hook,) = [
        d for d in deps.deliveries.for_incident(opened.incident_id) if d.channel_id == setup["hook"]
    ]
    assert hook.state == "abandoned" and [a.outcome for a in hook.attempts] == ["abandoned"]


def _for_channel(ref: NoticeRef, channel_id: str) -> NoticeRef:
    """The opening event as a message for one channel (first attempt)."""
    return replace(ref, channel_id=channel_id, attempt=1)


def test_a_failing_channel_is_retried_with_backoff_and_every_attempt_is_kept(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    api.delete(f"/api/channels/{setup['slack']}")
    _fail_times(deps, clock, setup["endpoint"], 3)
    loopback.channel_status = 500
    (opened,) = notices.take()
    Notifier(deps).handle(opened)
    ((retry, delay),) = notices.sent
    notices.sent.clear()
    assert (retry.channel_id, retry.attempt, delay) == (setup["hook"], 2, 10)
    Notifier(deps).handle(retry)  # fails again: the next wait is longer
    ((retry, delay),) = notices.sent
    notices.sent.clear()
    assert (retry.attempt, delay) == (3, 60)
    loopback.channel_status = 200
    Notifier(deps).handle(retry)
    Notifier(deps).handle(retry)  # a duplicate of the retry finds it sent
    assert notices.sent == []
    assert len(loopback.got("/hook")) == 3
    detail = api.get(f"/api/incidents/{opened.incident_id}").body
    (delivery,) = detail["notifications"]
    assert delivery["state"] == "sent"
    assert [(a["outcome"], a["statusCode"]) for a in delivery["attempts"]] == [
        ("failed", 500),
        ("failed", 500),
        ("sent", 200),
    ]
    assert loopback.target.url not in json.dumps(detail)  # the URL is never shown


def test_the_last_failure_leaves_the_delivery_failed(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    api.delete(f"/api/channels/{setup['slack']}")
    _fail_times(deps, clock, setup["endpoint"], 3)
    loopback.channel_status = 502
    pending = notices.take()
    while pending:
        for ref in pending:
            Notifier(deps).handle(ref)
        pending = notices.take()
    (delivery,) = deps.deliveries.for_incident(deps.incidents.list("acme")[0].id)
    assert delivery.state == "failed" and len(delivery.attempts) == 5


def test_reminders_repeat_at_their_period_while_open(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    api.call("PUT", f"/api/jobs/{setup['job']}/alert-policy", {"realertMinutes": 30})
    _fail_times(deps, clock, setup["endpoint"], 3)
    _deliver(deps, notices)
    # Paused, so its slots are not late meanwhile: only the reminders move.
    paused = api.post(
        f"/api/endpoints/{setup['endpoint']}/pause", {"pausedUntil": "2030-01-01T00:00:00Z"}
    )
    assert paused.status == 204, paused.body
    watch = deps.incident_watch
    clock.advance(timedelta(minutes=29))
    assert watch.tick(clock.now()).reminders == 0
    clock.advance(timedelta(minutes=1))
    assert watch.tick(clock.now()).reminders == 1
    assert watch.tick(clock.now()).reminders == 0  # the same tick again: once
    (first,) = notices.take()
    assert (first.event, first.sequence) == ("realert", 1)
    Notifier(deps).handle(first)
    Notifier(deps).handle(first)
    clock.advance(timedelta(minutes=30))
    assert watch.tick(clock.now()).reminders == 1
    (second,) = notices.take()
    assert second.sequence == 2
    Notifier(deps).handle(second)
    bodies = [json.loads(r["body"]) for r in loopback.got("/hook")]
    assert [b["type"] for b in bodies] == [
        "incident.opened",
        "incident.realert",
        "incident.realert",
    ]
    assert [b.get("reminder") for b in bodies[1:]] == [1, 2]
    api.post(f"/api/endpoints/{setup['endpoint']}/pause", {"pausedUntil": None})
    loopback.job_status = 200
    _run(deps, clock, setup["endpoint"])
    assert [n.event for n in notices.take()] == ["recovered"]
    clock.advance(timedelta(hours=2))
    assert watch.tick(clock.now()).reminders == 0  # closed: no more


def test_a_slot_not_started_in_time_opens_a_late_incident_closed_by_an_on_time_run(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    loopback.job_status = 200
    watch = deps.incident_watch
    endpoint = _ep(deps, setup["endpoint"])
    clock.set(endpoint.next_run_at + timedelta(seconds=59))
    assert watch.tick(clock.now()).late_opened == 0
    clock.advance(timedelta(seconds=2))
    assert watch.tick(clock.now()).late_opened == 1
    assert watch.tick(clock.now()).late_opened == 0
    (opened,) = notices.take()
    Notifier(deps).handle(opened)
    assert json.loads(loopback.got("/hook")[0]["body"])["incident"]["kind"] == "late"
    (incident,) = api.get("/api/incidents?state=open").body["incidents"]
    assert incident["kind"] == "late" and incident["lateByMs"] > 60_000

    late_run = _run(deps, clock, setup["endpoint"])  # starts, but late: stays open
    assert late_run.status == "success" and notices.take() == []
    on_time = _run(deps, clock, setup["endpoint"])  # on its second
    assert on_time.slot_at == on_time.started_at
    (recovered,) = notices.take()
    assert recovered.event == "recovered"
    assert api.get("/api/incidents?state=open").body["incidents"] == []


def test_a_paused_or_running_endpoint_is_never_late(deps: Deps, setup: dict[str, str]) -> None:
    endpoint = _ep(deps, setup["endpoint"])
    policy = deps.incident_watch.policy("acme", setup["job"])
    later = endpoint.next_run_at + timedelta(minutes=10)
    assert slot_late(endpoint, later, policy) is not None
    assert (
        slot_late(replace(endpoint, locked_until=later + timedelta(seconds=1)), later, policy)
        is None
    )
    assert (
        slot_late(replace(endpoint, paused_until=later + timedelta(hours=1)), later, policy) is None
    )
    assert slot_late(replace(endpoint, due_shard=None), later, policy) is None


def test_email_goes_through_ses(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], notices: Notices
) -> None:
    import boto3
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress=deps.settings.alerts_from
    )
    made = api.post(
        "/api/channels", {"kind": "email", "name": "On call", "address": "oncall@example.com"}
    )
    assert made.status == 201 and made.body["address"] == "oncall@example.com"
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    before = len(backend.sent_messages)
    _fail_times(deps, clock, setup["endpoint"], 3)
    _deliver(deps, notices)
    sent = backend.sent_messages[before:]
    assert len(sent) == 1
    assert sent[0].destinations["ToAddresses"] == ["oncall@example.com"]
    assert "Health" in sent[0].subject


def test_email_goes_to_the_outbox_on_the_local_stack(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], notices: Notices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from chalicelib.engine.mailer import OutboxMailer

    monkeypatch.setattr(deps, "mailer", OutboxMailer("alerts@local", deps.outbox))
    api.post("/api/channels", {"kind": "email", "name": "Me", "address": "me@example.com"})
    _fail_times(deps, clock, setup["endpoint"], 3)
    _deliver(deps, notices)
    (message,) = api.get("/api/outbox").body["messages"]
    assert message["to"] == "me@example.com" and message["from"] == "alerts@local"
    assert message["subject"].startswith("[Cronpilot] Incident") and "503" in message["body"]


# --- REST: channels --------------------------------------------------------------------------


def test_channel_urls_are_stored_sealed_and_only_shown_masked(
    api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers
) -> None:
    url = loopback.target.url + "/hook"
    shown = api.get(f"/api/channels/{setup['hook']}").body
    assert shown["url"] == "http://127.0.0.1/********" and shown["jobIds"] is None
    assert url not in json.dumps(api.get("/api/channels").body)
    stored = ChannelItem.get("acme", setup["hook"]).target
    assert stored.startswith("cpsealed:v1:") and url not in stored
    # A change that leaves the URL out keeps it; the channel still reaches its receiver.
    changed = api.patch(
        f"/api/channels/{setup['hook']}", {"name": "Ops 2", "jobIds": [setup["job"]]}
    )
    assert changed.status == 200 and changed.body["jobIds"] == [setup["job"]]
    tested = api.post(f"/api/channels/{setup['hook']}/test")
    assert tested.status == 200, tested.body
    assert tested.body["state"] == "sent" and tested.body["event"] == "test"
    (hit,) = loopback.got("/hook")
    assert json.loads(hit["body"])["type"] == "channel.test"
    now = clock.now().timestamp()
    assert _snippet()(setup["key"], hit["headers"], hit["body"].encode(), now=now)


def test_a_channel_test_reports_a_failure_without_the_url(
    api: Api, setup: dict[str, str], loopback: Receivers
) -> None:
    loopback.channel_status = 404
    tested = api.post(f"/api/channels/{setup['slack']}/test")
    assert tested.status == 200 and tested.body["state"] == "failed"
    assert tested.body["attempts"][0]["statusCode"] == 404
    assert loopback.target.url not in json.dumps(tested.body)


def test_a_channel_only_hears_of_the_jobs_it_is_subscribed_to(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    other = api.post("/api/jobs", {"name": "Other"}).body["id"]
    api.patch(f"/api/channels/{setup['hook']}", {"jobIds": [other]})
    api.patch(f"/api/channels/{setup['slack']}", {"enabled": False})
    _fail_times(deps, clock, setup["endpoint"], 3)
    _deliver(deps, notices)
    assert loopback.got("/hook") == [] and loopback.got("/slack") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "pager", "name": "x", "url": "https://example.com/h"}, "kind"),
        ({"kind": "webhook", "name": "x"}, "url"),
        ({"kind": "webhook", "name": "x", "url": "ftp://example.com/h"}, "url"),
        ({"kind": "webhook", "name": "x", "url": "not a url"}, "url"),
        ({"kind": "webhook", "name": "x", "url": "http://169.254.169.254/latest"}, "url"),
        ({"kind": "slack", "name": "x", "url": "http://10.0.0.5/hook"}, "url"),
        ({"kind": "slack", "name": "x", "url": "http://localhost:8080/hook"}, "url"),
        (
            {"kind": "webhook", "name": "x", "url": "https://e.com/h", "address": "a@b.co"},
            "address",
        ),
        ({"kind": "email", "name": "x", "address": "not-an-address"}, "address"),
        ({"kind": "email", "name": "x"}, "address"),
        ({"kind": "email", "name": "x", "address": "a@example.com", "url": "https://e.com"}, "url"),
        ({"kind": "email", "name": "", "address": "a@example.com"}, "name"),
        ({"kind": "email", "name": "x", "address": "a@example.com", "jobIds": "all"}, "jobIds"),
    ],
)
def test_bad_channels_are_refused_naming_the_field_and_change_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = snapshot()
    reply = api.post("/api/channels", body)
    assert reply.status == 400, reply.body
    assert field in [d["field"] for d in reply.error["details"]], reply.error
    assert snapshot() == before


def test_a_metadata_address_is_refused_even_when_private_targets_are_allowed(
    api: Api, loopback: Receivers
) -> None:
    reply = api.post(
        "/api/channels", {"kind": "webhook", "name": "x", "url": "http://169.254.169.254/x"}
    )
    assert reply.status == 400 and reply.error["details"][0]["field"] == "url"


def test_bad_changes_are_refused_and_change_nothing(api: Api, setup: dict[str, str]) -> None:
    before = snapshot()
    for body, field in [
        ({"url": "http://127.0.0.1/********"}, "url"),
        ({"url": None}, "url"),
        ({"enabled": "yes"}, "enabled"),
        ({"jobIds": ["job_missing"]}, "jobIds.0"),
    ]:
        reply = api.patch(f"/api/channels/{setup['hook']}", body)
        assert reply.status in (400, 404), reply.body
        assert field in [d["field"] for d in reply.error["details"]], (body, reply.error)
    # Well formed, but the other kind's target: the channel's kind forbids it.
    wrong = api.patch(f"/api/channels/{setup['hook']}", {"address": "a@example.com"})
    assert wrong.status == 409 and wrong.error["details"][0]["field"] == "address"
    assert snapshot() == before


def test_another_tenants_channels_jobs_and_incidents_are_404(
    deps: Deps, api: Api, clock: ManualClock, chalice_client: Any, setup: dict[str, str],
    notices: Notices,
) -> None:  # fmt: skip
    _fail_times(deps, clock, setup["endpoint"], 3)
    (opened,) = notices.take()
    other = Api(chalice_client, new_tenant(deps, "globex"))
    channel = f"/api/channels/{setup['hook']}"
    before = snapshot()
    assert other.get(channel).status == 404
    assert other.patch(channel, {"name": "mine"}).status == 404
    assert other.delete(channel).status == 404
    assert other.post(channel + "/test").status == 404
    assert other.get(f"/api/incidents/{opened.incident_id}").status == 404
    assert other.get(f"/api/incidents?jobId={setup['job']}").status == 404
    assert other.get("/api/incidents").body["incidents"] == []
    assert other.get("/api/channels").body["channels"] == []
    made = other.post(
        "/api/channels",
        {"kind": "email", "name": "x", "address": "a@example.com", "jobIds": [setup["job"]]},
    )
    assert made.status == 404 and made.error["details"][0]["field"] == "jobIds.0"
    assert other.call("PUT", f"/api/jobs/{setup['job']}/alert-policy", {}).status == 404
    assert snapshot() == before


# --- REST: incidents and policies ------------------------------------------------------------


def test_incidents_list_open_first_with_filters(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    _fail_times(deps, clock, setup["endpoint"], 3)
    loopback.job_status = 200
    _run(deps, clock, setup["endpoint"])
    loopback.job_status = 503
    _fail_times(deps, clock, setup["endpoint"], 3)
    listed = api.get("/api/incidents").body["incidents"]
    assert [i["state"] for i in listed] == ["open", "closed"]
    assert listed[0]["lastError"]["statusCode"] == 503
    assert [i["state"] for i in api.get("/api/incidents?state=closed").body["incidents"]] == [
        "closed"
    ]
    assert len(api.get(f"/api/incidents?endpointId={setup['endpoint']}").body["incidents"]) == 2
    assert len(api.get(f"/api/incidents?jobId={setup['job']}&limit=1").body["incidents"]) == 1
    opened = listed[0]["openedAt"]
    assert len(api.get(f"/api/incidents?since={opened}").body["incidents"]) == 1
    assert len(api.get(f"/api/incidents?until={opened}").body["incidents"]) == 1
    assert api.get("/api/incidents?state=broken").status == 400
    assert api.get("/api/incidents?since=yesterday").error["details"][0]["field"] == "since"
    assert api.get("/api/incidents/inc_nope").status == 404


def test_policies_default_per_tenant_and_per_job(api: Api, setup: dict[str, str]) -> None:
    assert api.get("/api/alert-policy").body == {
        "failureThreshold": 3,
        "notifyOnRecovery": True,
        "realertMinutes": None,
        "lateAfterMs": 60000,
        "notifyOnPause": False,
    }
    put = api.call("PUT", "/api/alert-policy", {"failureThreshold": 5, "realertMinutes": 60})
    assert put.status == 200 and put.body["failureThreshold"] == 5
    job = api.call("PUT", f"/api/jobs/{setup['job']}/alert-policy", {"realertMinutes": None})
    assert job.body["failureThreshold"] == 5 and job.body["realertMinutes"] is None
    assert job.body["ownFields"] == ["realertMinutes"]
    before = snapshot()
    for body, field in [
        ({"failureThreshold": 0}, "failureThreshold"),
        ({"failureThreshold": "3"}, "failureThreshold"),
        ({"realertMinutes": 1}, "realertMinutes"),
        ({"lateAfterMs": 10}, "lateAfterMs"),
        ({"notifyOnRecovery": None}, "notifyOnRecovery"),
        ({"notifyOnPause": None}, "notifyOnPause"),
        ({"notifyOnPause": "yes"}, "notifyOnPause"),
    ]:
        reply = api.call("PUT", f"/api/jobs/{setup['job']}/alert-policy", body)
        assert reply.status == 400 and reply.error["details"][0]["field"] == field, reply.body
    assert api.call("PUT", "/api/jobs/job_nope/alert-policy", {}).status == 404
    assert snapshot() == before


# --- pause notices: the planner or a reflex paused or resumed an endpoint ---------------------


def _notify_on_pause(api: Api, job: str) -> None:
    reply = api.call("PUT", f"/api/jobs/{job}/alert-policy", {"notifyOnPause": True})
    assert reply.status == 200 and reply.body["notifyOnPause"] is True, reply.body


def _planner(deps: Deps, api: Api, setup: dict[str, str]) -> Toolbox:
    job = {"id": setup["job"]}
    return Toolbox(deps, view(deps, job), setup["endpoint"], Actor("session", "session_7"))


def test_the_planner_pausing_and_resuming_is_announced_once_when_the_policy_asks(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    _notify_on_pause(api, setup["job"])
    until = clock.now() + timedelta(hours=1)
    _planner(deps, api, setup).call(
        "pause_until", {"untilIso": until.isoformat(), "reason": "Upstream maintenance"}
    )
    (paused,) = notices.take()
    assert (paused.event, paused.incident_id) == ("paused", f"pause_{setup['endpoint']}")
    # Delivered once to each channel, however often the message comes.
    for _ in range(3):
        Notifier(deps).handle(NoticeRef.decode(paused.encode()))
    (hook,) = loopback.got("/hook")
    now = clock.now().timestamp()
    assert _snippet()(setup["key"], hook["headers"], hook["body"].encode(), now=now)
    body = json.loads(hook["body"])
    assert body["type"] == "endpoint.paused" and body["eventId"] == paused.event_id
    assert body["endpoint"] == {"id": setup["endpoint"], "name": "Health", "jobId": setup["job"]}
    assert body["by"] == {"type": "session", "id": "session_7"}
    assert body["reason"] == "Upstream maintenance" and body["until"] == iso(until)
    link = f"http://cp.test/api/jobs/{setup['job']}/endpoints/{setup['endpoint']}"
    assert body["link"] == link
    (slack,) = loopback.got("/slack")
    text = json.loads(slack["body"])["blocks"][0]["text"]["text"]
    assert "Paused by the planner: endpoint 'Health'" in text and "|View the endpoint>" in text
    deliveries = deps.deliveries.for_incident(paused.incident_id)
    assert sorted((d.event, d.channel_kind, d.state) for d in deliveries) == [
        ("paused", "slack", "sent"),
        ("paused", "webhook", "sent"),
    ]

    clock.advance(timedelta(minutes=5))
    _planner(deps, api, setup).call("pause_until", {"untilIso": None, "reason": "Back"})
    (resumed,) = notices.take()
    Notifier(deps).handle(resumed)
    assert [json.loads(h["body"])["type"] for h in loopback.got("/hook")] == [
        "endpoint.paused",
        "endpoint.resumed",
    ]
    # Resuming what is not paused, and pausing again to the same end, say nothing.
    _planner(deps, api, setup).call("pause_until", {"untilIso": None})
    assert notices.take() == []


def test_a_reflex_pausing_an_endpoint_is_announced(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], loopback: Receivers,
    notices: Notices,
) -> None:  # fmt: skip
    _notify_on_pause(api, setup["job"])
    rule = {
        "when": {"endpoint": "self", "path": "statusCode", "op": "==", "value": 503},
        "do": {"action": "pause", "forMinutes": 30},
        "reason": "Down: stop calling it",
    }
    made = api.post(f"/api/endpoints/{setup['endpoint']}/reflexes", rule)
    assert made.status == 201, made.body
    _fail_times(deps, clock, setup["endpoint"], 1)
    (paused,) = notices.take()
    assert paused.pause is not None and paused.pause.by == Actor("reflex", made.body["id"])
    Notifier(deps).handle(paused)
    body = json.loads(loopback.got("/hook")[0]["body"])
    assert (body["type"], body["reason"]) == ("endpoint.paused", "Down: stop calling it")
    assert body["until"] == iso(clock.now() + timedelta(minutes=30))


def test_no_pause_notice_unless_asked_nor_for_a_persons_own_pause(
    deps: Deps, api: Api, clock: ManualClock, setup: dict[str, str], notices: Notices
) -> None:
    until = (clock.now() + timedelta(hours=1)).isoformat()
    _planner(deps, api, setup).call("pause_until", {"untilIso": until})
    assert notices.take() == []  # notifyOnPause defaults to false
    _planner(deps, api, setup).call("pause_until", {"untilIso": None})
    _notify_on_pause(api, setup["job"])
    paused = api.post(f"/api/endpoints/{setup['endpoint']}/pause", {"pausedUntil": until})
    assert paused.status < 300, paused.body
    assert api.post(f"/api/endpoints/{setup['endpoint']}/resume").status < 300
    assert notices.take() == []
