"""`cronpilot reflexes ...` against the local stack: the seed's recovery rule added, listed,
shown, replaced from a file and from stdin, removed; mistakes caught before sending (exit 2
for JSON, 6 for a bad rule), and the API's own 400 and 404 with the field at fault."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Cli
from tests.e2e.conftest import Stack
from tests.e2e.engine_helpers import Recorder

DO_RUN_NOW = '{"action": "run_now"}'
REASON = "The health check asks for recovery"


@pytest.fixture
def workflow(cp_stack: Stack, target: Recorder) -> dict[str, str]:
    """The seed's two endpoints, hourly on the loopback target (whose answers never ask for
    recovery, so no reflex fires during a test)."""
    job = cp_stack.post_json("/jobs", {"name": "Service Recovery Workflow"}).json()["id"]
    ids = {"job": job}
    for key, name in (("health", "Health Check"), ("recovery", "Trigger Recovery")):
        made = cp_stack.post_json(
            f"/jobs/{job}/endpoints",
            {"name": name, "url": f"{target.url}/{key}", "baselineIntervalMs": 3_600_000},
        )
        assert made.status_code == 201, made.text
        ids[key] = made.json()["id"]
    return ids


def recover_when(health: str) -> str:
    return json.dumps(
        {"endpoint": health, "path": "body.needs_recovery", "op": "==", "value": True}
    )


def reflexes_of(cp_stack: Stack, endpoint_id: str) -> list[dict[str, Any]]:
    reply = cp_stack.http.get(f"/endpoints/{endpoint_id}/reflexes", headers=cp_stack.headers())
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["reflexes"]
    return found


def test_add_list_show_replace_and_remove(
    cli: Cli, cp_stack: Stack, workflow: dict[str, str], tmp_path: Path, monkeypatch: Any
) -> None:
    health, recovery = workflow["health"], workflow["recovery"]
    added = cli(
        "reflexes", "add", recovery, "--when", recover_when(health), "--do", DO_RUN_NOW,
        "--reason", REASON, "--cooldown", "5m", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    reflex = added.json()
    assert reflex["id"].startswith("rfx_") and reflex["endpointId"] == recovery
    assert reflex["cooldownMs"] == 300_000 and reflex["do"] == {"action": "run_now"}
    assert reflex["when"]["endpoint"] == health and reflex["createdBy"]["type"] == "apiKey"

    table = cli("reflexes", recovery)  # `list` is the default verb
    assert table.code == 0, table.err
    head, *rows = table.out.splitlines()
    assert head.split() == [
        "ID", "WHEN", "DO", "COOLDOWN", "EXPIRES", "FIRES", "LAST", "FIRED", "ACTIVE",
    ]  # fmt: skip
    (row,) = rows
    assert row.startswith(reflex["id"])
    assert f"{health[:6]}…:body.needs_recovery == true" in row
    assert row.split()[-5:] == ["now", "5m", "never", "0", "yes"]
    assert cli("reflexes", "list", health).out.strip() == "(none)"

    shown = cli("reflexes", "show", recovery, reflex["id"])
    assert shown.code == 0, shown.err
    fields = {line.split(None, 1)[0]: line for line in shown.out.splitlines() if line[:1] != " "}
    assert fields["reason"].split(None, 1)[1] == REASON
    assert fields["createdBy"].split()[1] == "apiKey"
    assert fields["cooldownMs"].split()[1] == "300000"

    # `show --json`, edited and sent back whole: the fields only the API sets are dropped.
    rule = cli("reflexes", "show", recovery, reflex["id"], "--json").json()
    rule.update(cooldownMs=600_000, reason="Slower retries")
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(rule))
    replaced = cli("reflexes", "replace", recovery, reflex["id"], "--rule", "rule.json", "--json")
    assert replaced.code == 0, replaced.err
    assert replaced.json()["id"] == reflex["id"]
    assert (replaced.json()["cooldownMs"], replaced.json()["reason"]) == (600_000, "Slower retries")

    piped = {
        "when": {"any": [json.loads(recover_when(health)),
                         {"endpoint": "self", "path": "failureCount", "op": ">=", "value": 3}]},
        "do": {"action": "set_interval", "intervalMs": 600_000, "forMinutes": 30},
        "reason": "From stdin",
    }  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(piped)))
    from_stdin = cli("reflexes", "replace", recovery, reflex["id"], "--rule", "-", "--json")
    assert from_stdin.code == 0, from_stdin.err
    assert from_stdin.json()["do"] == piped["do"]
    assert from_stdin.json()["cooldownMs"] == 60_000  # replaced whole: back to the default
    listed = cli("reflexes", recovery).out
    assert "every 10m for 30 min" in listed and " or failureCount >= 3" in listed

    removed = cli("reflexes", "rm", recovery, reflex["id"])
    assert removed.code == 0, removed.err
    assert removed.out.strip() == f"Reflex {reflex['id']} of {recovery} removed."
    assert reflexes_of(cp_stack, recovery) == []
    assert cli("reflexes", "show", recovery, reflex["id"]).code == 5
    gone = cli("reflexes", "rm", recovery, reflex["id"], "--json")
    assert gone.code == 5 and "NOT_FOUND (404)" in gone.err


def test_mistakes_are_caught_before_sending(
    cli: Cli, workflow: dict[str, str], refused_url: str, tmp_path: Path
) -> None:
    recovery, health = workflow["recovery"], workflow["health"]
    # Nothing listens on refused_url: a request would exit 3, so these never sent one.
    add = ["reflexes", "add", recovery, "--api-url", refused_url]
    rule = ["--when", recover_when(health), "--do", DO_RUN_NOW, "--reason", REASON]

    broken = cli(*add, "--when", '{"path": "status"', "--do", DO_RUN_NOW, "--reason", "x")
    assert broken.code == 2 and "argument --when: not valid JSON" in broken.err
    bare = cli(*add, *rule, "--cooldown", "300")
    assert bare.code == 2 and "is not a duration with a unit" in bare.err
    missing = cli(*add, "--when", recover_when(health), "--do", DO_RUN_NOW)
    assert missing.code == 2 and "missing --reason" in missing.err
    both = cli(*add, *rule, "--rule", "rule.json")
    assert both.code == 2 and "--rule gives the whole rule" in both.err
    absent = cli(*add, "--rule", "no-such-rule.json")
    assert absent.code == 2 and "cannot read no-such-rule.json" in absent.err
    (tmp_path / "broken.json").write_text('{"when": ')
    unparsable = cli(*add, "--rule", "broken.json")
    assert unparsable.code == 2 and "broken.json is not valid JSON" in unparsable.err

    # Valid JSON, bad rule: the API's own parser names each field (exit 6, as the API's 400).
    bad_op = json.dumps({"path": "status", "op": "~=", "value": "failed"})
    invalid = cli(*add, "--when", bad_op, "--do", '{"action": "reboot"}', "--reason", "x")
    assert invalid.code == 6, invalid.err
    assert "VALIDATION_ERROR" in invalid.err
    assert "when.op" in invalid.err and "do.action" in invalid.err
    nested = json.dumps({"all": [json.loads(recover_when(health)), {"path": "body..x"}]})
    deep = cli(*add, "--when", nested, "--do", DO_RUN_NOW, "--reason", "x")
    assert deep.code == 6 and "when.all.1.path" in deep.err, deep.err
    (tmp_path / "typo.json").write_text(
        json.dumps({"when": json.loads(recover_when(health)), "do": {"action": "run_now"},
                    "reason": "x", "cooldown": 300_000})
    )  # fmt: skip
    typo = cli(*add, "--rule", "typo.json")
    assert typo.code == 6 and "unknown field(s) cooldown" in typo.err


def test_the_api_refusals_name_the_field(
    cli: Cli, cp_stack: Stack, workflow: dict[str, str]
) -> None:
    recovery, health = workflow["recovery"], workflow["health"]
    rule = ["--when", recover_when(health), "--do", DO_RUN_NOW, "--reason", REASON]
    # Only the API knows its clock: an expiry already past stores the reflex inactive.
    stale = cli("reflexes", "add", recovery, *rule, "--expires", "2001-01-01T00:00:00Z", "--json")
    assert stale.code == 0, stale.err
    made = json.loads(stale.out)
    assert made["active"] is False
    assert cli("reflexes", "rm", recovery, made["id"]).code == 0

    # A condition naming an endpoint outside the job: 404 naming `when`.
    outside = json.dumps({"endpoint": "no-such-endpoint", "path": "status", "op": "exists"})
    foreign = cli("reflexes", "add", recovery, "--when", outside, "--do", DO_RUN_NOW,
                  "--reason", "x")  # fmt: skip
    assert foreign.code == 5, foreign.err
    assert (
        "NOT_FOUND (404)" in foreign.err
        and "when: unknown endpoint no-such-endpoint" in foreign.err
    )
    assert reflexes_of(cp_stack, recovery) == []

    assert cli("reflexes", "ep_missing").code == 5
    assert cli("reflexes", "add", "ep_missing", *rule).code == 5
    assert cli("reflexes", "show", recovery, "rfx_missing").code == 5
    missing = cli("reflexes", "replace", recovery, "rfx_missing", *rule)
    assert missing.code == 5 and "Reflex not found" in missing.err


def test_runs_show_who_started_a_test_run(
    cli: Cli, cp_stack: Stack, workflow: dict[str, str]
) -> None:
    health = workflow["health"]
    tested = cp_stack.post_json(f"/endpoints/{health}/test", {}).json()
    table = cli("runs", health, "--status", "success")
    assert table.code == 0, table.err
    head, *rows = table.out.splitlines()
    assert head.split()[:4] == ["ID", "STATUS", "SOURCE", "CAUSE"]
    (row,) = [line for line in rows if line.startswith(tested["runId"])]
    at = head.index("CAUSE")
    assert row[at:].startswith("manual-test key_")  # a person's key started it
    detail = cli("runs", "get", tested["runId"]).out
    assert "manual-test (source test): manual test run; set by apiKey key_" in detail
