"""Soak of the local stack: does lateness or memory grow with uptime?

Creates 100 endpoints at 2-10 s intervals (on a first stack, stopped at once), adds
`--preload` runs of theirs to the state folder (about 1 KB each, default 100 000, the shape of
the runs the soak then writes), starts `python -m chalicelib.local` on it, and lets the
endpoints run against a loopback target for `--minutes`. The preloaded runs stand for the
history a long-running stack holds: each endpoint's oldest runs expire at its own interval,
so every partition loses runs as fast as it gains them, the steady state of a stack at its
retention limit (TTL sweep and compaction included). Every 10 s the resident memory and CPU
of both processes are sampled.
At the end every run is read back; lateness = startedAt - slotAt. The first and the last ten
minutes are reported side by side, with the store's memory and the lateness p99 of every five
minutes and the slope of a least-squares line through each series after the first window,
with its standard error: a trend, where two windows also differ by sampling noise.
The results file is rewritten; what follows its first `## ` heading (notes, history) is kept.

Run: `.venv/bin/python -m bench.local_soak [--minutes 60] [--preload 100000] [--keep DIR]`
(`make bench-soak`); `--keep` also writes each run's start and slot (`runs.csv`), every
sample (`samples.csv`: the store's resident, anonymous and file-backed memory and its threads,
to tell the heap from mapped files and thread stacks) and the stack's log.
Results: bench/results/local_soak.txt.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.api_latency import children, percentile, rss_kb, start_stack, unlimited_tenant
from bench.engine_lateness import cpu_seconds
from bench.notes import kept_notes

RESULTS = Path(__file__).resolve().parent / "results" / "local_soak.txt"
ENDPOINTS = 100
WINDOW_S = 600.0
SAMPLE_S = 10.0
# How long the restarted stack runs before the soak's clock starts (the catch-up after it).
WARMUP_S = 60.0
# Series (memory, lateness p99) are reported per five minutes.
SLICE_S = 300.0
# The answer of every call, so that the runs written during the soak are the size and shape
# of the preloaded ones (about 1 KB): memory then compares like with like. Random bytes, so
# that the store's compression of long bodies (store/packed.py) keeps most of it: the runs
# stay about 1 KB, the most memory a run of this answer's length can take.
BODY = json.dumps(
    {"status": "healthy", "token": base64.b64encode(random.Random(15).randbytes(560)).decode()}
)
# New runs per second at 100 endpoints of 2-10 s: 100 * mean(1/k for k in 2..10).
CREATION_RATE = ENDPOINTS * statistics.mean(1 / k for k in range(2, 11))
TENANT = "soak"
# The stack's default retention (CRONPILOT_RETENTION_DAYS): the preloaded runs started this
# long before they expire, as the runs of a stack at its limit did.
RETENTION_DAYS = 30


def history(
    endpoints: list[tuple[str, float]], count: int, first_expiry_s: float
) -> list[tuple[float, str]]:
    """(expiry, endpoint) of the `count` oldest runs of a stack at its retention limit.

    Each endpoint's runs expire at its own interval, so its partition loses its oldest runs
    as fast as it gains new ones: the steady state a user's stack reaches, in the partitions
    the soak writes to (history held in other partitions shrank them to nothing while the
    soak's grew from nothing, which is not a stack at its limit).
    """
    rng = random.Random(count)
    offsets = {endpoint: rng.uniform(0, interval_s) for endpoint, interval_s in endpoints}
    per_second = sum(1 / interval_s for _, interval_s in endpoints)
    span_s = count / per_second + max(interval_s for _, interval_s in endpoints)
    found = [
        (first_expiry_s + offsets[endpoint] + j * interval_s, endpoint)
        for endpoint, interval_s in endpoints
        for j in range(int(span_s / interval_s) + 1)
    ]
    found.sort()
    return found[:count]


def preload(folder: Path, endpoints: list[tuple[str, float]], job_id: str, count: int) -> int:
    """Add `count` runs of 1 KB of `endpoints` (id, interval s) to the stack's state folder,
    expiring from a minute from now on; the snapshot's size in bytes.

    The stack that created the endpoints has stopped: its snapshot (if it wrote one) is
    rewritten with the runs added, and its journal segments replay on top as before.
    """
    from chalicelib.domain.entities import Cause, Run
    from chalicelib.domain.ids import run_id
    from chalicelib.domain.timeutil import from_ms, to_ms
    from chalicelib.local import journal, persistence
    from chalicelib.local.journal import Record
    from chalicelib.store.runs import to_item

    now = datetime.now(UTC)
    template = to_item(
        Run(
            endpoint_id="x",
            id="x",
            tenant_id=TENANT,
            job_id=job_id,
            status="success",
            started_at=now,
            finished_at=now + timedelta(milliseconds=80),
            duration_ms=80,
            status_code=200,
            source="baseline-interval",
            response_body=json.loads(BODY),
            slot_at=now,
            deadline_at=now + timedelta(seconds=30),
            cause=Cause("baseline", "baseline-interval"),
        )
    ).serialize()
    # pynamodb hands binary attributes (the compressed body) over as bytes; the wire and the
    # state folder carry them in base64, as DynamoDB's JSON does.
    for name, value in template.items():
        if isinstance(value.get("B"), bytes):
            template[name] = {"B": base64.b64encode(value["B"]).decode()}
    retention_ms = to_ms(now + timedelta(days=RETENTION_DAYS)) - to_ms(now)
    snapshot = folder / persistence.SNAPSHOT
    kept: list[bytes] = []
    next_segment = 1
    if snapshot.exists():
        bodies = journal.read_bodies(snapshot, journal.ReadReport())
        next_segment = int(json.loads(next(bodies))["nextSegment"])
        kept = [journal.frame(body) for body in bodies]

    def lines() -> Any:
        yield persistence.snapshot_header(now, next_segment)
        yield from kept
        for expiry_s, endpoint in history(endpoints, count, time.time() + 60):
            started_ms = int(expiry_s * 1000) - retention_ms
            item = dict(template)
            item["endpointId"] = {"S": endpoint}
            item["runId"] = {"S": run_id(from_ms(started_ms))}
            item["startedAt"] = {"N": str(started_ms)}
            item["slotAt"] = {"N": str(started_ms)}
            item["finishedAt"] = {"N": str(started_ms + 80)}
            item["expiresAt"] = {"N": str(int(expiry_s))}
            key = {"endpointId": item["endpointId"], "runId": item["runId"]}
            yield journal.record_line(Record("runs", key, float(int(expiry_s)), item))

    persistence.write_snapshot(folder, lines())
    return snapshot.stat().st_size


class SoakTarget(BaseHTTPRequestHandler):
    """Answers every call with BODY, the body the preloaded runs hold."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = BODY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Sample:
    at: float
    api_kb: int
    store_kb: int
    api_cpu_s: float
    store_cpu_s: float
    store_anon_kb: int = 0
    store_file_kb: int = 0
    store_threads: int = 0


def status_fields(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/PID/status (empty when gone)."""
    found: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        name, _, value = line.partition(":")
        first = value.split()[:1]
        if first and first[0].isdigit():
            found[name] = int(first[0])
    return found


@dataclass
class Sampler:
    api_pid: int
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            kids = children(self.api_pid)
            status = [status_fields(k) for k in kids]
            self.samples.append(
                Sample(
                    time.time(),
                    rss_kb(self.api_pid),
                    sum(rss_kb(k) for k in kids),
                    cpu_seconds(self.api_pid),
                    sum(cpu_seconds(k) for k in kids),
                    sum(s.get("RssAnon", 0) for s in status),
                    sum(s.get("RssFile", 0) for s in status),
                    sum(s.get("Threads", 0) for s in status),
                )
            )


def window_stats(
    runs: list[tuple[float, float]], samples: list[Sample], start: float, end: float
) -> dict[str, float]:
    late = [started - slot for started, slot in runs if start <= started < end]
    inside = [s for s in samples if start <= s.at < end]
    cpu_span = (inside[-1].at - inside[0].at) if len(inside) > 1 else 1.0
    return {
        "runs": len(late),
        "runs_per_s": len(late) / (end - start),
        "p50": statistics.median(late) if late else 0.0,
        "p99": percentile(late, 0.99) if late else 0.0,
        "max": max(late) if late else 0.0,
        "store_mb": statistics.mean(s.store_kb for s in inside) / 1024 if inside else 0.0,
        "store_max_mb": max(s.store_kb for s in inside) / 1024 if inside else 0.0,
        "api_mb": statistics.mean(s.api_kb for s in inside) / 1024 if inside else 0.0,
        "store_cpu": (inside[-1].store_cpu_s - inside[0].store_cpu_s) / cpu_span if inside else 0,
        "api_cpu": (inside[-1].api_cpu_s - inside[0].api_cpu_s) / cpu_span if inside else 0,
    }


def slices(
    points: list[tuple[float, float]], start: float, end: float, step_s: float
) -> list[list[float]]:
    """The values of `(at, value)` points in [start, end), grouped by `step_s` slice."""
    grouped: dict[int, list[float]] = {}
    for at, value in points:
        # Runs started after the end (while the results are read back) are left out.
        if start <= at < end:
            grouped.setdefault(int((at - start) // step_s), []).append(value)
    return [v for _, v in sorted(grouped.items())]


def memory_series(samples: list[Sample], start: float, end: float, step_s: float) -> list[float]:
    """The store's mean resident memory (MB) in each `step_s` slice of [start, end)."""
    points = [(s.at, s.store_kb / 1024) for s in samples]
    return [statistics.mean(v) for v in slices(points, start, end, step_s)]


def lateness_series(
    runs: list[tuple[float, float]], start: float, end: float, step_s: float
) -> list[float]:
    """Lateness p99 (s) of the runs started in each `step_s` slice of [start, end)."""
    points = [(started, started - slot) for started, slot in runs]
    return [percentile(v, 0.99) for v in slices(points, start, end, step_s)]


@dataclass(frozen=True)
class Trend:
    """Slope of a least-squares line, per hour, with its standard error."""

    per_hour: float
    stderr: float

    @property
    def rising(self) -> bool:
        """A rise beyond two standard errors: more than the scatter of the points explains."""
        return self.per_hour > 2 * self.stderr


def trend(values: list[float], step_s: float) -> Trend:
    """The trend of values taken every `step_s` seconds."""
    if len(values) < 3:
        return Trend(0.0, float("inf"))
    xs = [i * step_s / 3600 for i in range(len(values))]
    slope, intercept = statistics.linear_regression(xs, values)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, values, strict=True))
    mean_x = statistics.mean(xs)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return Trend(slope, (residual / (len(values) - 2) / spread) ** 0.5)


