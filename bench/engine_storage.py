"""Storage work per executed run, and dispatcher cost, counted (not timed) in process.

Counts every DynamoDB and SQS call the executor makes for one scheduled run (goal: at most
4 writes and 1 read, SQS sends batched) and what one dispatcher tick reads with 10 000
endpoints of which 100 are due (goal: items read <= 2 x due), with in-process moto.
Results: bench/results/engine_storage.txt. Run: `.venv/bin/python -m bench.engine_storage`.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

for _k, _v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "CRONPILOT_TABLE_PREFIX": "bench",
}.items():
    os.environ[_k] = _v

from moto import mock_aws  # noqa: E402
from pynamodb.connection.base import Connection  # noqa: E402

from chalicelib.clock import ManualClock  # noqa: E402
from chalicelib.deps import Deps  # noqa: E402
from chalicelib.domain.claim import lock_duration  # noqa: E402
from chalicelib.domain.entities import Endpoint  # noqa: E402
from chalicelib.engine.caller import CallRequest, CallResult  # noqa: E402
from chalicelib.engine.dispatch import dispatch  # noqa: E402
from chalicelib.engine.execute import Executor  # noqa: E402
from chalicelib.engine.queue import QueuedSlot  # noqa: E402
from chalicelib.engine.scheduling import due_shard  # noqa: E402
from chalicelib.infra import provision  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store.endpoint_items import config_item, state_item  # noqa: E402
from chalicelib.store.models import EndpointItem  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "engine_storage.txt"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Counter:
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()


@contextmanager
def counting() -> Iterator[Counter]:
    """Count pynamodb's DynamoDB operations by name while the block runs."""
    counter = Counter()
    original = Connection._make_api_call

    def counted(self: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        counter.calls[operation] += 1
        return original(self, operation, *args, **kwargs)

    Connection._make_api_call = counted  # type: ignore[method-assign,assignment]
    try:
        yield counter
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]


class RecordingQueue:
    def __init__(self) -> None:
        self.send_calls = 0
        self.slots: list[QueuedSlot] = []

    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None:
        if slots:
            self.send_calls += (len(slots) + 9) // 10  # what SqsSlotQueue sends: batches of 10
            self.slots.extend(slots)


class QuickCaller:
    def call(self, request: CallRequest, signing_key: str | None = None) -> CallResult:
        return CallResult("success", 5, 200, {"ok": True})


def endpoint(i: int, next_run_at: datetime, shards: int) -> Endpoint:
    eid = f"ep{i:06d}"
    return Endpoint(
        tenant_id="bench",
        id=eid,
        job_id="job_bench",
        name=f"e{i}",
        url="https://api.example.com/",
        next_run_at=next_run_at,
        created_at=T0,
        updated_at=T0,
        baseline_interval_ms=10_000,
        due_shard=due_shard(eid, shards),
    )


def run_storage(deps: Deps, queue: RecordingQueue, clock: ManualClock, runs: int) -> list[str]:
    deps.caller = QuickCaller()  # type: ignore[assignment]
    ep = endpoint(0, T0, deps.settings.due_shards)
    deps.endpoints.save(ep)
    executor = Executor(deps)
    lock_ms = int(lock_duration(ep) / timedelta(milliseconds=1))
    slot = QueuedSlot("bench", ep.id, T0, lock_ms)
    executor.run_slot(slot)  # first run creates the signing key: not counted
    per_run: list[collections.Counter[str]] = []
    sends_before = queue.send_calls
    for _ in range(runs):
        current = deps.endpoints.get("bench", ep.id)
        assert current is not None
        clock.set(current.next_run_at)
        slot = QueuedSlot("bench", ep.id, current.next_run_at, lock_ms)
        with counting() as counter:
            assert executor.run_slot(slot) is not None
        per_run.append(counter.calls)
    total: collections.Counter[str] = collections.Counter()
    for c in per_run:
        total.update(c)
    reads = sum(v for k, v in total.items() if k in READS) / runs
    writes = sum(v for k, v in total.items() if k in WRITES) / runs
    ops = ", ".join(f"{k} {v / runs:g}" for k, v in sorted(total.items()))
    sends = (queue.send_calls - sends_before) / runs
    return [
        f"## Storage work per executed run ({runs} runs of one endpoint, 10 s interval)",
        "",
        f"- DynamoDB writes per run: {writes:g} (goal <= 4)",
        f"- DynamoDB reads per run: {reads:g} (goal <= 1): the settle re-read, plus the",
        "  tenant's signing key once a minute per process (the runs here are 10 s apart)",
        f"- by operation, per run: {ops}",
        f"- SQS SendMessageBatch calls per run: {sends:g} (the next slot, sent by the executor)",
        "- SQS deletes: one DeleteMessageBatch per received batch of up to 10 (Lambda's event",
        "  source mapping on AWS; the local poller does the same)",
        "",
    ]


def run_dispatch(deps: Deps, clock: ManualClock, total: int, due: int) -> list[str]:
    shards = deps.settings.due_shards
    now = clock.now()
    start = time.perf_counter()
    with EndpointItem.batch_write() as batch:
        for i in range(total):
            when = now + (timedelta(seconds=30) if i < due else timedelta(days=1, seconds=i))
            made = endpoint(i + 1, when, shards)
            batch.save(config_item(made))
            batch.save(state_item(made))
    loaded = time.perf_counter() - start
    queue = RecordingQueue()
    with counting() as counter:
        t = time.perf_counter()
        report = dispatch(deps, queue, clock.now())
        wall = time.perf_counter() - t
    queries = counter.calls["Query"]
    return [
        f"## Dispatcher tick: {total} endpoints, {due} due within the lookahead",
        "",
        f"- items read: {report.items_read} (goal <= {2 * due}); sent: {report.sent}",
        f"- DynamoDB calls: {dict(counter.calls)} ({queries} queries over {shards} shards)",
        f"- wall time of the tick: {wall * 1000:.0f} ms on in-process moto (moto's GSI query",
        "  walks the whole table, so this grows with the table locally; DynamoDB reads only",
        "  the due range)",
        f"- loading the {total} endpoints took {loaded:.1f} s",
        "",
    ]


def main() -> None:
    with mock_aws():
        provision("bench", "us-east-1")
        clock = ManualClock(T0)
        queue = RecordingQueue()
        settings = Settings.from_env()
        deps = Deps(settings=settings, clock=clock, queue=queue)
        lines = [
            "# Engine storage work",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} with in-process moto; counts are exact,",
            "times are indicative only.",
            "",
        ]
        lines += run_storage(deps, queue, clock, runs=50)
        lines += run_dispatch(deps, clock, total=10_000, due=100)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
