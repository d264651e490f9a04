"""Secrets a deployed stage keeps in SSM Parameter Store instead of plain environment values.

`CRONPILOT_ADMIN_TOKEN_PARAM` and `OPENAI_API_KEY_PARAM` name SecureString parameters, used
unless the plain variables already set the values. The admin token is read on the first admin
request (only the API needs it, so executors do not pay an SSM call at every cold start); the
AI key is read at cold start, since whether the planner is on decides what runs do. Each is
read once per process. Values are never logged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from chalicelib.settings import Settings

log = logging.getLogger("cronpilot.secrets")

Fetch = Callable[[str], str]


def ssm_fetch(region: str) -> Fetch:
    """Read a SecureString parameter, decrypted."""

    def fetch(name: str) -> str:
        import boto3

        client = boto3.client("ssm", region_name=region)
        value = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return str(value)

    return fetch


def resolve(
    settings: Settings, env: Mapping[str, str] | None = None, fetch: Fetch | None = None
) -> Settings:
    """Settings with the AI key filled in from its parameter. A parameter that cannot be read
    is logged by name and left unset (the planner off): scheduling must not stop because a
    secret is missing."""
    e = os.environ if env is None else env
    key_param = e.get("OPENAI_API_KEY_PARAM")
    if not key_param or settings.ai_api_key:
        return settings
    key = _read(fetch or ssm_fetch(settings.region), key_param)
    if key is None:
        return settings
    return replace(settings, ai_api_key=key, ai_configured=True)


_admin_tokens: dict[str, str | None] = {}
_admin_lock = threading.Lock()


def admin_token(settings: Settings, fetch: Fetch | None = None) -> str | None:
    """The admin token: the plain setting, else its parameter read once per process (None,
    logged by name, when it cannot be read: admin routes stay closed)."""
    if settings.admin_token or not settings.admin_token_param:
        return settings.admin_token
    name = settings.admin_token_param
    with _admin_lock:
        if name not in _admin_tokens:
            _admin_tokens[name] = _read(fetch or ssm_fetch(settings.region), name)
        return _admin_tokens[name]


def _read(fetch: Fetch, name: str) -> str | None:
    try:
        return fetch(name)
    except Exception as exc:
        log.error("could not read the SSM parameter %s (%s)", name, type(exc).__name__)
        return None
