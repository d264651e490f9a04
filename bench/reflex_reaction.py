"""Reaction latency on the local stack: the seed's automated recovery with a reflex, and the same
with the planner (a scripted model behind a loopback OpenAI-compatible server) instead.

A loopback target plays the seed's Health Check and Trigger Recovery. The benchmark makes the
health check answer `needs_recovery: true`; a call of Trigger Recovery fixes the service, so
the next health answer is healthy again. Each cycle is one reaction: from the first degraded
health run finishing (its finishedAt, from the runs API) to the recovery run starting (its
startedAt). Everything listens on 127.0.0.1; every wait is bounded in time and count.

Run: `.venv/bin/python -m bench.reflex_reaction [--samples 40] [--model-samples 5]`.
Results: bench/results/reflex_reaction.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.scenarios import rules as r
from bench.scenarios.scripted import Call, Observation, ScriptedModel
from tests.support.openai_server import FakeOpenAI, listen

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "reflex_reaction.txt"
HOST = "127.0.0.1"
API_KEY = "cp_bench_reflex_reaction_0123456789"
HEALTH = "Health Check"
RECOVERY = "Trigger Recovery"
START_DEADLINE_S = 90.0
STOP_DEADLINE_S = 30.0
SCRUBBED_PREFIXES = ("AWS_", "CRONPILOT_", "POWERTOOLS_", "OPENAI_")
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


# --- the target ------------------------------------------------------------------------------


@dataclass
class Service:
    """The service behind the two endpoints: degraded until a recovery call fixes it."""

    degraded: bool = False
    recoveries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def break_down(self) -> None:
        with self.lock:
            self.degraded = True

    def health(self) -> dict[str, Any]:
        with self.lock:
            down = self.degraded
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if down:
            return {
                "status": "degraded",
                "error_count": 15,
                "latency_ms": 2500,
                "last_check": now,
                "needs_recovery": True,
            }
        return {"status": "healthy", "error_count": 0, "latency_ms": 45, "last_check": now}

    def recover(self) -> dict[str, Any]:
        with self.lock:
            self.degraded = False
            self.recoveries += 1
        return {"action": "restart", "status": "initiated"}


def serve_target(service: Service) -> tuple[ThreadingHTTPServer, str]:
    """The loopback target: GET /health and POST /recovery."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path.startswith("/health"):
                body = service.health()
            elif self.path.startswith("/recovery"):
                body = service.recover()
            else:
                body = {"error": "not found"}
            data = json.dumps(body).encode()
            self.send_response(200 if "error" not in body else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}"


