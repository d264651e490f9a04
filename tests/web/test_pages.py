"""The dashboard in process: sign-in, sessions, CSRF, the tenant wall, forms, every page."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from chalice.test import Client

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import AnalysisSession, Run, ToolCall
from chalicelib.domain.ids import run_id
from chalicelib.domain.incidents import Incident
from chalicelib.web.paths import ROOT
from tests.conftest import new_tenant, snapshot
from tests.web.support import Browser

HEALTH = {
    "name": "Health Check",
    "url": "https://api.example.com/health",
    "method": "GET",
    "schedule": "interval",
    "every": "60",
    "min_s": "10",
    "max_s": "300",
    "timezone": "UTC",
    "description": "Poll faster while error_count > 0.",
}


@pytest.fixture
def key(deps: Deps) -> str:
    return new_tenant(deps, "acme")


@pytest.fixture
def browser(chalice_client: Client, key: str) -> Browser:
    b = Browser(chalice_client)
    assert b.sign_in(key).status == 303
    return b


def _job(browser: Browser, name: str = "Service Recovery Workflow") -> str:
    form = browser.get(f"{ROOT}/jobs/new")
    done = browser.post(f"{ROOT}/jobs/new", {"csrf": form.csrf(), "name": name})
    assert done.status == 303, done.text
    return done.location.rsplit("/", 1)[1]


def _endpoint(browser: Browser, job_id: str, **fields: str) -> str:
    form = browser.get(f"{ROOT}/jobs/{job_id}/endpoints/new")
    done = browser.post(
        f"{ROOT}/jobs/{job_id}/endpoints/new", {"csrf": form.csrf(), **HEALTH, **fields}
    )
    assert done.status == 303, done.text
    return done.location.rsplit("/", 1)[1]


def test_pages_need_a_session_and_sign_in_keeps_the_key_out(
    chalice_client: Client, key: str
) -> None:
    b = Browser(chalice_client)
    first = b.get(f"{ROOT}/jobs")
    assert first.status == 303
    assert first.location.startswith(f"{ROOT}/signin?next=")
    signed = b.sign_in(key)
    assert signed.status == 303 and signed.location == ROOT
    cookie = next(v for k, v in signed.headers.items() if k == "set-cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={ROOT}" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert key not in cookie and key not in signed.location
    overview = b.get(ROOT)
    assert overview.status == 200 and key not in overview.text
    assert "Acme" in overview.text
    csp = overview.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert overview.headers["x-content-type-options"] == "nosniff"


def test_https_sets_a_secure_cookie(chalice_client: Client, key: str) -> None:
    b = Browser(chalice_client)
    form = b.get(f"{ROOT}/signin", x_forwarded_proto="https")
    signed = b.post(
        f"{ROOT}/signin",
        {"csrf": form.csrf(), "api_key": key, "next": ROOT},
        x_forwarded_proto="https",
    )
    assert "Secure" in signed.headers["set-cookie"]


def test_a_wrong_key_is_refused_with_a_message(chalice_client: Client, key: str) -> None:
    b = Browser(chalice_client)
    form = b.get(f"{ROOT}/signin")
    refused = b.post(f"{ROOT}/signin", {"csrf": form.csrf(), "api_key": "cp_wrong" * 4})
    assert refused.status == 401
    assert "Invalid, revoked or expired API key" in refused.text
    assert "cp_session" not in b.cookies


def test_sign_in_without_its_token_is_refused(chalice_client: Client, key: str) -> None:
    b = Browser(chalice_client)
    refused = b.post(f"{ROOT}/signin", {"csrf": "forged", "api_key": key})
    assert refused.status == 403
    assert "cp_session" not in b.cookies


def test_sign_out_ends_the_session(browser: Browser) -> None:
    overview = browser.get(ROOT)
    out = browser.post(f"{ROOT}/signout", {"csrf": overview.csrf()})
    assert out.status == 303 and "Max-Age=0" in out.headers["set-cookie"]
    assert browser.get(ROOT).status == 303


def test_sessions_expire(browser: Browser, clock: ManualClock) -> None:
    assert browser.get(ROOT).status == 200
    clock.advance(timedelta(hours=8, seconds=1))
    assert browser.get(ROOT).status == 303


def test_revoking_the_key_ends_its_sessions(browser: Browser, deps: Deps) -> None:
    keys = browser.get(f"{ROOT}/keys")
    key_id = deps.keys.list("acme")[0].id
    revoked = browser.post(f"{ROOT}/keys/{key_id}/revoke", {"csrf": keys.csrf()})
    assert revoked.status == 303
    assert browser.get(ROOT).status == 303


def test_a_tampered_cookie_is_no_session(browser: Browser) -> None:
    sealed = browser.cookies["cp_session"]
    browser.cookies["cp_session"] = sealed[:-4] + (
        "AAAA" if not sealed.endswith("AAAA") else "BBBB"
    )
    assert browser.get(ROOT).status == 303


def test_forms_without_the_csrf_token_change_nothing(browser: Browser) -> None:
    job_id = _job(browser)
    before = snapshot()
    for path, form in (
        ("/jobs/new", {"name": "Sneaky"}),
        (f"/jobs/{job_id}/pause", {}),
        (f"/jobs/{job_id}/edit", {"name": "Renamed", "csrf": "not-the-token"}),
        ("/keys", {"name": "stolen"}),
    ):
        refused = browser.post(ROOT + path, form)
        assert refused.status == 403, path
        assert "Form refused" in refused.text
    assert snapshot() == before


def test_another_tenants_ids_are_not_found(
    browser: Browser, deps: Deps, chalice_client: Client, clock: ManualClock
) -> None:
    job_id = _job(browser)
    endpoint_id = _endpoint(browser, job_id)
    run = _run(deps, endpoint_id, job_id, clock)
    other = Browser(chalice_client)
    other.sign_in(new_tenant(deps, "globex"))
    for path in (
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/edit",
        f"/jobs/{job_id}/endpoints/new",
        f"/endpoints/{endpoint_id}",
        f"/endpoints/{endpoint_id}/edit",
        f"/runs/{run.id}",
    ):
        page = other.get(ROOT + path)
        assert page.status == 404, path
        assert "Health Check" not in page.text
    token = other.get(ROOT).csrf()
    before = snapshot()
    for path in (f"/jobs/{job_id}/pause", f"/endpoints/{endpoint_id}/run-now"):
        assert other.post(ROOT + path, {"csrf": token}).status == 404
    assert snapshot() == before


def test_the_recovery_workflow_through_the_forms(browser: Browser, deps: Deps) -> None:
    job_id = _job(browser)
    health = _endpoint(browser, job_id)
    recovery = _endpoint(
        browser,
        job_id,
        name="Trigger Recovery",
        method="POST",
        url="https://api.example.com/admin/restart",
        every="3600",
        min_s="300",
        max_s="",
        timeout_s="30",
        description="Run only when Health Check shows errors.",
    )
    stored = {e.id: e for e in deps.endpoints.list_by_job("acme", job_id)}
    assert stored[health].baseline_interval_ms == 60_000
    assert stored[health].min_interval_ms == 10_000 and stored[health].max_interval_ms == 300_000
    assert stored[recovery].method == "POST" and stored[recovery].timeout_ms == 30_000
    page = browser.get(f"{ROOT}/jobs/{job_id}")
    assert "Health Check" in page.text and "Trigger Recovery" in page.text
    assert "every 1 min" in page.text or "every 60 s" in page.text


def test_validation_errors_sit_next_to_their_field_and_write_nothing(browser: Browser) -> None:
    job_id = _job(browser)
    form = browser.get(f"{ROOT}/jobs/{job_id}/endpoints/new")
    before = snapshot()
    bad = dict(HEALTH, url="ftp://example.com", every="0.5", name="Bad", csrf=form.csrf())
    refused = browser.post(f"{ROOT}/jobs/{job_id}/endpoints/new", bad)
    assert refused.status == 400
    assert 'id="e-every"' in refused.text and "between 1 s and 366 d" in refused.text
    assert 'id="e-url"' in refused.text  # every field's error at once
    assert snapshot() == before
    bad = dict(HEALTH, url="ftp://example.com", csrf=form.csrf())
    refused = browser.post(f"{ROOT}/jobs/{job_id}/endpoints/new", bad)
    assert refused.status == 400
    assert 'id="e-url"' in refused.text and "http or https" in refused.text
    assert 'value="ftp://example.com"' in refused.text  # what was typed stays
    bad = dict(HEALTH, min_s="600", max_s="300", csrf=form.csrf())
    refused = browser.post(f"{ROOT}/jobs/{job_id}/endpoints/new", bad)
    assert 'id="e-min_s"' in refused.text
    blank = browser.post(f"{ROOT}/jobs/new", {"csrf": form.csrf(), "name": "  "})
    assert blank.status == 400 and 'id="e-name"' in blank.text
    assert snapshot() == before


def test_pause_resume_and_run_now(browser: Browser, deps: Deps) -> None:
    job_id = _job(browser)
    endpoint_id = _endpoint(browser, job_id)
    token = browser.get(ROOT).csrf()
    assert (
        browser.post(f"{ROOT}/endpoints/{endpoint_id}/pause", {"csrf": token, "for": "24h"}).status
        == 303
    )
    assert deps.endpoints.get("acme", endpoint_id).paused_until is not None  # type: ignore[union-attr]
    refused = browser.post(f"{ROOT}/endpoints/{endpoint_id}/pause", {"csrf": token, "for": "1y"})
    assert refused.status == 400 and "choose 1h, 24h or 7d" in refused.text
    browser.post(f"{ROOT}/endpoints/{endpoint_id}/resume", {"csrf": token})
    assert deps.endpoints.get("acme", endpoint_id).paused_until is None  # type: ignore[union-attr]
    browser.post(f"{ROOT}/endpoints/{endpoint_id}/run-now", {"csrf": token})
    hinted = deps.endpoints.get("acme", endpoint_id)
    assert hinted is not None and hinted.ai_hint_next_run_at is not None
    assert hinted.ai_hint_reason == "Run now, from the dashboard"
    browser.post(f"{ROOT}/jobs/{job_id}/pause", {"csrf": token})
    assert deps.jobs.get("acme", job_id).status == "paused"  # type: ignore[union-attr]
    browser.post(f"{ROOT}/jobs/{job_id}/resume", {"csrf": token})
    assert deps.jobs.get("acme", job_id).status == "active"  # type: ignore[union-attr]


def test_keys_are_shown_once(browser: Browser, deps: Deps) -> None:
    token = browser.get(f"{ROOT}/keys").csrf()
    created = browser.post(f"{ROOT}/keys", {"csrf": token, "name": "ci"})
    assert created.status == 201
    raw = created.text.split('<code class="raw" tabindex="0">')[1].split("<")[0]
    assert raw.startswith("cp_") and raw not in browser.get(f"{ROOT}/keys").text
    bad = browser.post(f"{ROOT}/keys", {"csrf": token, "expires_in_days": "0"})
    assert bad.status == 400 and 'id="e-expires_in_days"' in bad.text
    signing = browser.post(f"{ROOT}/signing-key", {"csrf": token})
    assert signing.status == 201 and deps.signing_keys.get("acme") is not None
    rotated = browser.post(f"{ROOT}/signing-key/rotate", {"csrf": token})
    assert rotated.status == 201 and "signs too until" in rotated.text


def _run(deps: Deps, endpoint_id: str, job_id: str, clock: ManualClock, **fields: object) -> Run:
    at = clock.now()
    run = Run(
        endpoint_id=endpoint_id,
        id=run_id(at),
        tenant_id="acme",
        job_id=job_id,
        status="success",
        started_at=at,
        finished_at=at + timedelta(milliseconds=120),
        duration_ms=120,
        status_code=200,
        source="baseline-interval",
        response_body={"status": "healthy"},
    )
    run = replace(run, **fields)  # type: ignore[arg-type]
    deps.runs.put(run)
    return run


def test_every_page_renders_with_data_and_empty(
    browser: Browser, deps: Deps, clock: ManualClock
) -> None:
    for path in ("", "/jobs", "/keys", "/jobs/new"):
        page = browser.get(ROOT + path)
        assert page.status == 200, path
    assert "No jobs yet" in browser.get(f"{ROOT}/jobs").text
    assert "No activity in this period" in browser.get(ROOT).text
    job_id = _job(browser)
    assert "no endpoints yet" in browser.get(f"{ROOT}/jobs/{job_id}").text
    endpoint_id = _endpoint(browser, job_id)
    empty = browser.get(f"{ROOT}/endpoints/{endpoint_id}")
    assert "The chart appears after two runs" in empty.text and "No runs yet" in empty.text
    runs = []
    for i in range(3):
        runs.append(
            _run(deps, endpoint_id, job_id, clock, status="failed" if i == 1 else "success")
        )
        clock.advance(timedelta(seconds=60))
    session = AnalysisSession(
        endpoint_id=endpoint_id,
        id="ses_test0001",
        tenant_id="acme",
        job_id=job_id,
        analyzed_at=clock.now(),
        reasoning="Errors appeared; polling faster.",
        tool_calls=(ToolCall("set_interval", {"intervalMs": 10_000}, {"ok": True}),),
        token_usage=1200,
    )
    deps.sessions.put(session)
    detail = browser.get(f"{ROOT}/endpoints/{endpoint_id}")
    assert '<svg class="chart"' in detail.text and 'class="fail"' in detail.text
    assert (
        browser.get(f"{ROOT}/endpoints/{endpoint_id}?status=failed").text.count("badge-failed") == 1
    )
    assert browser.get(f"{ROOT}/endpoints/{endpoint_id}?cause=reflex").status == 200
    assert browser.get(f"{ROOT}/endpoints/{endpoint_id}?cause=nope").status == 400
    assert browser.get(f"{ROOT}/endpoints/{endpoint_id}?status=nope").status == 400
    assert browser.get(f"{ROOT}/endpoints/{endpoint_id}?offset=-1").status == 400
    run_page = browser.get(f"{ROOT}/runs/{runs[0].id}")
    assert run_page.status == 200 and "healthy" in run_page.text
    session_page = browser.get(f"{ROOT}/sessions/{session.id}")
    assert session_page.status == 200 and "set_interval" in session_page.text
    overview = browser.get(f"{ROOT}?window=7d&job={job_id}")
    assert "Planner looked at Health Check" in overview.text
    # The 24-hour counts are a minute old at most: the first overview's zeros have expired.
    assert '<p class="value">3</p>' in overview.text and "1 failed" in overview.text
    assert browser.get(f"{ROOT}?window=1y").status == 400
    live = browser.get(ROOT, x_cronpilot_partial="live")
    assert live.status == 200 and "<html" not in live.text and "Runs, last 24 h" in live.text
    live = browser.get(f"{ROOT}/endpoints/{endpoint_id}", x_cronpilot_partial="live")
    assert live.status == 200 and "<html" not in live.text and "badge-failed" in live.text
    assert browser.get(f"{ROOT}/static/app.js").status == 200
    assert browser.get(f"{ROOT}/static/..%2Fsession.py").status == 404


def test_the_overview_counts_open_incidents(
    browser: Browser, deps: Deps, clock: ManualClock
) -> None:
    assert "Open incidents" in browser.get(ROOT).text
    job_id = _job(browser)
    endpoint_id = _endpoint(browser, job_id)
    opened = Incident(
        tenant_id="acme",
        id="inc_test0001",
        job_id=job_id,
        endpoint_id=endpoint_id,
        endpoint_name="Health Check",
        kind="failures",
        state="open",
        opened_at=clock.now(),
        failure_count=3,
    )
    assert deps.incidents.open(opened)
    page = browser.get(ROOT).text
    tile = page[page.index("Open incidents") :]
    assert '<p class="value">1</p>' in tile[:400] and "Health Check" in tile[:400]


def test_a_run_in_flight_shows_from_its_claim_and_links_where_a_page_exists(
    browser: Browser, deps: Deps, clock: ManualClock
) -> None:
    from chalicelib.engine.execute import Executor
    from chalicelib.engine.queue import QueuedSlot

    job_id = _job(browser)
    endpoint_id = _endpoint(browser, job_id)
    endpoint = deps.endpoints.get("acme", endpoint_id)
    assert endpoint is not None
    clock.set(max(clock.now(), endpoint.next_run_at))
    held = Executor(deps).claim(QueuedSlot("acme", endpoint_id, endpoint.next_run_at, 40_000))
    assert held is not None  # in flight: nothing stored yet, so no run page
    assert browser.get(f"{ROOT}/runs/{held.run.id}").status == 404

    overview = browser.get(ROOT).text
    assert "No run is in flight right now." not in overview
    assert f'href="{ROOT}/endpoints/{endpoint_id}"' in overview
    assert f"/runs/{held.run.id}" not in overview
    page = browser.get(f"{ROOT}/endpoints/{endpoint_id}").text
    assert "running" in page and "(1 matching of 1)" in page
    assert f"/runs/{held.run.id}" not in page
