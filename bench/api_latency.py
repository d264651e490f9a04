"""API latency and memory of the local stack.

Starts `python -m chalicelib.local` as a subprocess on loopback, creates a tenant with high
limits, a job with 100 endpoints and an endpoint with 200 runs, then measures p50/p99 of

    POST /api/jobs/{id}/endpoints
    GET  /api/jobs/{id}/endpoints          (100 endpoints in the job)
    GET  /api/endpoints/{id}/runs          (default page of 20, 200 runs stored)

at 1 and 16 concurrent keep-alive clients, plus the stack's resident memory (API process and
store process) at idle and at the peak under load. Results go to bench/results/api_latency.txt.

Run: `make bench` or `.venv/bin/python -m bench.api_latency [--requests N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.notes import write_keeping_notes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api_latency.txt"
HOST = "127.0.0.1"
ADMIN_TOKEN = "bench-admin-token-0123456789"
API_KEY = "cp_bench_default_key_0123456789"
ENDPOINT = {
    "name": "Bench endpoint",
    "url": "https://api.example.com/health",
    "baselineIntervalMs": 3_600_000,
    "timeoutMs": 10_000,
    "description": "Benchmark endpoint; never runs within the benchmark window.",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` in KiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def stack_rss_kb(pid: int) -> dict[str, int]:
    kids = children(pid)
    return {"api": rss_kb(pid), "store": sum(rss_kb(k) for k in kids)}


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    base: str
    store_url: str
    home: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def start_stack(home: Path, deadline_s: float = 90.0, **extra_env: str) -> Stack:
    """Start `python -m chalicelib.local` on `home` and wait until its banner is out.

    The API answers /health before the stack prints its banner (the event loops start in
    between), so readiness is the banner, which also names the store's URL.
    """
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CRONPILOT_", "OPENAI_")) and k.lower() != "http_proxy"
    }
    env.update(
        CRONPILOT_PORT=str(port),
        CRONPILOT_HOME=str(home),
        CRONPILOT_API_KEY=API_KEY,
        CRONPILOT_ADMIN_TOKEN=ADMIN_TOKEN,
        CRONPILOT_OFFLINE="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env)
    out = (home / "stack.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://{HOST}:{port}/api"
    deadline = time.monotonic() + deadline_s
    match: re.Match[str] | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit((home / "stack.out").read_text())
        output = (home / "stack.out").read_text()
        if "Press Ctrl-C" in output:
            match = re.search(r"Store\s*:\s*(http://127\.0\.0\.1:\d+)", output)
            break
        time.sleep(0.1)
    else:
        process.kill()
        raise SystemExit("stack did not start")
    if match is None:
        process.kill()
        raise SystemExit("the banner does not name the store URL")
    return Stack(process, base, match.group(1), home)


def unlimited_tenant(base: str, name: str, tenant_id: str, timeout_s: float = 60) -> str:
    """Create a tenant whose rate and endpoint limits stay out of a benchmark's way; its key."""
    created = httpx.post(
        f"{base}/admin/tenants",
        json={
            "name": name,
            "id": tenant_id,
            "limits": {
                "maxEndpoints": 100_000,
                "mutationsPerMinute": 1_000_000,
                "readsPerMinute": 1_000_000,
            },
        },
        headers={"x-admin-token": ADMIN_TOKEN},
        trust_env=False,
        timeout=timeout_s,
    )
    created.raise_for_status()
    return str(created.json()["apiKey"]["key"])


