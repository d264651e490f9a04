"""Helpers for the engine e2e tests (tests/e2e/test_engine.py).

`Recorder` is a loopback HTTP target that records every request with its arrival time.
`Worker` is a second executor: a child process (`python -m tests.e2e.engine_helpers`) that
builds `chalicelib.deps.Deps` against the running stack's store (the same DynamoDB tables and
runs queue) and answers JSON-line commands on stdin/stdout: drive slots with duplicated
messages while executing them itself, claim a slot and die, read the stored runs, watch the
queues. It is a process of its own so the test process's in-process moto (tests/conftest.py)
and its settings never meet the stack's.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import HOST, ROOT, Stack, clean_env, wait_until

if TYPE_CHECKING:
    from chalicelib.deps import Deps

WORKER_REPLY_DEADLINE_S = 60.0
STORE_LINE = re.compile(r"Store\s*:\s*(http://127\.0\.0\.1:\d+)")


def poll(condition: Callable[[], bool], deadline_s: float, what: str, step_s: float = 0.1) -> None:
    """Wait until `condition()` holds; fail the test after `deadline_s`. Every poll of the API
    costs the store work, so API polls use the default step, not a tight loop."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(step_s)


def parse_instant(text: str) -> float:
    """An API instant (`...Z`) as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    at: float  # epoch seconds when the request arrived


class Recorder:
    """A loopback HTTP server that answers 200 `{"ok": true}` and records each request."""

    def __init__(self) -> None:
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so nothing stays open after close().
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with recorder._lock:
                    recorder._hits.append(Hit(self.command, self.path, arrived))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self._hits if path is None or h.path == path]

    def count(self, path: str) -> int:
        return len(self.hits(path))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the second executor, test side ----------------------------------------------------------


def store_url(stack: Stack) -> str:
    """The store's URL from the stack's banner (printed just after the API answers)."""
    wait_until(lambda: STORE_LINE.search(stack.stdout()) is not None, 20.0, "the banner")
    match = STORE_LINE.search(stack.stdout())
    assert match is not None, stack.stdout()
    return match.group(1)


def worker_env(store: str) -> dict[str, str]:
    """What the stack's own process has: its store, fake credentials, its tables and queue."""
    return clean_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=store,
        AWS_ENDPOINT_URL_DYNAMODB=store,
        AWS_ENDPOINT_URL_SQS=store,
        CRONPILOT_TABLE_PREFIX="cronpilot-local",
        CRONPILOT_OFFLINE="true",
        # Its stdout carries the JSON-line protocol: no metric lines there.
        POWERTOOLS_METRICS_DISABLED="true",
        CRONPILOT_ALLOW_PRIVATE_TARGETS="true",
    )


class Worker:
    """A second executor process on the stack's store, driven by JSON lines."""

    def __init__(self, store: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.engine_helpers"],
            cwd=ROOT,
            env=worker_env(store),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._stderr: list[str] = []
        assert self.process.stderr is not None
        self._drain = threading.Thread(
            target=self._collect, args=(self.process.stderr,), daemon=True
        )
        self._drain.start()
        assert self.call("ping") == {"ok": True}

    def _collect(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def call(self, command: str, deadline_s: float = WORKER_REPLY_DEADLINE_S, **args: Any) -> Any:
        """Send one command, return its JSON answer (the worker's error fails the test)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"command": command, "args": args}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = {}

        def read() -> None:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            if line:
                answer.update(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(deadline_s)
        if reader.is_alive() or not answer:
            self.kill()
            pytest.fail(f"worker gave no answer to {command!r}:\n{self.stderr}")
        if "error" in answer:
            pytest.fail(f"worker failed on {command!r}: {answer['error']}\n{self.stderr}")
        return answer["result"]

    def kill(self) -> None:
        """SIGKILL: the executor dies at once, with no chance to clean up."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._drain.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# --- the second executor, worker side (runs in the child process) ----------------------------


def _ms(instant: datetime) -> int:
    from chalicelib.domain.timeutil import to_ms

    return to_ms(instant)


def _lock_ms(endpoint: Any) -> int:
    from chalicelib.domain.claim import lock_duration

    return int(lock_duration(endpoint) / timedelta(milliseconds=1))


def drive(
    deps: Deps,
    tenant_id: str,
    endpoint_ids: list[str],
    rounds: int,
    threads: int,
    duplicates: int,
    jitter_ms: int,
) -> dict[str, Any]:
    """For each endpoint, `rounds` successive slots. Each slot is made due with a one-shot hint
    through the scheduling chokepoint (which sends its message to the runs queue, as the API
    does), sent `duplicates` more times, and executed here too; the next slot waits until the
    winner, whoever it was, has settled the endpoint."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.domain.schemas import OneShotHint
    from chalicelib.engine.execute import Executor
    from chalicelib.engine.queue import QueuedSlot
    from chalicelib.services.controls import oneshot_hint

    tenant = deps.tenants.get(tenant_id)
    assert tenant is not None, tenant_id
    executor = Executor(deps)
    queue = deps.require_queue()
    hint = OneShotHint.model_validate({"nextRunInMs": 0, "reason": "e2e exactly-once"})
    slots: dict[str, list[int]] = {e: [] for e in endpoint_ids}
    wins = 0
    errors: list[str] = []
    guard = threading.Lock()

    def settled(endpoint_id: str, slot: datetime) -> None:
        """Wait for the stack's executor, which won the slot, to settle the endpoint."""
        deadline = time.monotonic() + 30
        while True:
            time.sleep(0.05)  # a run takes a few store writes; polling costs the store too
            ep = deps.endpoints.get(tenant_id, endpoint_id)
            assert ep is not None
            if ep.next_run_at != slot and ep.lock_token is None:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{endpoint_id}: slot {_ms(slot)} never settled")

    def one(endpoint_id: str) -> None:
        nonlocal wins
        for _ in range(rounds):
            try:
                ep = oneshot_hint(deps, tenant, endpoint_id, hint)
                slot = QueuedSlot(tenant_id, endpoint_id, ep.next_run_at, _lock_ms(ep))
                queue.send([slot] * duplicates, deps.clock.now())
                time.sleep(random.uniform(0, jitter_ms / 1000))
                won = executor.run_slot(slot) is not None
                if not won:  # a won slot is settled when run_slot returns
                    settled(endpoint_id, slot.at)
            except Exception as exc:
                with guard:
                    errors.append(f"{endpoint_id}: {exc!r}")
                return
            with guard:
                slots[endpoint_id].append(_ms(slot.at))
                wins += int(won)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, endpoint_ids))
    return {
        "slots": slots,
        "workerWins": wins,
        "errors": errors,
        "elapsedS": time.monotonic() - started,
    }


