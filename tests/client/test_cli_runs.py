"""`cronpilot runs ...` (including a bounded `--follow`) and `sessions ...`."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.client.conftest import Cli, Result, SignalingStream
from tests.e2e.conftest import Stack
from tests.e2e.engine_helpers import Recorder


@pytest.fixture
def endpoint_id(cp_stack: Stack, target: Recorder) -> str:
    job = cp_stack.post_json("/jobs", {"name": "Run tests"}).json()
    # Hourly: the only runs during a test are the ones the test makes.
    created = cp_stack.post_json(
        f"/jobs/{job['id']}/endpoints",
        {"name": "Target", "url": target.url + "/runs", "baselineIntervalMs": 3_600_000},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def make_run(cp_stack: Stack, endpoint_id: str) -> dict[str, Any]:
    """A test run, recorded synchronously by the API (source `test`)."""
    reply = cp_stack.post_json(f"/endpoints/{endpoint_id}/test", {})
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_list_filter_page_and_get(cli: Cli, cp_stack: Stack, endpoint_id: str) -> None:
    first = make_run(cp_stack, endpoint_id)
    second = make_run(cp_stack, endpoint_id)

    table = cli("runs", endpoint_id)  # `list` is the default verb
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "SOURCE"]
    assert [line.split()[0] for line in lines[1:]] == [second["runId"], first["runId"]]
    assert all(" success " in line and " test " in line for line in lines[1:])

    page = cli("runs", "list", endpoint_id, "--limit", "1", "--offset", "1", "--json").json()
    assert [r["id"] for r in page["runs"]] == [first["runId"]]
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    failed_only = cli("runs", endpoint_id, "--status", "failed", "--json").json()
    assert failed_only["runs"] == [] and failed_only["total"] == 0

    detail = cli("runs", "get", first["runId"], "--json")
    assert detail.code == 0
    assert detail.json()["responseBody"] == {"ok": True}
    assert detail.json()["endpoint"]["id"] == endpoint_id
    assert cli("runs", "get", "run_missing").code == 5


def test_list_rejections(cli: Cli, endpoint_id: str) -> None:
    assert cli("runs", endpoint_id, "--limit", "0").code == 6
    assert cli("runs", endpoint_id, "--limit", "101").code == 6
    assert cli("runs", endpoint_id, "--status", "done").code == 2
    stray = cli("runs", endpoint_id, "--max-events", "2")
    assert stray.code == 2 and "only apply with --follow" in stray.err
    paged = cli("runs", endpoint_id, "--follow", "--offset", "5")
    assert paged.code == 2 and "--offset" in paged.err
    assert cli("runs", "ep_missing").code == 5


def test_follow_streams_new_runs(cli: Cli, cp_stack: Stack, endpoint_id: str) -> None:
    before = make_run(cp_stack, endpoint_id)
    out, err = SignalingStream(), SignalingStream()
    results: list[Result] = []
    args = ["runs", endpoint_id, "--follow", "--interval", "0.1", "--max-events", "2"]
    follower = threading.Thread(
        target=lambda: results.append(cli(*args, "--for", "30", "--json", out=out, err=err))
    )
    follower.start()
    try:
        # Runs made after the follower has read the current page are the new ones.
        assert err.wait_for("Following runs of"), err.getvalue()
        new = [make_run(cp_stack, endpoint_id), make_run(cp_stack, endpoint_id)]
    finally:
        follower.join(timeout=30)
    assert not follower.is_alive()
    assert results and results[0].code == 0, err.getvalue()
    streamed = [json.loads(line) for line in out.getvalue().splitlines()]
    # First the existing run (history), then exactly the two new ones, oldest first.
    assert [r["id"] for r in streamed] == [before["runId"], *(r["runId"] for r in new)]


def test_follow_stops_at_its_deadline(cli: Cli, endpoint_id: str) -> None:
    quiet = cli("runs", endpoint_id, "--follow", "--interval", "0.05", "--for", "0.2")
    assert quiet.code == 0, quiet.err
    assert quiet.out.splitlines() == [quiet.out.splitlines()[0]]  # only the header
    assert quiet.out.split()[:2] == ["ID", "STATUS"]
    assert "Following runs of" in quiet.err


def test_sessions_list_and_get(cli: Cli, endpoint_id: str) -> None:
    empty = cli("sessions", endpoint_id)
    assert empty.code == 0 and empty.out.strip() == "(none)"
    listed = cli("sessions", "list", endpoint_id, "--limit", "5", "--json").json()
    assert listed == {"sessions": [], "total": 0, "hasMore": False}
    assert cli("sessions", endpoint_id, "--limit", "500").code == 6
    assert cli("sessions", "get", "ses_missing").code == 5
