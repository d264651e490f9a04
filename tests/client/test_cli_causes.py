"""Why each run happened, as the CLI shows it, on the in-process app and the manual clock: a
reflex made with `cronpilot reflexes add` fires on a sibling's answer, and `runs`, `runs get`,
`endpoints get` and `reflexes` tell which rule (and whose) planned each run. No stack, no
waiting: the test runs the slots itself, as the engine would."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from chalice.test import Client as ChaliceClient

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain import ids
from chalicelib.domain.entities import Actor, AnalysisSession
from chalicelib.domain.schemas import OneShotHint
from chalicelib.engine.caller import CallResult
from chalicelib.services import controls
from cronpilot_client.api import ApiClient
from cronpilot_client.cli import common
from cronpilot_client.cli.main import main
from cronpilot_client.config import ClientConfig
from tests.client.conftest import Result
from tests.conftest import Api
from tests.integration.fakes import StubCaller
from tests.integration.test_planner_flow import _run
from tests.integration.test_reflexes import RECOVER, _job

Run = Callable[..., Result]


class ChaliceTransport(httpx.BaseTransport):
    """Hands each request of the REST client to the Chalice app in process."""

    def __init__(self, client: ChaliceClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        assert path.startswith("/api/"), path
        reply = self._client.http.request(
            request.method, path[len("/api") :], headers=dict(request.headers), body=request.read()
        )
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.body)


@pytest.fixture
def stub(deps: Deps, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> StubCaller:
    """Every call the executor makes answered by a script (as in tests/integration)."""
    caller = StubCaller(clock)
    monkeypatch.setattr(deps, "caller", caller)
    return caller


@pytest.fixture
def cli(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`cronpilot *args` against the in-process app as tenant `acme`."""
    transport = ChaliceTransport(api._client)

    def client(config: ClientConfig) -> ApiClient:
        return ApiClient(config, transport=transport)

    monkeypatch.setattr(common, "ApiClient", client)
    env = {
        "HOME": str(tmp_path),
        "CRONPILOT_URL": "http://127.0.0.1:9/api",  # never dialled: the transport answers
        "CRONPILOT_API_KEY": str(api.key),
        "CRONPILOT_HOME": str(tmp_path / "no-local-state"),
    }

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(args), env=env, cwd=tmp_path, out=out, err=err)
        return Result(code, out.getvalue(), err.getvalue())

    return run


def answer(stub: StubCaller, body: Any) -> None:
    stub.results = [CallResult("success", 200, 40, body)]


def row_of(table: str, run_id: str) -> str:
    (line,) = [line for line in table.splitlines() if line.startswith(run_id)]
    return line


def column(table: str, header: str, line: str) -> str:
    """The text of `line` under `header` (cells are padded to the header's column)."""
    head = table.splitlines()[0]
    start = head.index(header)
    return line[start:].split("  ")[0].strip()


