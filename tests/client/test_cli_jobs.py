"""`cronpilot jobs ...` and the job forms of `pause`/`resume`, against the local stack."""

from __future__ import annotations

import uuid

from tests.client.conftest import Cli
from tests.e2e.conftest import Stack


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_create_list_get_and_update_a_job(cli: Cli) -> None:
    name = unique("Nightly ETL")
    created = cli("jobs", "create", name, "--description", "loads the warehouse", "--json")
    assert created.code == 0, created.err
    job = created.json()
    assert job["name"] == name and job["status"] == "active"

    table = cli("jobs")  # `list` is the default verb
    assert table.code == 0, table.err
    header, *rows = table.out.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "ENDPOINTS", "CREATED"]
    row = next(line for line in rows if job["id"] in line)
    assert name in row and "active" in row

    shown = cli("jobs", "get", job["id"])
    assert shown.code == 0
    assert "name" in shown.out and name in shown.out and "loads the warehouse" in shown.out

    renamed = cli(
        "jobs", "update", job["id"], "--name", name + " v2", "--clear-description", "--json"
    )
    assert renamed.code == 0, renamed.err
    assert renamed.json()["name"] == name + " v2"
    assert "description" not in renamed.json()


def test_status_filter_is_sent(cli: Cli, cp_stack: Stack) -> None:
    active = cli("jobs", "create", unique("Active"), "--json").json()
    paused = cli("jobs", "create", unique("Paused"), "--json").json()
    assert cli("jobs", "pause", paused["id"]).code == 0

    only_paused = cli("jobs", "--status", "paused", "--json").json()["jobs"]
    ids = {j["id"] for j in only_paused}
    assert paused["id"] in ids and active["id"] not in ids
    assert {j["status"] for j in only_paused} == {"paused"}

    assert cli("resume", "--job", paused["id"]).code == 0
    resumed = cp_stack.http.get(f"/jobs/{paused['id']}", headers=cp_stack.headers()).json()
    assert resumed["status"] == "active"
    assert cli("pause", "--job", paused["id"], "--json").json()["status"] == "paused"
    assert cli("jobs", "resume", paused["id"], "--json").json()["status"] == "active"


def test_archive_is_a_soft_delete(cli: Cli) -> None:
    job = cli("jobs", "create", unique("Old"), "--json").json()
    archived = cli("jobs", "archive", job["id"], "--json")
    assert archived.code == 0
    assert archived.json()["status"] == "archived"
    assert cli("jobs", "get", job["id"], "--json").json()["status"] == "archived"
    # An archived job cannot be paused: a 409 is exit code 1, with the API's code and message.
    refused = cli("jobs", "pause", job["id"])
    assert refused.code == 1
    assert "CONFLICT (409)" in refused.err and "archived" in refused.err


def test_bad_input_is_refused_before_sending(cli: Cli, cp_stack: Stack) -> None:
    before = cp_stack.http.get("/jobs", headers=cp_stack.headers()).json()["jobs"]

    blank = cli("jobs", "create", "   ")
    assert blank.code == 6
    assert "VALIDATION_ERROR" in blank.err and "name: must not be blank" in blank.err

    too_long = cli("jobs", "create", "x" * 256)
    assert too_long.code == 6 and "name" in too_long.err

    bad_status = cli("jobs", "--status", "sleeping")
    assert bad_status.code == 2 and "invalid choice" in bad_status.err

    nothing = cli("jobs", "update", "job_whatever")
    assert nothing.code == 2 and "nothing to change" in nothing.err

    after = cp_stack.http.get("/jobs", headers=cp_stack.headers()).json()["jobs"]
    assert after == before


def test_unknown_job_is_not_found(cli: Cli) -> None:
    missing = cli("jobs", "get", "job_does_not_exist")
    assert missing.code == 5
    assert "NOT_FOUND (404)" in missing.err
    # An id cannot reach another route: it is one encoded path segment.
    sneaky = cli("jobs", "get", "../api-keys")
    assert sneaky.code == 5


def test_pause_needs_exactly_one_target(cli: Cli) -> None:
    neither = cli("pause")
    assert neither.code == 2 and "ENDPOINT_ID or --job" in neither.err
    job_with_until = cli("pause", "--job", "job_x", "--until", "2030-01-01T00:00:00Z")
    assert job_with_until.code == 2 and "apply to endpoints" in job_with_until.err
