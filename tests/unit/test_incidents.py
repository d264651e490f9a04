"""The pure side of alerts: when incidents open and close, how policies layer, what a notice
says, how deliveries back off, and the notice message format."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.channels import Channel, masked_url, scrub
from chalicelib.domain.entities import Actor, Endpoint, Run
from chalicelib.domain.incidents import (
    AlertPolicy,
    Close,
    Incident,
    LastError,
    Open,
    after_run,
    effective_policy,
    event_id,
    incident_id,
    next_realert,
)
from chalicelib.domain.notices import (
    MAX_ATTEMPTS,
    Notice,
    after_attempt,
    backoff_s,
    email_parts,
    slack_body,
    webhook_body,
)
from chalicelib.domain.pause_notices import pause_notice
from chalicelib.engine.notices_queue import NoticeRef

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EP = Endpoint("t", "ep", "job", "Health", "https://e.com", T0, T0, T0)
POLICY = AlertPolicy()


def run(status: str = "failed", attempt: int = 1, late_s: float = 0) -> Run:
    slot = T0
    return Run("ep", "run_1", "t", "job", status, slot + timedelta(seconds=late_s),  # type: ignore[arg-type]
               attempt=attempt, slot_at=slot)  # fmt: skip


@pytest.mark.parametrize(
    ("failures", "status", "attempt", "open_kinds", "expected"),
    [
        (2, "failed", 2, frozenset(), []),
        (3, "failed", 3, frozenset(), [Open("failures")]),
        (4, "failed", 4, frozenset({"failures"}), []),  # already open: nothing
        (7, "failed", 7, frozenset(), [Open("failures")]),  # missed before: opens now
        (0, "success", 1, frozenset(), []),  # no streak, nothing open: no write at all
        (0, "success", 4, frozenset(), [Close("failures")]),  # the first success after
        (0, "success", 1, frozenset({"failures"}), [Close("failures")]),  # streak reset
    ],
)
def test_failure_streaks_open_and_successes_close(
    failures: int, status: str, attempt: int, open_kinds: frozenset[str], expected: list[object]
) -> None:
    endpoint = replace(EP, failure_count=failures)
    assert after_run(POLICY, endpoint, run(status, attempt), open_kinds) == expected  # type: ignore[arg-type]


def test_an_on_time_run_closes_a_late_incident_and_a_late_one_does_not() -> None:
    late = frozenset({"late"})
    assert after_run(POLICY, EP, run("success", late_s=1), late) == [Close("late")]  # type: ignore[arg-type]
    assert after_run(POLICY, EP, run("success", late_s=61), late) == []  # type: ignore[arg-type]
    assert after_run(POLICY, EP, run("success", late_s=1), frozenset()) == []


def test_policies_layer_builtin_then_tenant_then_job() -> None:
    assert effective_policy(None, None) == AlertPolicy(3, True, None, 60_000)
    tenant = {"failureThreshold": 5, "realertMinutes": 60}
    assert effective_policy(tenant, None) == AlertPolicy(5, True, 60, 60_000)
    job = {"realertMinutes": None, "notifyOnRecovery": False}
    assert effective_policy(tenant, job) == AlertPolicy(5, False, None, 60_000)
    assert effective_policy({"notifyOnPause": True}, None).notify_on_pause
    assert not effective_policy({"notifyOnPause": True}, {"notifyOnPause": False}).notify_on_pause
    assert next_realert(AlertPolicy(realert_minutes=15), T0) == T0 + timedelta(minutes=15)
    assert next_realert(POLICY, T0) is None


def test_ids_sort_by_time_and_events_are_named_per_incident() -> None:
    first, later = incident_id(T0), incident_id(T0 + timedelta(milliseconds=1))
    assert first.startswith("inc_") and first < later
    assert event_id("inc_1", "opened") == "inc_1:opened"
    assert event_id("inc_1", "realert", 2) == "inc_1:realert:2"


def test_deliveries_back_off_then_give_up() -> None:
    assert [backoff_s(n) for n in range(1, MAX_ATTEMPTS + 1)] == [10, 60, 300, 900, None]
    assert after_attempt(1, sent=False) == "retrying"
    assert after_attempt(MAX_ATTEMPTS, sent=False) == "failed"
    assert after_attempt(3, sent=True) == "sent"


INCIDENT = Incident(
    "t", "inc_1", "job", "ep", "Health <prod>", "failures", "open", T0, failure_count=3,
    last_error=LastError("run_9", T0, 503, "http_status", "HTTP 503 & <b>down</b>"),
)  # fmt: skip


def test_a_notice_reads_the_same_everywhere_and_escapes_for_slack() -> None:
    notice = Notice("inc_1:opened", "opened", INCIDENT, "Ops", T0, "https://cp/api/incidents/inc_1")
    body = webhook_body(notice)
    assert body["type"] == "incident.opened" and body["eventId"] == "inc_1:opened"
    assert body["incident"]["lastError"]["statusCode"] == 503
    assert body["link"] == "https://cp/api/incidents/inc_1"
    text = slack_body(notice)["blocks"][0]["text"]["text"]
    assert "Health &lt;prod&gt;" in text and "&amp; &lt;b&gt;down&lt;/b&gt;" in text
    assert text.endswith("<https://cp/api/incidents/inc_1|View the incident>")
    subject, plain = email_parts(notice)
    assert subject == "[Cronpilot] Incident: endpoint 'Health <prod>' is failing"
    assert "3 consecutive failed runs" in plain and "Event inc_1:opened" in plain
    closed = replace(INCIDENT, state="closed", closed_at=T0 + timedelta(minutes=5))
    recovered = webhook_body(Notice("inc_1:recovered", "recovered", closed, "Ops", T0))
    assert recovered["title"] == "Resolved: endpoint 'Health <prod>' recovered"
    assert "Last error" not in recovered["text"] and "link" not in recovered
    test = webhook_body(Notice("test_1", "test", None, "Ops", T0))
    assert test["type"] == "channel.test" and "incident" not in test


def test_urls_are_masked_to_scheme_and_host_and_scrubbed_from_errors() -> None:
    secret = "https://hooks.slack.com/services/T0/B0/XYZ"
    assert masked_url(secret) == "https://hooks.slack.com/********"
    assert scrub(f"Cannot reach {secret}: refused", secret) == (
        "Cannot reach https://hooks.slack.com/********: refused"
    )
    channel = Channel("t", "chn_1", "Ops", "webhook", "sealed", T0, T0, job_ids=("a",))
    assert channel.subscribed("a") and not channel.subscribed("b")
    assert not replace(channel, enabled=False).subscribed("a")
    assert replace(channel, job_ids=None).subscribed("b")


def test_notice_messages_round_trip_and_refuse_garbage() -> None:
    ref = NoticeRef("t", "inc_1", "realert", 2, "chn_1", 3)
    assert NoticeRef.decode(ref.encode()) == ref
    assert NoticeRef.decode(NoticeRef("t", "inc_1", "opened").encode()).channel_id is None
    head = '{"tenantId": "t", "incidentId": "i", '
    bodies = [
        "[]",
        "{}",
        head + '"event": "test"}',
        head + '"event": "opened", "attempt": 0}',
        head + '"event": "opened", "sequence": true}',
    ]
    for body in bodies:
        with pytest.raises(ValueError):
            NoticeRef.decode(body)


def test_a_slot_waits_from_its_time_the_last_change_or_the_watchers_start() -> None:
    from chalicelib.domain.incidents import slot_late

    due = replace(EP, next_run_at=T0, updated_at=T0 - timedelta(days=1), due_shard="0")
    assert slot_late(due, T0 + timedelta(seconds=60), POLICY) is None  # exactly 60 s: not yet
    assert slot_late(due, T0 + timedelta(seconds=61), POLICY) == 61_000
    resumed = replace(due, updated_at=T0 + timedelta(minutes=5))
    assert slot_late(resumed, T0 + timedelta(minutes=6), POLICY) is None
    started = T0 + timedelta(hours=8)  # a stack started after a night off
    assert slot_late(due, started + timedelta(seconds=30), POLICY, started) is None
    assert slot_late(due, started + timedelta(seconds=90), POLICY, started) == 90_000


# --- pause notices ----------------------------------------------------------------------------

BY_SESSION = Actor("session", "ses_1")


def test_a_pause_notice_is_what_the_planner_or_a_reflex_changed_and_nothing_else() -> None:
    now, later = T0, T0 + timedelta(hours=1)
    paused = replace(EP, paused_until=later)
    notice = pause_notice(EP, paused, now, BY_SESSION, "maintenance")
    assert notice is not None and (notice.event, notice.until) == ("paused", later)
    assert notice.event_id == f"pause_ep:paused:{int(now.timestamp() * 1000)}"
    moved = replace(EP, paused_until=later + timedelta(hours=1))
    assert pause_notice(paused, moved, now, Actor("reflex", "rfx_1"), None) is not None
    resumed = pause_notice(paused, EP, now, BY_SESSION, None)
    assert resumed is not None and (resumed.event, resumed.until) == ("resumed", None)
    # Nothing changed, a pause already over, or a person's own doing: no notice.
    assert pause_notice(paused, paused, now, BY_SESSION, None) is None
    assert pause_notice(EP, EP, now, BY_SESSION, None) is None
    assert pause_notice(EP, replace(EP, paused_until=now), now, BY_SESSION, None) is None
    assert pause_notice(EP, paused, now, Actor("apiKey", "key_1"), None) is None
    assert pause_notice(EP, paused, now, None, None) is None
    long = pause_notice(EP, paused, now, BY_SESSION, "x" * 2000)
    assert long is not None and long.reason is not None and len(long.reason) == 500


def test_a_pause_notice_reads_the_same_everywhere() -> None:
    found = pause_notice(EP, replace(EP, paused_until=T0 + timedelta(hours=1)), T0,
                         Actor("reflex", "rfx_1"), "Queue <empty> & idle")  # fmt: skip
    assert found is not None
    notice = Notice(found.event_id, "paused", None, "Ops", T0, "http://cp/e/ep", pause=found)
    assert notice.title == ("Paused by a reflex: endpoint 'Health' until 2026-01-01T01:00:00.000Z")
    body = webhook_body(notice)
    assert body["type"] == "endpoint.paused" and body["by"] == {"type": "reflex", "id": "rfx_1"}
    assert body["endpoint"] == {"id": "ep", "name": "Health", "jobId": "job"}
    assert "incident" not in body and body["link"] == "http://cp/e/ep"
    text = slack_body(notice)["blocks"][0]["text"]["text"]
    assert "Queue &lt;empty&gt; &amp; idle" in text and "<http://cp/e/ep|View the endpoint>" in text
    subject, mail = email_parts(notice)
    assert subject.startswith("[Cronpilot] Paused by a reflex") and "reflex rfx_1" in mail


def test_pause_notice_messages_round_trip_and_refuse_garbage() -> None:
    found = pause_notice(EP, replace(EP, paused_until=T0 + timedelta(hours=1)), T0,
                         BY_SESSION, "why")  # fmt: skip
    assert found is not None
    ref = NoticeRef.for_pause(found)
    assert NoticeRef.decode(ref.encode()) == ref
    retry = NoticeRef.for_retry("t", ref.incident_id, Notice(ref.event_id, "paused", None, "",
                                T0, pause=found), "chn_1", 1)  # fmt: skip
    assert NoticeRef.decode(retry.encode()) == retry and retry.event_id == ref.event_id
    good = json.loads(ref.encode())
    bad: list[dict[str, Any]] = [
        {**good, "pause": None},
        {**good, "incidentId": "pause_other"},
        {**good, "event": "resumed"},
        {**good, "pause": {**good["pause"], "by": {"type": "apiKey", "id": "k"}}},
        {**good, "pause": {**good["pause"], "at": "soon"}},
        {**good, "pause": {**good["pause"], "until": -1}},
        {**good, "pause": {**good["pause"], "event": "stopped"}},
        {**good, "pause": {**good["pause"], "endpointName": ""}},
        {**good, "pause": {**good["pause"], "reason": 3}},
        {key: v for key, v in good.items() if key != "pause"},  # `paused` without its pause
    ]
    for body in bad:
        with pytest.raises(ValueError):
            NoticeRef.decode(json.dumps(body))
