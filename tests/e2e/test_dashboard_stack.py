"""The dashboard on the local stack, as `make run` serves it: the front page leads to it."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import Stack


def test_the_front_page_is_the_dashboard_and_signing_in_works(stack: Stack) -> None:
    with httpx.Client(base_url=stack.root_url, trust_env=False, timeout=10) as browser:
        front = browser.get("/")
        assert front.status_code == 302 and front.headers["location"] == "/api/ui"
        assert browser.get("/api/ui").headers["location"].startswith("/api/ui/signin")
        form = browser.get("/api/ui/signin")
        assert (
            form.status_code == 200
            and "script-src 'self'" in form.headers["content-security-policy"]
        )
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        signed = browser.post(
            "/api/ui/signin",
            data={
                "csrf": token.group(1),
                "api_key": stack.api_key or stack.saved_key(),
                "next": "/api/ui",
            },
        )
        assert signed.status_code == 303 and "cp_session" in browser.cookies
        overview = browser.get("/api/ui")
        assert overview.status_code == 200 and "Runs, last 24 h" in overview.text
        script = browser.get("/api/ui/static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
