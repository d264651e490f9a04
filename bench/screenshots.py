"""Screenshots of every dashboard page for the README (docs/screenshots/*.png).

Starts the local stack, builds the Service Recovery Workflow of the docs through the REST API
(its health check calls a loopback server, so real runs happen), adds a few hours of history
(runs and one planner session written to the store), then photographs each page with Debian's
headless Chromium.

Run: `make screenshots` or `.venv/bin/python -m bench.screenshots`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.api_latency import ROOT, start_stack
from bench.dashboard_data import new_tenant, seed_runs, seed_session, ui

OUT = ROOT / "docs" / "screenshots"


class _Health(BaseHTTPRequestHandler):
    """The health check's target: healthy, with a small JSON body."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "healthy", "error_count": 0, "needs_recovery": False})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _history(i: int) -> dict[str, Any]:
    """Two hours of a health check: a burst of errors, polled every 10 s on a hint."""
    from chalicelib.domain.entities import Actor, Cause

    failing = 70 <= i < 76
    hinted = 66 <= i < 96
    shaped: dict[str, Any] = {"duration_ms": 60 + (i * 37) % 50}
    if failing:
        shaped.update(
            status="failed",
            status_code=503,
            response_body={"status": "degraded", "error_count": 4},
        )
    if hinted:
        by = Actor("session", "ses_demo")
        shaped["cause"] = Cause("interval-hint", "ai-interval", by, "errors seen: poll faster")
        shaped["source"] = "ai-interval"
    return shaped


def _starts() -> list[datetime]:
    now = datetime.now(UTC)
    starts, at = [], now - timedelta(hours=2)
    for i in range(120):
        starts.append(at)
        at += timedelta(seconds=10 + i % 3 if 66 <= i < 96 else 55 + (i * 7) % 11)
    return [s - (starts[-1] - now) - timedelta(seconds=30) for s in starts]


def main() -> None:
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    health_url = f"http://127.0.0.1:{target.server_address[1]}/health"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cronpilot-shots-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            _shoot(stack, health_url)
        finally:
            stack.stop()
            target.shutdown()
    print(f"screenshots written to {OUT.relative_to(ROOT)}/")


def _shoot(stack: Any, health_url: str) -> None:
    from playwright.sync_api import sync_playwright

    key = new_tenant(stack, "demo", "Demo")
    api = httpx.Client(base_url=stack.base, headers={"x-api-key": key}, trust_env=False)
    job = api.post("/jobs", json={"name": "Service Recovery Workflow"}).json()
    health = api.post(
        f"/jobs/{job['id']}/endpoints",
        json={
            "name": "Health Check",
            "url": health_url,
            "baselineIntervalMs": 60_000,
            "minIntervalMs": 10_000,
            "maxIntervalMs": 300_000,
            "description": "Monitors service health. Poll faster while error_count > 0.",
        },
    ).json()
    recovery = api.post(
        f"/jobs/{job['id']}/endpoints",
        json={
            "name": "Trigger Recovery",
            "url": health_url.replace("/health", "/admin/restart"),
            "method": "POST",
            "baselineIntervalMs": 3_600_000,
            "minIntervalMs": 300_000,
            "timeoutMs": 30_000,
            "description": "Restarts the service. Run only when Health Check shows errors.",
        },
    ).json()
    api.post(
        f"/endpoints/{recovery['id']}/reflexes",
        json={
            "when": {"endpoint": health["id"], "path": "body.needs_recovery", "op": "==",
                     "value": True},
            "do": {"action": "run_now"},
            "reason": "The health check asks for recovery",
            "cooldownMs": 300_000,
        },
    ).raise_for_status()  # fmt: skip
    seed_runs(stack, health, "demo", _starts(), _history)
    session = seed_session(
        stack,
        health,
        "demo",
        reasoning="error_count rose to 4 and the status is degraded. Polling every 10 s for "
        "30 minutes to see the recovery as soon as it happens; the baseline resumes after.",
        tool_calls=(
            _call(
                "get_response_history", {"limit": 5}, {"runs": [{"status": "failed", "code": 503}]}
            ),
            _call("propose_interval", {"intervalMs": 10_000, "ttlMinutes": 30}, {"ok": True}),
        ),
        token_usage=1840,
        input_tokens=1610,
        output_tokens=230,
        duration_ms=2400,
        confidence="high",
        trigger="state changed",
    )
    api.post(
        f"/endpoints/{health['id']}/hints/interval",
        json={"intervalMs": 10_000, "ttlMinutes": 30, "reason": "errors seen: poll faster"},
    ).raise_for_status()
    api.post("/signing-keys").raise_for_status()
    time.sleep(12)  # the real runs of the new endpoints land
    runs = api.get(f"/endpoints/{health['id']}/runs", params={"limit": 100}).json()["runs"]
    failed = next(r for r in runs if r["status"] == "failed")
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium not found: run `make browser` first")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id="UTC")
        page = context.new_page()
        page.goto(f"{ui(stack)}/signin")
        page.screenshot(path=str(OUT / "signin.png"))
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("h1")
        shots = {
            "overview": "",
            "jobs": "/jobs",
            "job": f"/jobs/{job['id']}",
            "endpoint": f"/endpoints/{health['id']}",
            "run": f"/runs/{failed['id']}",
            "session": f"/sessions/{session}",
            "keys": "/keys",
        }
        for name, path in shots.items():
            page.goto(ui(stack) + path)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        page.goto(f"{ui(stack)}/jobs/{job['id']}/endpoints/new")
        page.get_by_label("Name", exact=True).fill("Sync")
        page.get_by_label("URL", exact=True).fill("ftp://example.com")
        page.get_by_label("Every (seconds)").fill("0.5")
        page.get_by_role("button", name="Add endpoint").click()
        page.screenshot(path=str(OUT / "endpoint-form-errors.png"), full_page=True)
        phone = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="UTC")
        small = phone.new_page()
        small.goto(f"{ui(stack)}/signin")
        small.get_by_label("API key").fill(key)
        small.get_by_role("button", name="Sign in").click()
        small.wait_for_selector("h1")
        small.screenshot(path=str(OUT / "overview-phone.png"), full_page=True)
        browser.close()


def _call(tool: str, args: Any, result: Any) -> Any:
    from chalicelib.domain.entities import ToolCall

    return ToolCall(tool, args, result)


if __name__ == "__main__":
    main()
