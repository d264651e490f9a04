"""Secrets a deployed stage keeps in SSM Parameter Store instead of plain environment values.

`CRONPILOT_ADMIN_TOKEN_PARAM` and `OPENAI_API_KEY_PARAM` name SecureString parameters; they are
read once per process (cold start) and fill `admin_token` / `ai_api_key` unless the plain
variables already set them. Values are never logged.
"""

from __future__ import annotations

import logging
import os
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
    """Settings with the parameter-held secrets filled in. A parameter that cannot be read is
    logged by name and left unset (admin routes stay closed, the planner off): scheduling
    must not stop because a secret is missing."""
    e = os.environ if env is None else env
    read = fetch or ssm_fetch(settings.region)
    admin, key = settings.admin_token, settings.ai_api_key
    admin_param, key_param = e.get("CRONPILOT_ADMIN_TOKEN_PARAM"), e.get("OPENAI_API_KEY_PARAM")
    if admin_param and not admin:
        admin = _read(read, admin_param)
    if key_param and not key:
        key = _read(read, key_param)
    if (admin, key) == (settings.admin_token, settings.ai_api_key):
        return settings
    return replace(
        settings,
        admin_token=admin,
        ai_api_key=key,
        ai_configured=settings.ai_configured or bool(key),
    )


def _read(fetch: Fetch, name: str) -> str | None:
    try:
        return fetch(name)
    except Exception as exc:
        log.error("could not read the SSM parameter %s (%s)", name, type(exc).__name__)
        return None
