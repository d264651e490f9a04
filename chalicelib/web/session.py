"""Web sessions: a sealed cookie that names the tenant and the API key it was opened with.

The raw key never leaves the sign-in request: the cookie holds the key's hash, the tenant, an
expiry and the CSRF token, sealed (AES-GCM under the stage's keyring, as secret headers are)
so the browser can neither read nor forge it. Every request checks the key is still usable,
so revoking the key ends its sessions at once.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.deps import Deps
from chalicelib.domain.entities import ApiKey, Tenant
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.sealing.envelope import SealingError, is_sealed
from chalicelib.services.accounts import authenticate, authenticate_digest, hash_key

COOKIE = "cp_session"
# Sign-in has no session yet: its form is protected by a double-submitted token cookie.
SIGNIN_COOKIE = "cp_signin"
LIFETIME = timedelta(hours=8)
_CONTEXT = {"purpose": "web-session"}
_FIELD = "session"


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: whose, with which key, until when, and its CSRF token."""

    tenant: Tenant
    key: ApiKey
    expires_at: datetime
    csrf: str


def open_session(deps: Deps, raw_key: str) -> tuple[WebSession, str]:
    """Check the pasted key and seal a new session for it; (session, cookie value)."""
    tenant, key = authenticate(deps, raw_key)
    expires = deps.clock.now() + LIFETIME
    csrf = secrets.token_urlsafe(32)
    payload = {"t": tenant.id, "h": hash_key(raw_key.strip()), "e": to_ms(expires), "c": csrf}
    sealed = deps.sealer.seal({_FIELD: json.dumps(payload)}, _CONTEXT)[_FIELD]
    return WebSession(tenant, key, expires, csrf), sealed


def read_session(deps: Deps, cookie: str | None) -> WebSession | None:
    """The session a cookie carries, or None when absent, damaged, expired or its key is no
    longer usable."""
    if not cookie or not is_sealed(cookie):
        return None
    try:
        payload = json.loads(deps.sealer.open({_FIELD: cookie}, _CONTEXT)[_FIELD])
        expires = from_ms(int(payload["e"]))
        tenant_id, digest, csrf = str(payload["t"]), str(payload["h"]), str(payload["c"])
    except (SealingError, ValueError, KeyError, TypeError):
        return None
    if expires <= deps.clock.now():
        return None
    try:
        tenant, key = authenticate_digest(deps, digest)
    except Unauthorized:
        return None
    if tenant.id != tenant_id:
        return None
    return WebSession(tenant, key, expires, csrf)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token with the one a form sent."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def new_token() -> str:
    """A fresh random token (sign-in CSRF)."""
    return secrets.token_urlsafe(32)


def cookie_header(name: str, value: str, path: str, max_age_s: int, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, Secure on https."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age_s}", "HttpOnly"]
    parts.append("SameSite=Strict")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def read_cookie(header: str | None, name: str) -> str | None:
    """One cookie's value from a Cookie header."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None