def read_runs(store_url: str, ids: list[str]) -> list[tuple[float, float]]:
    """(startedAt, slotAt) of every scheduled run of `ids`, read from the store itself.

    One pass per endpoint with DynamoDB's own paging: the API's offset pages re-read the
    partition from its start for every page (quadratic), which took half an hour at 1 800 runs
    an endpoint while the stack went on running.
    """
    import boto3

    from chalicelib.local.store_server import table_names

    client = boto3.client(
        "dynamodb",
        endpoint_url=store_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = table_names("cronpilot-local")["runs"]
    found: list[tuple[float, float]] = []
    for endpoint_id in ids:
        pages = client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="endpointId = :e",
            ExpressionAttributeValues={":e": {"S": endpoint_id}},
            ProjectionExpression="startedAt, slotAt",
        )
        for page in pages:
            for item in page["Items"]:
                if "slotAt" in item:  # epoch milliseconds
                    started, slot = float(item["startedAt"]["N"]), float(item["slotAt"]["N"])
                    found.append((started / 1000, slot / 1000))
    return found


def create_endpoints(
    base: str, target: str, rng: random.Random
) -> tuple[str, list[tuple[str, float]]]:
    """Create the soak's tenant, job and endpoints; (job id, [(endpoint id, interval s)])."""
    key = unlimited_tenant(base, "Soak", TENANT)
    endpoints: list[tuple[str, float]] = []
    with httpx.Client(headers={"x-api-key": key}, timeout=60, trust_env=False) as c:
        job = c.post(f"{base}/jobs", json={"name": "soak"}).json()["id"]
        for i in range(ENDPOINTS):
            interval = rng.randint(2, 10)
            ep = c.post(
                f"{base}/jobs/{job}/endpoints",
                json={"name": f"e{i}", "url": target, "baselineIntervalMs": interval * 1000},
            ).json()
            endpoints.append((ep["id"], float(interval)))
    return job, endpoints