def claim_and_hold(deps: Deps, tenant_id: str, endpoint_id: str, slot_ms: int) -> dict[str, Any]:
    """What `Executor.run_slot` does before calling the target (`Executor.claim`): claim the
    slot and record the run `running` with its deadline. The caller then kills this process."""
    from chalicelib.domain.claim import lock_duration
    from chalicelib.domain.timeutil import from_ms
    from chalicelib.engine.execute import Executor
    from chalicelib.engine.queue import QueuedSlot

    endpoint = deps.endpoints.get(tenant_id, endpoint_id)
    assert endpoint is not None, endpoint_id
    lock_ms = int(lock_duration(endpoint) / timedelta(milliseconds=1))
    held = Executor(deps).claim(QueuedSlot(tenant_id, endpoint_id, from_ms(slot_ms), lock_ms))
    if held is None:
        return {"claimed": False}
    assert held.run.deadline_at is not None
    return {
        "claimed": True,
        "runId": held.run.id,
        "startedMs": _ms(held.run.started_at),
        "lockUntilMs": _ms(held.lock_until),
        "deadlineMs": _ms(held.run.deadline_at),
    }


def stored_runs(endpoint_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every stored run of each endpoint, read from the table (no paging, no tenant filter)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.store.models import RunItem
    from chalicelib.store.runs import to_entity

    def read(endpoint_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "status": r.status,
                "slotMs": _ms(r.slot_at) if r.slot_at else None,
                "startedMs": _ms(r.started_at),
                "errorKind": r.error_kind,
            }
            for r in (to_entity(item) for item in RunItem.query(endpoint_id))
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(endpoint_ids, pool.map(read, endpoint_ids), strict=True))


def queue_depths(deps: Deps) -> dict[str, int]:
    """Messages visible, in flight and delayed on the runs queue, and on its dead-letter queue."""
    import boto3

    sqs = boto3.client("sqs", region_name=deps.settings.region)
    depths: dict[str, int] = {}
    for label, name in (
        ("runs", deps.settings.runs_queue_name),
        ("dlq", f"{deps.settings.runs_queue_name}-dlq"),
    ):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        depths[label] = sum(
            int(attributes[a])
            for a in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
    return depths


def main() -> None:
    """The worker loop: one JSON command per stdin line, one JSON answer per stdout line."""
    from chalicelib.clock import SystemClock
    from chalicelib.deps import Deps
    from chalicelib.engine.queue import SqsSlotQueue
    from chalicelib.settings import Settings

    settings = Settings.from_env()
    deps = Deps(
        settings=settings,
        clock=SystemClock(),
        queue=SqsSlotQueue(settings.runs_queue_name, settings.region),
    )
    commands: dict[str, Callable[..., Any]] = {
        "ping": lambda: {"ok": True},
        "drive": lambda **a: drive(deps, **a),
        "claim": lambda **a: claim_and_hold(deps, **a),
        "runs": stored_runs,
        "queues": lambda: queue_depths(deps),
    }
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"result": commands[request["command"]](**request.get("args", {}))}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
