"""The dashboard served on loopback from this process (moto in process), and Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import deps as deps_module
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.settings import Settings
from chalicelib.web.paths import ROOT
from tests.conftest import T0, _wipe

CHROMIUM_HINT = (
    "Chromium is needed for the dashboard's browser tests and was not found. Install it with "
    "`make browser` (apt-get install chromium), or point CRONPILOT_CHROMIUM at a binary."
)


def chromium_path() -> str:
    """The browser to drive: CRONPILOT_CHROMIUM, else `chromium` on PATH. Never skipped."""
    found = os.environ.get("CRONPILOT_CHROMIUM") or shutil.which("chromium")
    if not found or not os.access(found, os.X_OK):
        pytest.fail(CHROMIUM_HINT, pytrace=False)
    return found


@dataclass
class Site:
    """The dashboard's address and the dependencies behind it."""

    base: str
    deps: Deps
    clock: ManualClock

    def url(self, path: str = "") -> str:
        return self.base + ROOT + path


@pytest.fixture(scope="module")
def site(aws: None) -> Iterator[Site]:
    """The Chalice app on a free loopback port, in a thread of this process."""
    from chalice.config import Config

    from app import app
    from chalicelib.local.api_server import ApiServer

    clock = ManualClock(T0)
    d = Deps(settings=Settings.from_env(), clock=clock)
    deps_module.use(d)
    config = Config(chalice_stage="local", config_from_disk={"app_name": "cronpilot"})
    server = ApiServer(app, config, "127.0.0.1", 0)
    server.start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", d, clock)
    finally:
        server.stop()
        _wipe()
        deps_module.use(None)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's, never a downloaded build)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()