def main() -> None:
    parser = argparse.ArgumentParser(description="lateness and memory of a long-running stack")
    parser.add_argument("--minutes", type=float, default=60)
    # A million runs is beyond the local stack (docs/local-stack.md, Limits): its index
    # queries walk the whole table. 100 000 is about 80 minutes of this soak's own runs.
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--window-minutes", type=float, default=WINDOW_S / 60)
    parser.add_argument("--keep", type=Path, help="folder for the raw runs and the stack's log")
    args = parser.parse_args()
    window_s = args.window_minutes * 60
    if args.minutes * 60 < 2 * window_s:
        raise SystemExit("--minutes must cover two windows")
    rng = random.Random(args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SoakTarget)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory(prefix="cronpilot-soak-") as tmp:
        home = Path(tmp)
        # The endpoints are created first, on a stack of their own, so that the preloaded
        # history lies in their partitions: the stack's ids are its own to choose.
        setup = start_stack(home, deadline_s=120)
        try:
            job, endpoints = create_endpoints(setup.base, target, rng)
        finally:
            setup.stop()
        ids = [endpoint for endpoint, _ in endpoints]
        began = time.monotonic()
        size = preload(home / "dynamodb-cronpilot-local", endpoints, job, args.preload)
        preload_s = time.monotonic() - began
        print(f"preloaded {args.preload} runs ({size / 1e6:.0f} MB) in {preload_s:.0f} s")
        began = time.monotonic()
        stack = start_stack(home, deadline_s=900)
        start_s = time.monotonic() - began
        print(f"stack started in {start_s:.0f} s", flush=True)
        try:
            # The slots that fell due while the stack was down run at once, late by the
            # downtime: the soak measures a stack running, so its clock starts once they ran.
            time.sleep(WARMUP_S)
            sampler = Sampler(stack.process.pid)
            sampling = threading.Thread(target=sampler.run, daemon=True)
            soak_start = time.time()
            sampling.start()
            deadline = soak_start + args.minutes * 60
            while time.time() < deadline:
                time.sleep(min(30.0, max(0.0, deadline - time.time())))
                print(f"{(time.time() - soak_start) / 60:.0f} min", flush=True)
            soak_end = time.time()
            sampler.stop.set()
            # Runs started after the end are left out by the windows: no pause needed.
            runs = read_runs(stack.store_url, ids)
        finally:
            stack.stop()
        log = (home / "stack.out").read_text()
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "stack.out").write_text(log)
            (args.keep / "runs.csv").write_text(
                "".join(f"{started:.3f},{slot:.3f}\n" for started, slot in runs)
            )
            (args.keep / "samples.csv").write_text(
                "at,store_kb,store_anon_kb,store_file_kb,store_threads,api_kb\n"
                + "".join(
                    f"{s.at:.1f},{s.store_kb},{s.store_anon_kb},{s.store_file_kb},"
                    f"{s.store_threads},{s.api_kb}\n"
                    for s in sampler.samples
                )
            )
    server.shutdown()
    swept = sum(
        int(line.split("deleted ")[1].split()[0])
        for line in log.splitlines()
        if "TTL sweep deleted" in line
    )
    compactions = log.count("compacted ")
    first = window_stats(runs, sampler.samples, soak_start, soak_start + window_s)
    last = window_stats(runs, sampler.samples, soak_end - window_s, soak_end)
    rows = [
        ("runs", "{:.0f}"),
        ("runs_per_s", "{:.1f}"),
        ("p50", "{:.3f}"),
        ("p99", "{:.3f}"),
        ("max", "{:.3f}"),
        ("store_mb", "{:.0f}"),
        ("store_max_mb", "{:.0f}"),
        ("api_mb", "{:.0f}"),
        ("store_cpu", "{:.0%}"),
        ("api_cpu", "{:.0%}"),
    ]
    labels = {
        "runs": "runs",
        "runs_per_s": "runs/s",
        "p50": "lateness p50 s",
        "p99": "lateness p99 s",
        "max": "lateness max s",
        "store_mb": "store RSS mean MB",
        "store_max_mb": "store RSS max MB",
        "api_mb": "API RSS mean MB",
        "store_cpu": "store CPU (one core)",
        "api_cpu": "API CPU (one core)",
    }
    p99_ok = last["p99"] <= first["p99"]
    memory_ok = last["store_mb"] <= first["store_mb"]
    series = memory_series(sampler.samples, soak_start, soak_end, SLICE_S)
    late_series = lateness_series(runs, soak_start, soak_end, SLICE_S)
    # Trends leave out the first window: it includes the stack's warm-up.
    skip = int(window_s // SLICE_S)
    memory_trend = trend(series[skip:], SLICE_S)
    late_trend = trend(late_series[skip:], SLICE_S)
    lines = [
        "# Soak of the local stack",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores (Python "
        f"{sys.version.split()[0]}) with `.venv/bin/python -m bench.local_soak --minutes "
        f"{args.minutes:g} --preload {args.preload}`: {ENDPOINTS} endpoints at 2-10 s against a "
        f"loopback target for {args.minutes:g} min, on a state folder preloaded with "
        f"{args.preload} runs of about 1 KB ({size / 1e6:.0f} MB snapshot, written in "
        f"{preload_s:.0f} s; the stack started on it in {start_s:.0f} s). The preloaded runs "
        f"expire at about the rate new ones are created ({CREATION_RATE:.1f}/s).",
        "",
        f"| | first {args.window_minutes:g} min | last {args.window_minutes:g} min |",
        "|---|---:|---:|",
        *[
            f"| {labels[name]} | {fmt.format(first[name])} | {fmt.format(last[name])} |"
            for name, fmt in rows
        ],
        "",
        "Store resident memory, mean of each five minutes (MB): "
        + ", ".join(f"{mb:.0f}" for mb in series)
        + f". Least-squares slope after the first window: {memory_trend.per_hour:+.1f} "
        f"± {memory_trend.stderr:.1f} MB an hour.",
        "",
        "Lateness p99 of each five minutes (s): "
        + ", ".join(f"{p:.3f}" for p in late_series)
        + f". Least-squares slope after the first window: {late_trend.per_hour:+.3f} "
        f"± {late_trend.stderr:.3f} s an hour.",
        "",
        f"TTL sweep deleted {swept} expired runs during the soak; {compactions} compactions ran.",
        f"Last window no worse than the first: lateness p99 "
        f"{'yes' if p99_ok else 'NO'}, store memory {'yes' if memory_ok else 'NO'}.",
        f"Rising after the first window (slope beyond two standard errors): lateness p99 "
        f"{'YES' if late_trend.rising else 'no'}, store memory "
        f"{'YES' if memory_trend.rising else 'no'}.",
        "",
    ]
    notes = kept_notes(RESULTS)
    RESULTS.write_text("\n".join(lines + notes) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
