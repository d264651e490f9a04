"""`cronpilot endpoints ...`, `hints`, `pause`/`resume` and `test`, against the local stack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import Cli
from tests.e2e.conftest import Stack
from tests.e2e.engine_helpers import Recorder


@pytest.fixture
def job_id(cp_stack: Stack) -> str:
    reply = cp_stack.post_json("/jobs", {"name": "Endpoint tests"})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


@pytest.fixture
def endpoint(cli: Cli, job_id: str, target: Recorder) -> dict[str, Any]:
    """An hourly endpoint calling the loopback target (so nothing runs during a test)."""
    added = cli(
        "endpoints", "add", job_id, "--name", "Target", "--url", target.url + "/ok",
        "--every", "1h", "--min-interval", "10s", "--max-interval", "2h", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    body: dict[str, Any] = added.json()
    return body


def endpoints_of(cp_stack: Stack, job_id: str) -> list[dict[str, Any]]:
    reply = cp_stack.http.get(f"/jobs/{job_id}/endpoints", headers=cp_stack.headers())
    items: list[dict[str, Any]] = reply.json()["endpoints"]
    return items


def test_add_with_every_option_then_list_and_get(cli: Cli, job_id: str, cp_stack: Stack) -> None:
    added = cli(
        "endpoints", "add", job_id,
        "--name", "Trigger Recovery", "--url", "https://api.example.com/admin/restart",
        "--method", "post", "--every", "1h", "--min-interval", "5m", "--max-interval", "2h",
        "--request-timeout", "30s", "--max-execution-time", "45s", "--max-response-kb", "64",
        "--header", "Authorization: Bearer abc", "--header", "X-Team=ops",
        "--header", "X-Vendor: v-123", "--secret-header", "X-Vendor",
        "--body", '{"force": true}', "--description", "Only when the health check fails.",
        "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    ep = added.json()
    assert ep["method"] == "POST"
    assert ep["baselineIntervalMs"] == 3_600_000
    assert (ep["minIntervalMs"], ep["maxIntervalMs"]) == (300_000, 7_200_000)
    assert (ep["timeoutMs"], ep["maxExecutionTimeMs"]) == (30_000, 45_000)
    assert ep["maxResponseSizeKb"] == 64
    # Secret values (by name, or marked) come back masked; the others as sent.
    assert ep["headersJson"] == {
        "Authorization": "********",
        "X-Team": "ops",
        "X-Vendor": "********",
    }
    assert ep["secretHeaders"] == ["Authorization", "X-Vendor"]
    # The local stack sealed them with its own key, kept in its state folder (mode 0600).
    assert (cp_stack.home / "secrets.key").stat().st_mode & 0o777 == 0o600
    assert ep["bodyJson"] == {"force": True}

    cron = cli(
        "endpoints", "add", job_id, "--name", "Nightly", "--url", "https://example.com/n",
        "--cron", "0 2 * * *", "--timezone", "Europe/Paris", "--json",
    )  # fmt: skip
    assert cron.code == 0, cron.err
    assert cron.json()["baselineCron"] == "0 2 * * *"

    table = cli("endpoints", job_id)  # `list` is the default verb
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "SCHEDULE"]
    assert any("every 1h" in line and "Trigger Recovery" in line for line in lines)
    assert any("cron 0 2 * * * (Europe/Paris)" in line for line in lines)

    shown = cli("endpoints", "get", job_id, ep["id"], "--json")
    assert shown.json()["id"] == ep["id"]


def test_add_rejections_change_nothing(cli: Cli, job_id: str, cp_stack: Stack) -> None:
    base = ["endpoints", "add", job_id, "--name", "Bad", "--url", "https://example.com/x"]
    no_schedule = cli(*base)
    assert no_schedule.code == 2 and "--every, --cron" in no_schedule.err
    both = cli(*base, "--every", "1m", "--cron", "* * * * *")
    assert both.code == 2 and "not allowed with argument" in both.err
    bare_number = cli(*base, "--every", "60")
    assert bare_number.code == 2 and "duration with a unit" in bare_number.err
    too_fast = cli(*base, "--every", "500ms")
    assert too_fast.code == 6 and "baselineIntervalMs" in too_fast.err
    bad_url = cli("endpoints", "add", job_id, "--name", "Bad", "--url", "ftp://x", "--every", "1m")
    assert bad_url.code == 6 and "url: must be an http or https URL" in bad_url.err
    min_above_max = cli(*base, "--every", "1m", "--min-interval", "5m", "--max-interval", "1m")
    assert min_above_max.code == 6 and "minIntervalMs" in min_above_max.err
    bad_cron = cli(*base, "--cron", "every day")
    assert bad_cron.code == 6 and "baselineCron" in bad_cron.err
    bad_body = cli(*base, "--every", "1m", "--body", "{not json")
    assert bad_body.code == 2 and "not valid JSON" in bad_body.err
    bad_header = cli(*base, "--every", "1m", "--header", "no separator")
    assert bad_header.code == 2
    unknown_job = cli("endpoints", "add", "job_missing", "--name", "X", "--url",
                      "https://example.com", "--every", "1m")  # fmt: skip
    assert unknown_job.code == 5
    assert endpoints_of(cp_stack, job_id) == []


def test_update_changes_only_what_is_given(cli: Cli, job_id: str, endpoint: dict[str, Any]) -> None:
    ep_id = endpoint["id"]
    changed = cli("endpoints", "update", job_id, ep_id, "--every", "30m", "--clear", "max-interval",
                  "--json")  # fmt: skip
    assert changed.code == 0, changed.err
    body = changed.json()
    assert body["baselineIntervalMs"] == 1_800_000
    assert "maxIntervalMs" not in body
    assert body["minIntervalMs"] == 10_000  # untouched
    assert body["name"] == "Target"

    nothing = cli("endpoints", "update", job_id, ep_id)
    assert nothing.code == 2 and "nothing to change" in nothing.err
    contradiction = cli("endpoints", "update", job_id, ep_id, "--min-interval", "1m",
                        "--clear", "min-interval")  # fmt: skip
    assert contradiction.code == 2 and "contradicts" in contradiction.err
    cleared_name = cli("endpoints", "update", job_id, ep_id, "--name", "")
    assert cleared_name.code == 6


def test_hints_apply_and_clear(cli: Cli, job_id: str, endpoint: dict[str, Any]) -> None:
    ep_id = endpoint["id"]
    applied = cli("hints", "interval", ep_id, "--every", "15s", "--ttl-minutes", "30",
                  "--reason", "incident")  # fmt: skip
    assert applied.code == 0, applied.err
    assert applied.out.strip() == f"{ep_id} runs every 15s for the next 30 min."
    shown = cli("endpoints", "get", job_id, ep_id, "--json").json()
    assert shown["aiHintIntervalMs"] == 15_000
    assert shown["aiHintReason"] == "incident"
    listed = cli("endpoints", "list", job_id).out
    assert "every 15s until" in listed

    later = cli("hints", "oneshot", ep_id, "--in", "2h", "--json")
    assert later.code == 0 and later.json()["nextRunInMs"] == 7_200_000
    assert "aiHintNextRunAt" in cli("endpoints", "get", job_id, ep_id, "--json").json()

    cleared = cli("hints", "clear", ep_id, "--json")
    assert cleared.code == 0 and cleared.json() == {"ok": True, "endpointId": ep_id}
    after = cli("endpoints", "get", job_id, ep_id, "--json").json()
    assert "aiHintIntervalMs" not in after and "aiHintNextRunAt" not in after


def test_hint_rejections(cli: Cli, endpoint: dict[str, Any]) -> None:
    ep_id = endpoint["id"]
    too_fast = cli("hints", "interval", ep_id, "--every", "500ms")
    assert too_fast.code == 6 and "intervalMs" in too_fast.err
    long_ttl = cli("hints", "interval", ep_id, "--every", "1m", "--ttl-minutes", "99999")
    assert long_ttl.code == 6 and "ttlMinutes" in long_ttl.err
    two_targets = cli("hints", "oneshot", ep_id, "--now", "--in", "1m")
    assert two_targets.code == 2 and "exactly one of --at, --in, --now" in two_targets.err
    naive = cli("hints", "oneshot", ep_id, "--at", "2030-01-01T08:00:00")
    assert naive.code == 6 and "nextRunAt" in naive.err
    # Only the API knows the clock: an hour in the past is its 400.
    stale = cli("hints", "oneshot", ep_id, "--at", "2020-01-01T00:00:00Z")
    assert stale.code == 6 and "VALIDATION_ERROR (400)" in stale.err
    missing = cli("hints", "clear", "ep_missing")
    assert missing.code == 5
    # An id that starts with a dash reaches the API (404), it is not taken for an option.
    dashed = cli("hints", "clear", "-x3Rk9aQ0vLmN2bYcT7wE")
    assert dashed.code == 5 and "NOT_FOUND (404)" in dashed.err


def test_pause_for_and_until_then_resume(cli: Cli, job_id: str, endpoint: dict[str, Any]) -> None:
    ep_id = endpoint["id"]
    paused = cli("pause", ep_id, "--until", "2030-12-01T08:00:00+01:00", "--reason", "freeze")
    assert paused.code == 0, paused.err
    assert paused.out.strip() == f"{ep_id} paused until 2030-12-01T07:00:00Z."
    shown = cli("endpoints", "get", job_id, ep_id, "--json").json()
    assert shown["pausedUntil"] == "2030-12-01T07:00:00.000Z"
    assert "paused until" in cli("endpoints", "list", job_id).out

    for_a_while = cli("pause", ep_id, "--for", "2h", "--json")
    assert for_a_while.code == 0 and for_a_while.json()["pausedUntil"].endswith("Z")

    resumed = cli("resume", ep_id)
    assert resumed.code == 0 and resumed.out.strip() == f"{ep_id} resumed."
    assert "pausedUntil" not in cli("endpoints", "get", job_id, ep_id, "--json").json()

    no_time = cli("pause", ep_id)
    assert no_time.code == 2 and "give exactly one of --until, --for" in no_time.err
    naive = cli("pause", ep_id, "--until", "2030-01-01 08:00")
    assert naive.code == 6 and "pausedUntil" in naive.err


def test_test_run_success_failure_and_health(
    cli: Cli, job_id: str, endpoint: dict[str, Any], target: Recorder, refused_url: str
) -> None:
    ep_id = endpoint["id"]
    ok = cli("test", ep_id)
    assert ok.code == 0, ok.err
    assert "success" in ok.out and "runId" in ok.out
    assert target.count("/ok") >= 1

    broken = cli("endpoints", "update", job_id, ep_id, "--url", refused_url.replace("/api", "/x"))
    assert broken.code == 0
    failed = cli("test", ep_id, "--json")
    assert failed.code == 7
    assert failed.json()["status"] == "failed" and failed.json()["errorMessage"]

    health = cli("endpoints", "health", ep_id, "--since-hours", "2", "--json")
    assert health.code == 0
    assert health.json()["successCount"] >= 1 and health.json()["failureCount"] >= 1
    assert cli("endpoints", "health", ep_id, "--since-hours", "0").code == 6

    reset = cli("endpoints", "reset-failures", ep_id)
    assert reset.code == 0 and reset.out.strip() == f"Failure count of {ep_id} reset."
    assert cli("test", "ep_missing").code == 5


def test_archive_and_delete(
    cli: Cli, job_id: str, endpoint: dict[str, Any], cp_stack: Stack
) -> None:
    ep_id = endpoint["id"]
    refused = cli("endpoints", "delete", job_id, ep_id)
    assert refused.code == 2 and "--yes" in refused.err
    assert [e["id"] for e in endpoints_of(cp_stack, job_id)] == [ep_id]

    archived = cli("endpoints", "archive", job_id, ep_id, "--json")
    assert archived.code == 0 and archived.json()["archivedAt"]
    assert "archived" in cli("endpoints", "list", job_id).out
    conflict = cli("hints", "interval", ep_id, "--every", "1m")
    assert conflict.code == 1 and "CONFLICT (409)" in conflict.err

    deleted = cli("endpoints", "delete", job_id, ep_id, "--yes")
    assert deleted.code == 0 and deleted.out.strip() == f"Deleted endpoint {ep_id}."
    assert endpoints_of(cp_stack, job_id) == []
    again = cli("endpoints", "delete", job_id, ep_id, "--yes")
    assert again.code == 5
