"""Executor throughput per process against a target that answers in 200 ms: one batch of
messages run concurrently (the `execute` handler) versus the same slots one after another.
First, what a cold executor pays for its first batch: the DynamoDB clients its threads build
and the resident memory the batch adds (a Lambda's first invocation).

In-process moto and a loopback HTTP target; results in bench/results/engine_throughput.txt.
Run: `.venv/bin/python -m bench.engine_throughput`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

for _k, _v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "CRONPILOT_TABLE_PREFIX": "bench",
    "CRONPILOT_ALLOW_PRIVATE_TARGETS": "true",
}.items():
    os.environ[_k] = _v

from moto import mock_aws  # noqa: E402

from bench.api_latency import rss_kb  # noqa: E402
from bench.notes import write_keeping_notes  # noqa: E402
from chalicelib import deps as deps_module  # noqa: E402
from chalicelib.clock import SystemClock  # noqa: E402
from chalicelib.deps import Deps  # noqa: E402
from chalicelib.domain.claim import lock_duration  # noqa: E402
from chalicelib.domain.entities import Endpoint  # noqa: E402
from chalicelib.engine.execute import Executor  # noqa: E402
from chalicelib.engine.handlers import on_runs_batch  # noqa: E402
from chalicelib.engine.queue import QueuedSlot  # noqa: E402
from chalicelib.engine.scheduling import due_shard  # noqa: E402
from chalicelib.infra import provision  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store.models import TABLES  # noqa: E402

try:  # one client for every table (absent before that change: the bench also runs on it)
    from chalicelib.store import client as client_module
except ImportError:
    client_module = None  # type: ignore[assignment]

RESULTS = Path(__file__).resolve().parent / "results" / "engine_throughput.txt"
DELAY_S = 0.2
BATCH = 10
ROUNDS = 5


class Slow(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(DELAY_S)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def slots(deps: Deps, url: str) -> list[QueuedSlot]:
    """Make BATCH endpoints due now and return their slots."""
    now = deps.clock.now()
    made = []
    for i in range(BATCH):
        eid = f"tp{time.monotonic_ns()}{i}"
        ep = Endpoint(
            tenant_id="bench",
            id=eid,
            job_id="job",
            name=eid,
            url=url,
            next_run_at=now,
            created_at=now,
            updated_at=now,
            baseline_interval_ms=3_600_000,
            due_shard=due_shard(eid, deps.settings.due_shards),
        )
        deps.endpoints.save(ep)
        made.append(QueuedSlot("bench", eid, now, int(lock_duration(ep).total_seconds() * 1000)))
    return made


def cold_batch(deps: Deps, url: str) -> tuple[int, int, float]:
    """Run a first batch on connections never used: (DynamoDB clients built, KB added, seconds)."""
    import botocore.session

    built: list[str] = []
    build = botocore.session.Session.create_client

    def counting(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return build(self, service_name, *args, **kwargs)

    records = [{"messageId": f"c{i}", "body": s.encode()} for i, s in enumerate(slots(deps, url))]
    for model, _ in TABLES.values():
        model._connection = None
    forget = getattr(client_module, "forget", None) if client_module else None
    if forget is not None:
        forget()
    botocore.session.Session.create_client = counting
    before = rss_kb(os.getpid())
    t = time.perf_counter()
    try:
        assert on_runs_batch({"Records": records}) == {"batchItemFailures": []}
    finally:
        botocore.session.Session.create_client = build
    return built.count("dynamodb"), rss_kb(os.getpid()) - before, time.perf_counter() - t


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with mock_aws():
        provision("bench", "us-east-1")
        settings = replace(Settings.from_env(), allow_private_targets=True)
        deps = Deps(settings=settings, clock=SystemClock())
        deps_module.use(deps)
        clients, added_kb, cold_s = cold_batch(deps, url)
        executor = Executor(deps)
        executor.run_slot(slots(deps, url)[0])  # warm up: signing key, connections

        sequential = 0.0
        for _ in range(ROUNDS):
            batch = slots(deps, url)
            t = time.perf_counter()
            for slot in batch:
                assert executor.run_slot(slot) is not None
            sequential += time.perf_counter() - t

        concurrent = 0.0
        for _ in range(ROUNDS):
            records = [
                {"messageId": f"m{i}", "body": slot.encode()}
                for i, slot in enumerate(slots(deps, url))
            ]
            t = time.perf_counter()
            assert on_runs_batch({"Records": records}) == {"batchItemFailures": []}
            concurrent += time.perf_counter() - t
    server.shutdown()
    calls = BATCH * ROUNDS
    lines = [
        "# Executor throughput per process (target answers in 200 ms)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, in-process moto,",
        f"{ROUNDS} batches of {BATCH} messages.",
        "",
        f"A cold executor's first batch of {BATCH}: {clients} DynamoDB clients built, "
        f"{added_kb / 1024:.0f} MB of resident memory added, {cold_s:.2f} s.",
        "",
        "| mode | calls | seconds | calls/s |",
        "|---|---:|---:|---:|",
        f"| sequential (one after another) | {calls} | {sequential:.2f} | "
        f"{calls / sequential:.1f} |",
        f"| batch run concurrently (`execute` handler) | {calls} | {concurrent:.2f} | "
        f"{calls / concurrent:.1f} |",
        "",
        f"Speed-up: x{sequential / concurrent:.1f}. The ceiling is the batch size: a batch takes",
        "as long as its slowest call plus the storage writes, which moto serialises.",
        "",
    ]
    write_keeping_notes(RESULTS, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