# --- the stack -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_stack(home: Path, **env: str) -> Iterator[str]:
    """`python -m chalicelib.local` on a free loopback port; yields the API base URL once
    GET /api/health answers 200 (not when a banner is printed), stops it with SIGINT."""
    port = free_port()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(SCRUBBED_PREFIXES) and k.lower() not in PROXIES
    }
    environ.update(
        NO_PROXY=HOST,
        no_proxy=HOST,
        PYTHONUNBUFFERED="1",
        CRONPILOT_PORT=str(port),
        CRONPILOT_HOME=str(home),
        CRONPILOT_OFFLINE="true",
        CRONPILOT_API_KEY=API_KEY,
        CRONPILOT_RATE_LIMIT_MUTATIONS_PER_MIN="100000",
        CRONPILOT_RATE_LIMIT_READS_PER_MIN="100000",
        **env,
    )
    home.mkdir(parents=True, exist_ok=True)
    err = (home.parent / "stack.err").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local"],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    base = f"http://{HOST}:{port}/api"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the stack exited with {process.returncode} while starting")
            try:
                if httpx.get(f"{base}/health", trust_env=False, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the stack did not answer within {START_DEADLINE_S:.0f} s")
            time.sleep(0.1)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        err.close()


class Api:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(
            base_url=base, trust_env=False, timeout=20.0, headers={"x-api-key": API_KEY}
        )

    def post(self, path: str, body: Any) -> Any:
        reply = self.http.post(path, content=json.dumps(body))
        if reply.status_code not in (200, 201):
            raise SystemExit(f"POST {path}: {reply.status_code} {reply.text}")
        return reply.json()

    def runs(self, endpoint_id: str) -> list[dict[str, Any]]:
        """Every finished run of the endpoint, oldest first (pages of 100, at most 50)."""
        found: list[dict[str, Any]] = []
        for page in range(50):
            reply = self.http.get(
                f"/endpoints/{endpoint_id}/runs", params={"limit": 100, "offset": page * 100}
            )
            reply.raise_for_status()
            runs = reply.json()["runs"]
            found += runs
            if len(runs) < 100:
                break
        done = [x for x in found if x["status"] != "running" and x.get("finishedAt")]
        return sorted(done, key=lambda x: (x["startedAt"], x["id"]))


# --- one measurement -------------------------------------------------------------------------


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def needs_recovery(run: dict[str, Any]) -> bool:
    body = run.get("responseBody")
    return isinstance(body, dict) and body.get("needs_recovery") is True


def reactions(
    health: list[dict[str, Any]], recovery: list[dict[str, Any]], since: datetime
) -> list[float]:
    """Seconds from each incident's first degraded health run finishing to the recovery run
    that followed it starting."""
    found: list[float] = []
    after = since
    for run in recovery:
        started = instant(run["startedAt"])
        if started < since:
            continue
        signal_run = next(
            (
                h
                for h in health
                if needs_recovery(h) and after <= instant(h["finishedAt"]) <= started
            ),
            None,
        )
        if signal_run is not None:
            found.append((started - instant(signal_run["finishedAt"])).total_seconds())
        after = started
    return found


@dataclass(frozen=True)
class Setup:
    health_ms: int
    recovery_min_ms: int
    cooldown_ms: int
    settle_s: float  # wait after a recovery before the next incident
    react_deadline_s: float  # give up on one incident after this long


def measure(base: str, target: str, samples: int, setup: Setup, reflex: bool) -> list[float]:
    """Create the job and its endpoints (and the reflex), play `samples` incidents, read the
    runs back and return the reaction times in seconds."""
    api = Api(base)
    service = SERVICE
    job = api.post("/jobs", {"name": "Service Recovery Workflow"})["id"]
    health = api.post(
        f"/jobs/{job}/endpoints",
        {
            "name": HEALTH,
            "url": f"{target}/health",
            "method": "GET",
            "description": "Monitors service health. When errors detected, trigger-recovery "
            "should run immediately.",
            "baselineIntervalMs": setup.health_ms,
            "minIntervalMs": min(setup.health_ms, 10_000),
            "maxIntervalMs": 300_000,
        },
    )["id"]
    recovery = api.post(
        f"/jobs/{job}/endpoints",
        {
            "name": RECOVERY,
            "url": f"{target}/recovery",
            "method": "POST",
            "description": "Recovery action that restarts the service. Only run when "
            "health-check shows errors (needs_recovery).",
            "baselineIntervalMs": 3_600_000,
            "minIntervalMs": setup.recovery_min_ms,
        },
    )["id"]
    if reflex:
        api.post(
            f"/endpoints/{recovery}/reflexes",
            {
                "when": {
                    "endpoint": health,
                    "path": "body.needs_recovery",
                    "op": "==",
                    "value": True,
                },
                "do": {"action": "run_now"},
                "cooldownMs": setup.cooldown_ms,
                "reason": "health check needs recovery: restart",
            },
        )
    time.sleep(setup.settle_s)  # the first runs and (with the planner) the first sessions
    since = datetime.now(UTC)
    missed = 0
    for i in range(samples):
        before = service.recoveries
        service.break_down()
        deadline = time.monotonic() + setup.react_deadline_s
        while service.recoveries == before and time.monotonic() < deadline:
            time.sleep(0.05)
        if service.recoveries == before:
            missed += 1
            print(
                f"  incident {i + 1}: no recovery within {setup.react_deadline_s:.0f} s", flush=True
            )
            service.recover()  # end it by hand, so the next incident starts clean
        else:
            print(f"  incident {i + 1}/{samples}: recovered", flush=True)
        time.sleep(setup.settle_s)
    api.post(f"/jobs/{job}/pause", {})
    found = reactions(api.runs(health), api.runs(recovery), since)
    api.http.close()
    if missed:
        print(f"  {missed} incidents without a recovery", flush=True)
    return found


SERVICE = Service()


def _recovery_rule(o: Observation) -> list[Call]:
    """The reflexes-off policy: the recovery's session runs it when the health check asks."""
    if r.sibling(o, HEALTH, "needs_recovery") is True:
        return r.finish([r.run_now(o, "health check shows errors")], r.INCIDENT)
    return r.finish([], r.CALM)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def row(label: str, values: list[float], wanted: int) -> str:
    if not values:
        return f"| {label} | 0/{wanted} | - | - | - | - |"
    return (
        f"| {label} | {len(values)}/{wanted} | {percentile(values, 50):.3f} | "
        f"{percentile(values, 90):.3f} | {percentile(values, 99):.3f} | {max(values):.3f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="reflex reaction latency on the local stack")
    parser.add_argument("--samples", type=int, default=40, help="incidents with the reflex")
    parser.add_argument("--model-samples", type=int, default=5, help="incidents, planner path")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    samples = max(1, min(args.samples, 200))
    model_samples = max(0, min(args.model_samples, 20))
    server, target = serve_target(SERVICE)
    reflex_setup = Setup(
        health_ms=2_000,
        recovery_min_ms=1_000,
        cooldown_ms=3_000,
        settle_s=4.0,
        react_deadline_s=30.0,
    )
    # The planner analyses one endpoint at most once a minute, hence the settle time.
    model_setup = Setup(
        health_ms=2_000,
        recovery_min_ms=1_000,
        cooldown_ms=0,
        settle_s=65.0,
        react_deadline_s=180.0,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cronpilot-reflex-") as tmp:
        print("reflexes on:", flush=True)
        with local_stack(Path(tmp) / "reflex" / "home") as base:
            on = measure(base, target, samples, reflex_setup, reflex=True)
        off: list[float] = []
        sessions = 0
        if model_samples:
            print("reflexes off (planner, scripted model):", flush=True)
            fake = FakeOpenAI(ScriptedModel({RECOVERY: _recovery_rule}))
            provider, url = listen(fake.answer)
            try:
                with local_stack(
                    Path(tmp) / "model" / "home",
                    OPENAI_API_KEY="bench",
                    OPENAI_BASE_URL=url,
                    CRONPILOT_AI_MODEL="scripted",
                ) as base:
                    off = measure(base, target, model_samples, model_setup, reflex=False)
                sessions = sum(1 for q in fake.requests if len(q.get("messages", [])) == 1)
            finally:
                provider.shutdown()
                provider.server_close()
    server.shutdown()
    server.server_close()
    wall = time.monotonic() - started
    met = bool(on) and percentile(on, 99) <= 2.0
    lines = [
        "# Reaction latency on the local stack: reflex vs planner",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (Python "
        f"{sys.version.split()[0]}) by `python -m bench.reflex_reaction --samples {samples} "
        f"--model-samples {model_samples}` ({wall:.0f} s in all).",
        "",
        "The seed's automated recovery against a loopback target: the Health Check answers "
        "`needs_recovery: true` until Trigger Recovery is called. Reaction: the first degraded "
        "health run's finishedAt to the recovery run's startedAt (both from the runs API). "
        "Shortened for samples in minutes (the seed: health 60 s, min 10 s; recovery min 5 min): "
        f"health every {reflex_setup.health_ms} ms, recovery minIntervalMs "
        f"{reflex_setup.recovery_min_ms} ms, reflex cooldown {reflex_setup.cooldown_ms} ms.",
        "",
        "Reflexes on: a reflex on Trigger Recovery made through the REST API (when Health "
        "Check's body.needs_recovery == true, run_now). Reflexes off: the planner (analysis "
        "tick 300 s, urgent messages on a signal change) with a scripted model behind a "
        "loopback OpenAI-compatible server, whose Trigger Recovery rule runs it when the "
        "health check asks; the model answers at once, so a real model adds its own seconds. "
        f"The planner path ran {sessions} sessions.",
        "",
        "| path | reactions | p50 s | p90 s | p99 s | max s |",
        "|---|---:|---:|---:|---:|---:|",
        row("reflexes on (reflex)", on, samples),
        row("reflexes off (planner)", off, model_samples),
        "",
        f"Target: p99 <= 2 s with reflexes: {'met' if met else 'NOT met'}.",
        "",
    ]
    text = "\n".join(lines)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
