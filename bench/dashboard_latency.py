"""Dashboard page server times on the local stack.

Starts `python -m chalicelib.local` on loopback, creates a tenant with a job of 100 endpoints
and an endpoint with 1 000 runs, signs in through the form, then measures p50/p99 of

    GET /api/ui                      overview (101 endpoints, 1 000 runs in the last 24 h)
    GET /api/ui/jobs/{id}            job detail with 100 endpoints
    GET /api/ui/endpoints/{id}       endpoint detail with 1 000 runs

from one keep-alive client on loopback (the time until the whole page has arrived). Results
go to bench/results/dashboard_latency.txt.

Run: `make bench-dashboard` or `.venv/bin/python -m bench.dashboard_latency [--requests N]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import timedelta

import httpx

from bench.api_latency import ENDPOINT, ROOT, Stack, percentile, record_on_stack
from bench.dashboard_data import new_tenant, seed_runs, signed_in, spaced, ui

RESULTS = ROOT / "bench" / "results" / "dashboard_latency.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per page")
    args = parser.parse_args()
    record_on_stack(run, args.requests, RESULTS)


def run(stack: Stack, requests: int) -> str:
    key = new_tenant(stack, "bench", "Bench")
    headers = {"x-api-key": key}
    with httpx.Client(headers=headers, trust_env=False, timeout=30) as c:
        big_job = c.post(f"{stack.base}/jobs", json={"name": "Hundred"}).json()["id"]
        for _ in range(100):
            c.post(f"{stack.base}/jobs/{big_job}/endpoints", json=ENDPOINT).raise_for_status()
        busy_job = c.post(f"{stack.base}/jobs", json={"name": "Busy"}).json()["id"]
        busy = c.post(f"{stack.base}/jobs/{busy_job}/endpoints", json=ENDPOINT).json()
    # Every 30 s for the last ~8 h, one in five failed.
    seed_runs(
        stack,
        busy,
        "bench",
        spaced(1000, timedelta(seconds=30)),
        lambda i: {"status": "failed", "status_code": 503} if i % 5 == 0 else {},
    )
    time.sleep(2)  # the hundred endpoints' first runs settle
    pages = [
        ("overview           GET /api/ui", ui(stack)),
        ("job detail (100)   GET /api/ui/jobs/{id}", f"{ui(stack)}/jobs/{big_job}"),
        ("endpoint (1000)    GET /api/ui/endpoints/{id}", f"{ui(stack)}/endpoints/{busy['id']}"),
    ]
    lines = [
        "Dashboard page server times on the local stack (python -m bench.dashboard_latency)",
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{requests} sequential requests per page, one keep-alive client on loopback,",
        "after 5 warm-up requests; time until the whole HTML page has arrived.",
        "load average at the start (other work shares the cores): "
        + " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "",
        f"{'page':48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'KB':>6}",
    ]
    client = signed_in(stack, key)
    try:
        # The overview keeps a tenant's 24-hour counts for 60 s: the first request pays for
        # the tenant-wide read that the measured ones below mostly skip.
        t0 = time.perf_counter()
        client.get(pages[0][1]).raise_for_status()
        cold = (time.perf_counter() - t0) * 1000
        for label, url in pages:
            for _ in range(5):
                client.get(url).raise_for_status()
            times: list[float] = []
            size = 0
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
                size = len(response.content)
            lines.append(
                f"{label:48} {percentile(times, 0.5):8.1f} {percentile(times, 0.99):8.1f} "
                f"{max(times):8.1f} {size / 1024:6.1f}"
            )
    finally:
        client.close()
    lines += [
        "",
        f"overview, first request (24 h counts read, not yet cached): {cold:.1f} ms",
        "The overview caches each tenant's 24 h run counts for 60 s; within the measured",
        "requests above the cache was mostly warm. Page sizes are the HTML alone (CSS and",
        "script are separate, cached static files).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