def seed_runs(store_url: str, endpoint_id: str, job_id: str, tenant_id: str, count: int) -> None:
    """Write runs straight into the store (the API has no route that creates runs)."""
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=store_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        CRONPILOT_TABLE_PREFIX="cronpilot-local",
    )
    from chalicelib.domain.entities import Run
    from chalicelib.domain.ids import run_id
    from chalicelib.settings import Settings
    from chalicelib.store import models
    from chalicelib.store.runs import to_item

    models.bind(Settings.from_env())
    start = datetime.now(UTC) - timedelta(hours=1)
    with models.RunItem.batch_write() as batch:
        for i in range(count):
            started = start + timedelta(seconds=10 * i)
            run = Run(
                endpoint_id=endpoint_id,
                id=run_id(started),
                tenant_id=tenant_id,
                job_id=job_id,
                status="success" if i % 5 else "failed",
                started_at=started,
                finished_at=started + timedelta(milliseconds=80),
                duration_ms=80,
                status_code=200,
                source="baseline-interval",
                response_body={"status": "healthy", "error_count": i % 3, "latency_ms": 40},
            )
            batch.save(to_item(run))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(
    concurrency: int,
    per_client: int,
    request: Callable[[httpx.Client], httpx.Response],
    expect: int,
    headers: dict[str, str],
) -> tuple[list[float], float]:
    """Latencies in ms and the wall time of `concurrency` clients doing `per_client` each."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    barrier = threading.Barrier(concurrency)

    def worker() -> None:
        with httpx.Client(headers=headers, timeout=30, trust_env=False) as client:
            request(client)  # warm the connection
            barrier.wait()
            mine = []
            for _ in range(per_client):
                t0 = time.perf_counter()
                response = request(client)
                mine.append((time.perf_counter() - t0) * 1000)
                if response.status_code != expect:
                    errors.append(f"{response.status_code} {response.text[:200]}")
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"unexpected responses: {errors[:3]}")
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per route and level")
    args = parser.parse_args()
    record_on_stack(run, args.requests, RESULTS)


def record_on_stack(run: Callable[[Stack, int], str], requests: int, results: Path) -> None:
    """Start a local stack in a temporary folder, run `run` on it, write and print its report."""
    with tempfile.TemporaryDirectory(prefix="cronpilot-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            report = run(stack, requests)
        finally:
            stack.stop()
    write_keeping_notes(results, report)
    print(report)


def run(stack: Stack, requests: int) -> str:
    admin = {"x-admin-token": ADMIN_TOKEN}
    limits = {
        "maxEndpoints": 100_000,
        "mutationsPerMinute": 1_000_000,
        "readsPerMinute": 1_000_000,
    }
    created = httpx.post(
        f"{stack.base}/admin/tenants",
        json={"name": "Bench", "id": "bench", "limits": limits},
        headers=admin,
        trust_env=False,
    ).json()
    key = created["apiKey"]["key"]
    headers = {"x-api-key": key, "content-type": "application/json"}
    with httpx.Client(headers=headers, trust_env=False, timeout=30) as c:
        listed_job = c.post(f"{stack.base}/jobs", json={"name": "Listed"}).json()["id"]
        write_job = c.post(f"{stack.base}/jobs", json={"name": "Writes"}).json()["id"]
        first = None
        for _ in range(100):
            ep = c.post(f"{stack.base}/jobs/{listed_job}/endpoints", json=ENDPOINT).json()
            first = first or ep["id"]
    assert first is not None
    seed_runs(stack.store_url, first, listed_job, "bench", 200)
    time.sleep(3)  # let the store's saver settle before the idle reading
    idle = stack_rss_kb(stack.process.pid)

    body = json.dumps(ENDPOINT)
    routes: list[tuple[str, Callable[[httpx.Client], httpx.Response], int]] = [
        (
            "POST /api/jobs/{id}/endpoints",
            lambda c: c.post(f"{stack.base}/jobs/{write_job}/endpoints", content=body),
            201,
        ),
        (
            "GET /api/jobs/{id}/endpoints (100)",
            lambda c: c.get(f"{stack.base}/jobs/{listed_job}/endpoints"),
            200,
        ),
        (
            "GET /api/endpoints/{id}/runs",
            lambda c: c.get(f"{stack.base}/endpoints/{first}/runs"),
            200,
        ),
    ]
    peak = dict(idle)
    sampling = threading.Event()

    def sampler() -> None:
        while not sampling.is_set():
            now = stack_rss_kb(stack.process.pid)
            for part, value in now.items():
                peak[part] = max(peak[part], value)
            sampling.wait(0.2)

    watcher = threading.Thread(target=sampler, daemon=True)
    watcher.start()
    rows = []
    for concurrency in (1, 16):
        per_client = max(1, requests // concurrency)
        for name, request, expect in routes:
            latencies, wall = measure(concurrency, per_client, request, expect, headers)
            rows.append(
                (
                    name,
                    concurrency,
                    len(latencies),
                    statistics.median(latencies),
                    percentile(latencies, 0.99),
                    len(latencies) / wall,
                )
            )
    sampling.set()
    watcher.join()

    lines = [
        "# API latency on the local stack",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores "
        f"(Python {sys.version.split()[0]}); keep-alive httpx clients on loopback;",
        "moto in its own process stands in for DynamoDB. Latency is per request, client side.",
        "",
        "| route | clients | requests | p50 ms | p99 ms | req/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, conc, n, p50, p99, rps in rows:
        lines.append(f"| {name} | {conc} | {n} | {p50:.1f} | {p99:.1f} | {rps:.0f} |")
    lines += [
        "",
        "| memory (RSS) | API process | store process | total |",
        "|---|---:|---:|---:|",
        f"| idle | {idle['api'] / 1024:.0f} MB | {idle['store'] / 1024:.0f} MB | "
        f"{(idle['api'] + idle['store']) / 1024:.0f} MB |",
        f"| peak under load | {peak['api'] / 1024:.0f} MB | {peak['store'] / 1024:.0f} MB | "
        f"{(peak['api'] + peak['store']) / 1024:.0f} MB |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
