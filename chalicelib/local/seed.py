"""The local stack's secrets: the admin token and the `default` tenant's API key.

Given values come from CRONPILOT_ADMIN_TOKEN and CRONPILOT_API_KEY; missing ones are minted
on first start and kept in CRONPILOT_HOME (mode 0600), so they stay the same across restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.domain import ids

if TYPE_CHECKING:
    # Not imported at run time: the stack must set the AWS environment before anything that
    # builds AWS clients (deps, store, engine) is imported.
    from chalicelib.deps import Deps

log = logging.getLogger("cronpilot-local.seed")

DEFAULT_TENANT_ID = "default"
DEFAULT_TENANT_NAME = "Default"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
API_KEY_FILE = "api-key"
MIN_SECRET_CHARS = 20


@dataclass(frozen=True)
class Secret:
    """A secret and where it came from (None: the environment)."""

    value: str
    file: Path | None = None


def ensure_home(home: Path) -> None:
    """Create the state folder, private to the user."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret stored at `path`, or a new one from `make()` written there with mode 0600."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if len(value) >= MIN_SECRET_CHARS:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s was readable by others; made it private", path)
        return value
    if value:
        log.warning("%s holds no usable secret; writing a new one", path)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return value


def admin_token(home: Path, given: str | None) -> Secret:
    """The admin token: the given one, or the one kept in `home`."""
    if given:
        return Secret(given)
    path = home / ADMIN_TOKEN_FILE
    return Secret(read_or_create(path, lambda: secrets.token_urlsafe(32)), path)


def default_tenant(deps: Deps, home: Path, given_key: str | None) -> Secret:
    """Make sure tenant `default` exists and accepts the API key; returns that key.

    Without a given key, the key kept in `home` is used (minted on first start). Keys used
    before stay valid: the tenant only ever gains keys here.
    """
    from chalicelib.services.accounts import ensure_tenant

    if given_key:
        key = Secret(given_key)
    else:
        path = home / API_KEY_FILE
        key = Secret(read_or_create(path, ids.raw_api_key), path)
    ensure_tenant(deps, DEFAULT_TENANT_ID, DEFAULT_TENANT_NAME, key.value)
    return key
