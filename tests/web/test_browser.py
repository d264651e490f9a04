"""The dashboard in headless Chromium: sign-in, forms, live updates, the tenant wall, and
axe-core on every page (no serious or critical violation)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from chalicelib.domain.entities import AnalysisSession, Run, ToolCall
from chalicelib.domain.ids import run_id
from chalicelib.domain.schemas import IntervalHint
from chalicelib.services import controls
from tests.conftest import new_tenant
from tests.web.conftest import Site

# Live regions refresh every 5 s: wait up to three refreshes for what the server wrote.
LIVE_MS = 15_000
AXE = Axe()


def accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page as it stands."""
    results = AXE.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)


@pytest.fixture
def page(chromium: Any) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def sign_in(page: Page, site: Site, key: str) -> None:
    page.goto(site.url())
    expect(page).to_have_url(re.compile(r"/api/ui/signin\?next="))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def add_endpoint(page: Page, fields: dict[str, str]) -> None:
    page.get_by_role("link", name="Add endpoint").click()
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)


def test_sign_in_empty_pages_and_sign_out(page: Page, site: Site) -> None:
    key = new_tenant(site.deps, "empty")
    page.goto(site.url("/signin"))
    accessible(page)
    page.get_by_label("API key").fill("cp_not_a_key_at_all_000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid, revoked or expired API key")
    sign_in(page, site, key)
    assert key not in page.url and key not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "cp_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    expect(page.get_by_text("Nothing is scheduled")).to_be_visible()
    expect(page.get_by_text("No activity in this period yet")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Keys").click()
    expect(page.get_by_text("No signing key yet")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(site.url("/jobs"))
    expect(page).to_have_url(re.compile(r"/signin"))


def test_forms_refuse_without_csrf_and_other_tenants_see_not_found(
    chromium: Any, page: Page, site: Site
) -> None:
    sign_in(page, site, new_tenant(site.deps, "wall-a"))
    page.goto(site.url("/jobs/new"))
    page.get_by_label("Name").fill("Private job")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Private job")).to_be_visible()
    job_url = page.url
    forged = page.request.post(site.url("/jobs/new"), form={"name": "Forged"})
    assert forged.status == 403
    assert [j.name for j in site.deps.jobs.list("wall-a")] == ["Private job"]
    other = chromium.new_context().new_page()
    sign_in(other, site, new_tenant(site.deps, "wall-b"))
    response = other.goto(job_url)
    assert response is not None and response.status == 404
    expect(other.get_by_role("heading", name="Not found")).to_be_visible()
    expect(other.get_by_text("Private job")).to_have_count(0)
    accessible(other)
    other.context.close()


def test_recovery_workflow_through_the_forms(page: Page, site: Site) -> None:
    sign_in(page, site, new_tenant(site.deps, "acme"))
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="New job").click()
    accessible(page)
    page.get_by_label("Name").fill("Service Recovery Workflow")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_text("This job has no endpoints yet")).to_be_visible()
    accessible(page)
    add_endpoint(
        page,
        {
            "Name": "Health Check",
            "URL": "ftp://api.example.com/health",
            "Every (seconds)": "0.5",
            "Never more often than (seconds)": "10",
            "Never less often than (seconds)": "300",
        },
    )
    page.get_by_role("button", name="Add endpoint").click()
    # Errors sit next to their fields, and what was typed stays.
    expect(page.locator("#e-every")).to_contain_text("between 1 s and 366 d")
    expect(page.get_by_label("Every (seconds)", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#e-url")).to_contain_text("http or https")
    accessible(page)
    page.get_by_label("Every (seconds)", exact=True).fill("60")
    page.get_by_label("URL", exact=True).fill("https://api.example.com/health")
    page.get_by_label("Description").fill("Poll faster while error_count > 0.")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Health Check", level=1)).to_be_visible()
    expect(page.get_by_text("The chart appears after two runs")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Service Recovery Workflow").click()
    add_endpoint(
        page,
        {
            "Name": "Trigger Recovery",
            "URL": "https://api.example.com/admin/restart",
            "Every (seconds)": "3600",
            "Never more often than (seconds)": "300",
            "Request timeout (seconds)": "30",
        },
    )
    page.get_by_label("Method").select_option("POST")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Trigger Recovery", level=1)).to_be_visible()
    page.get_by_role("link", name="Service Recovery Workflow").click()
    table = page.locator("table.endpoints")
    expect(table).to_contain_text("Health Check")
    expect(table).to_contain_text("Trigger Recovery")
    accessible(page)
    stored = {e.name: e for e in site.deps.endpoints.list_by_tenant("acme")}
    assert stored["Trigger Recovery"].method == "POST"
    assert stored["Health Check"].min_interval_ms == 10_000


def test_a_run_and_a_hint_show_up_live(page: Page, site: Site) -> None:
    deps = site.deps
    sign_in(page, site, new_tenant(deps, "live"))
    page.goto(site.url("/jobs/new"))
    page.get_by_label("Name").fill("Live job")
    page.get_by_role("button", name="Create job").click()
    add_endpoint(page, {"Name": "Pinged", "URL": "https://api.example.com/ping"})
    page.get_by_role("button", name="Add endpoint").click()
    endpoint_url = page.url
    endpoint_id = endpoint_url.rsplit("/", 1)[1]
    endpoint = deps.endpoints.get("live", endpoint_id)
    assert endpoint is not None
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_text("Pinged: success")).to_have_count(0)
    runs = []
    for i in range(3):
        at = site.clock.now() - timedelta(minutes=3 - i)
        run = Run(
            endpoint_id=endpoint_id,
            id=run_id(at),
            tenant_id="live",
            job_id=endpoint.job_id,
            status="success" if i != 1 else "failed",
            started_at=at,
            finished_at=at + timedelta(milliseconds=90),
            duration_ms=90 + 10 * i,
            status_code=200 if i != 1 else 503,
            source="baseline-interval",
            response_body={"status": "healthy", "error_count": i},
        )
        deps.runs.put(run)
        runs.append(run)
    # No reload: the overview's live region picks the runs up by itself.
    expect(page.get_by_text("Pinged: success").first).to_be_visible(timeout=LIVE_MS)
    page.goto(endpoint_url)
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.get_by_text("Hint: none")).to_have_count(0)
    hint = IntervalHint(interval_ms=10_000, ttl_minutes=30, reason="errors seen")
    controls.interval_hint(deps, deps.tenants.get("live"), endpoint_id, hint)  # type: ignore[arg-type]
    expect(page.locator("dl.facts")).to_contain_text("every 10 s", timeout=LIVE_MS)
    accessible(page)
    page.goto(site.url(f"/runs/{runs[1].id}"))
    expect(page.get_by_text("error_count")).to_be_visible()
    accessible(page)
    session = AnalysisSession(
        endpoint_id=endpoint_id,
        id="ses_browser0001",
        tenant_id="live",
        job_id=endpoint.job_id,
        analyzed_at=site.clock.now(),
        reasoning="The health check failed once; polling every 10 s for half an hour.",
        tool_calls=(ToolCall("set_interval", {"intervalMs": 10_000}, {"ok": True}),),
        token_usage=900,
    )
    deps.sessions.put(session)
    page.goto(site.url(f"/sessions/{session.id}"))
    expect(page.get_by_role("heading", name="set_interval")).to_be_visible()
    accessible(page)


def test_small_screens_and_the_keyboard(chromium: Any, site: Site) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, site, new_tenant(site.deps, "phone"))
    for path in ("", "/jobs", "/keys", "/jobs/new"):
        page.goto(site.url(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path or '/'} is {width} px wide at 390"
    page.goto(site.url())
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    context.close()