def test_runs_say_which_reflex_hint_or_baseline_planned_them(
    cli: Run, api: Api, deps: Deps, clock: ManualClock, stub: StubCaller
) -> None:
    job, health, recovery = _job(api)
    when = json.dumps(
        {"endpoint": health, "path": "body.needs_recovery", "op": "==", "value": True}
    )
    added = cli(
        "reflexes", "add", recovery, "--when", when, "--do", '{"action": "run_now"}',
        "--reason", str(RECOVER["reason"]), "--cooldown", "5m", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    reflex = added.json()

    answer(stub, {"status": "healthy", "needs_recovery": False})
    quiet = _run(deps, clock, health)
    clock.advance(timedelta(seconds=30))
    answer(stub, {"status": "degraded", "needs_recovery": True})
    _run(deps, clock, health)

    # Before the recovery runs, its endpoint says why it will run and who asked.
    shown = cli("endpoints", "get", job, recovery)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert any(
        line.split()[0] == "nextRunCause"
        and f"reflex (source ai-oneshot): {RECOVER['reason']}; set by reflex {reflex['id']}" in line
        for line in lines
    ), shown.out
    assert any(line.split() == ["aiHintSetBy", "reflex", reflex["id"]] for line in lines)

    answer(stub, {"restarted": True})
    restart = _run(deps, clock, recovery)
    assert restart.cause is not None and restart.cause.kind == "reflex"

    listed = cli("runs", recovery)
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[0].split()[:4] == ["ID", "STATUS", "SOURCE", "CAUSE"]
    short = f"reflex {reflex['id'][:8]}…"
    assert column(listed.out, "CAUSE", row_of(listed.out, restart.id)) == short
    baseline = cli("runs", health)
    assert column(baseline.out, "CAUSE", row_of(baseline.out, quiet.id)) == "baseline"

    detail = cli("runs", "get", restart.id)
    assert detail.code == 0, detail.err
    (cause_line,) = [line for line in detail.out.splitlines() if line.startswith("cause ")]
    assert cause_line.split(None, 1)[1] == (
        f"reflex (source ai-oneshot): {RECOVER['reason']}; set by reflex {reflex['id']}"
    )
    assert cli("runs", "get", restart.id, "--json").json()["cause"] == {
        "kind": "reflex",
        "source": "ai-oneshot",
        "by": {"type": "reflex", "id": reflex["id"]},
        "reason": RECOVER["reason"],
    }

    fired = cli("reflexes", recovery)
    assert fired.code == 0, fired.err
    line = row_of(fired.out, reflex["id"])
    assert column(fired.out, "FIRES", line) == "1"
    assert (
        column(fired.out, "LAST FIRED", line) != "" and column(fired.out, "ACTIVE", line) == "yes"
    )


def test_a_hint_set_by_a_person_names_the_key(
    cli: Run, api: Api, deps: Deps, clock: ManualClock, stub: StubCaller
) -> None:
    _, health, _ = _job(api)
    hinted = cli("hints", "interval", health, "--every", "15s", "--reason", "incident")
    assert hinted.code == 0, hinted.err
    answer(stub, {"status": "healthy"})
    run = _run(deps, clock, health)
    assert run.cause is not None and run.cause.by is not None
    listed = cli("runs", health)
    cell = column(listed.out, "CAUSE", row_of(listed.out, run.id))
    assert cell == f"interval-hint {run.cause.by.id[:8]}…" and cell.startswith("interval-hint key_")
    detail = cli("runs", "get", run.id).out
    assert f"incident; set by apiKey {run.cause.by.id}" in detail


def test_a_planner_session_is_named_with_its_trigger(
    cli: Run, api: Api, deps: Deps, clock: ManualClock, stub: StubCaller
) -> None:
    _, health, _ = _job(api)
    ep = deps.endpoints.get("acme", health)
    tenant = deps.tenants.get("acme")
    assert ep is not None and tenant is not None
    session = AnalysisSession(
        endpoint_id=health,
        id=ids.session_id(clock.now()),
        tenant_id="acme",
        job_id=ep.job_id,
        analyzed_at=clock.now(),
        reasoning="The sibling reported errors: look once more now.",
        trigger="sibling_change",
    )
    deps.sessions.put(session)
    hint = OneShotHint.model_validate({"nextRunInMs": 0, "reason": "sibling errors"})
    controls.oneshot_hint(deps, tenant, health, hint, Actor("session", session.id))
    answer(stub, {"status": "healthy"})
    run = _run(deps, clock, health)

    listed = cli("runs", health)
    cell = column(listed.out, "CAUSE", row_of(listed.out, run.id))
    assert cell == f"oneshot-hint session_{session.id.rsplit('_', 1)[1][:4]}…"
    assert f"sibling errors; set by session {session.id}" in cli("runs", "get", run.id).out
    sessions = cli("sessions", health)
    assert sessions.code == 0, sessions.err
    assert sessions.out.splitlines()[0].split()[:3] == ["ID", "STATUS", "TRIGGER"]
    assert column(sessions.out, "TRIGGER", row_of(sessions.out, session.id)) == "sibling_change"
