"""A cookie-keeping client for the dashboard's pages, in process (chalice.test)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from chalice.test import Client

from chalicelib.web.paths import ROOT

API_PREFIX = "/api"


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert match, "no CSRF field on the page"
        return match.group(1)


class Browser:
    """Follows nothing by itself; keeps cookies like a browser would (by name)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> Page:
        assert path.startswith(ROOT) or path == "/", path
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            sent["content-type"] = "application/x-www-form-urlencoded"
        route = path.removeprefix(API_PREFIX) or "/"
        response = self.client.http.request(method, route, headers=sent, body=body)
        lowered = {k.lower(): v for k, v in response.headers.items()}
        for cookie in _set_cookies(response.headers):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return Page(response.status_code, response.body.decode(), lowered)

    def get(self, path: str, **headers: str) -> Page:
        return self.request("GET", path, None, **headers)

    def post(self, path: str, form: dict[str, str], **headers: str) -> Page:
        return self.request("POST", path, form, **headers)

    def sign_in(self, key: str) -> Page:
        form = self.get(f"{ROOT}/signin")
        return self.post(f"{ROOT}/signin", {"csrf": form.csrf(), "api_key": key, "next": ROOT})


def _set_cookies(headers: dict[str, str]) -> list[str]:
    value = next((v for k, v in headers.items() if k.lower() == "set-cookie"), None)
    return [value] if value else []
