"""Crash durability of the local stack: acknowledged creates survive `kill -9` of the whole stack.

Each round starts `python -m chalicelib.local` on the same state folder, checks that every
endpoint acknowledged (201) in all earlier rounds is there, then creates endpoints from four
concurrent clients and, at a random moment 0.1-2 s into the creates, kills the store process
and the API process with SIGKILL at once (no handler, no parent-death signal, no final save).
The last round only checks. Any acknowledged endpoint missing at a restart is a failure.

Run: `.venv/bin/python -m bench.local_crash [--rounds 100]`.
Results: bench/results/local_crash.txt.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.api_latency import children, start_stack, unlimited_tenant

RESULTS = Path(__file__).resolve().parent / "results" / "local_crash.txt"
CLIENTS = 4


def create_until_killed(
    base: str, key: str, job_id: str, acknowledged: list[str], stop: threading.Event, n: int
) -> None:
    """Create endpoints until the stack dies; record the id of every 201."""
    with httpx.Client(headers={"x-api-key": key}, timeout=10, trust_env=False) as client:
        i = 0
        while not stop.is_set():
            body = {
                "name": f"c{n}-{i}",
                "url": "https://api.example.com/crash",
                "baselineIntervalMs": 3_600_000,
            }
            try:
                response = client.post(f"{base}/jobs/{job_id}/endpoints", json=body)
            except httpx.TransportError:
                return
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            i += 1


def missing(base: str, key: str, expected: dict[str, list[str]]) -> int:
    """How many acknowledged endpoints the restarted stack does not list."""
    lost = 0
    with httpx.Client(headers={"x-api-key": key}, timeout=60, trust_env=False) as client:
        for job_id, ids in expected.items():
            listed = client.get(f"{base}/jobs/{job_id}/endpoints")
            listed.raise_for_status()
            present = {e["id"] for e in listed.json()["endpoints"]}
            lost += len(set(ids) - present)
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description="kill -9 durability of the local stack")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    expected: dict[str, list[str]] = {}
    acknowledged_total = 0
    failures: list[str] = []
    kill_delays: list[float] = []
    starts: list[float] = []
    key = ""
    with tempfile.TemporaryDirectory(prefix="cronpilot-crash-") as tmp:
        home = Path(tmp)
        for round_no in range(args.rounds + 1):
            started = time.monotonic()
            stack = start_stack(home, deadline_s=300)
            starts.append(time.monotonic() - started)
            if not key:
                key = unlimited_tenant(stack.base, "Crash", "crash", timeout_s=30)
            lost = missing(stack.base, key, expected)
            if lost:
                failures.append(f"round {round_no}: {lost} acknowledged endpoints missing")
            if round_no == args.rounds:
                stack.stop()
                break
            with httpx.Client(headers={"x-api-key": key}, timeout=30, trust_env=False) as c:
                job = c.post(f"{stack.base}/jobs", json={"name": f"round {round_no}"})
                job.raise_for_status()
            job_id = job.json()["id"]
            acknowledged: list[str] = []
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=create_until_killed,
                    args=(stack.base, key, job_id, acknowledged, stop, n),
                )
                for n in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            delay = rng.uniform(0.1, 2.0)
            time.sleep(delay)
            kill_delays.append(delay)
            for pid in [*children(stack.process.pid), stack.process.pid]:
                os.kill(pid, signal.SIGKILL)
            stack.process.wait()
            stop.set()
            for thread in threads:
                thread.join()
            # The job itself was acknowledged too; its endpoints list proves it came back.
            expected[job_id] = list(acknowledged)
            acknowledged_total += len(acknowledged)
            print(
                f"round {round_no + 1}/{args.rounds}: {len(acknowledged)} creates acknowledged, "
                f"killed after {delay:.2f} s, {len(failures)} failures so far",
                flush=True,
            )
    lines = [
        "# Crash durability of the local stack (kill -9 of both processes)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores (Python "
        f"{sys.version.split()[0]}) with `.venv/bin/python -m bench.local_crash "
        f"--rounds {args.rounds} --seed {args.seed}`.",
        "",
        f"- rounds: {args.rounds} (each: restart on the same state folder, check every earlier "
        f"acknowledged create, {CLIENTS} clients creating endpoints, SIGKILL of store and API "
        "at a random moment)",
        f"- kill moment: {min(kill_delays):.2f}-{max(kill_delays):.2f} s into the creates",
        f"- creates acknowledged (201) before the kills: {acknowledged_total} in all, "
        f"checked after every later restart",
        f"- restarts: {len(starts)}, start time {min(starts):.1f}-{max(starts):.1f} s "
        f"(the folder grows to {acknowledged_total} endpoints)",
        f"- acknowledged creates missing after a restart: {'none' if not failures else ''}",
        *[f"  - {failure}" for failure in failures],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
