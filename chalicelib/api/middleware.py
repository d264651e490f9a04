"""The HTTP middleware: body size, authentication, rate limits, the error envelope, headers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib import deps as deps_module
from chalicelib import observability
from chalicelib.api.http import KEY_ID_KEY, TENANT_KEY, busy, envelope
from chalicelib.domain.errors import DomainError, PayloadTooLarge, RateLimited
from chalicelib.domain.timeutil import to_ms
from chalicelib.services.accounts import authenticate
from chalicelib.store.overload import is_overload
from chalicelib.web import paths as web_paths

log = logging.getLogger("cronpilot.api")

PUBLIC_PATHS = frozenset({"/health", "/doc", "/reference"})
ADMIN_PREFIX = "/admin/"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TEST_ROUTE = "/endpoints/{endpoint_id}/test"  # Chalice gives middleware the route template
CHANNEL_TEST_ROUTE = "/channels/{channel_id}/test"  # a test notice calls the channel too

_NATIVE_CODES = {
    400: ("VALIDATION_ERROR", None),
    403: ("NOT_FOUND", "No such route"),
    404: ("NOT_FOUND", None),
    405: ("METHOD_NOT_ALLOWED", None),
    413: ("PAYLOAD_TOO_LARGE", None),
    415: ("VALIDATION_ERROR", None),
    500: ("INTERNAL_ERROR", "Internal server error"),
    502: ("INTERNAL_ERROR", "Internal server error"),
}

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "0",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
)


def normalise(response: Response) -> Response:
    """Rewrite Chalice's own `{"Code", "Message"}` errors (405, 415, 500...) into the envelope."""
    body = response.body
    native = isinstance(body, dict) and "Code" in body and set(body) <= {"Code", "Message"}
    if response.status_code < 400 or not native:
        return response
    code, fixed_message = _NATIVE_CODES.get(response.status_code, ("INTERNAL_ERROR", None))
    message = fixed_message or str(body.get("Message") or "Request failed")
    response.body = {"error": {"code": code, "message": message, "details": None}}
    response.headers["Content-Type"] = "application/json"
    return response


def decorate(response: Response, path: str, request_id: str) -> Response:
    """Request id and the security headers every response carries."""
    response.headers["X-Request-Id"] = request_id
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    docs = path.endswith(("/reference", "/doc"))
    response.headers["Content-Security-Policy"] = DOCS_CSP if docs else STRICT_CSP
    if web_paths.is_web_path(path):
        response.headers["Content-Security-Policy"] = web_paths.CSP
    return response


def limit_class(method: str, route: str) -> str:
    """Which per-tenant limit a request counts against. A test run calls the target inside
    the request, so it has a limit of its own instead of the mutations one."""
    if method.upper() == "POST" and route in (TEST_ROUTE, CHANNEL_TEST_ROUTE):
        return "test"
    return "mutation" if method.upper() in MUTATING else "read"


def _authorised(event: Request, get_response: Callable[[Request], Response]) -> Response:
    deps = deps_module.get()
    raw = event.raw_body or b""
    if len(raw) > deps.settings.max_body_bytes:
        limit_kb = deps.settings.max_body_bytes // 1024
        raise PayloadTooLarge(f"Request body is larger than {limit_kb} KB")
    path = event.path or ""
    if path in PUBLIC_PATHS or path.startswith(ADMIN_PREFIX):
        return get_response(event)
    if web_paths.is_web_path(path):
        # The dashboard signs in with its own session cookie (chalicelib/web/session.py).
        return get_response(event)
    tenant, key = authenticate(deps, event.headers.get("x-api-key"))
    kind = limit_class(event.method, path)
    limit = {
        "test": deps.settings.test_runs_per_minute,
        "mutation": tenant.limits.mutations_per_minute,
        "read": tenant.limits.reads_per_minute,
    }[kind]
    decision = deps.limiter.hit(f"{tenant.id}:{kind}", limit, to_ms(deps.clock.now()))
    rate_headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_s),
    }
    if not decision.allowed:
        refused = envelope(
            RateLimited(f"Too many requests: limit is {limit} per minute", decision.reset_s)
        )
        refused.headers.update(rate_headers)
        return refused
    event.context[TENANT_KEY] = tenant
    event.context[KEY_ID_KEY] = key.id
    response = get_response(event)
    response.headers.update(rate_headers)
    return response


def http_middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Registered once in app.py for every route."""
    context = getattr(event, "lambda_context", None)
    request_id = observability.request_id(context) or str(uuid.uuid4())
    with observability.invocation("api", request_id=request_id, method=event.method):
        try:
            response = _authorised(event, get_response)
        except DomainError as exc:
            response = envelope(exc)
        except Exception as exc:
            if is_overload(exc):
                log.warning("storage overloaded on %s %s: %s", event.method, event.path, exc)
                response = busy()
            else:
                log.exception("unhandled error on %s %s", event.method, event.path)
                response = Response(body={"Code": "InternalServerError"}, status_code=500)
    return decorate(normalise(response), event.path or "", request_id)


def register(app: Any) -> None:
    """Install the middleware on the Chalice app."""
    app.register_middleware(http_middleware, "http")
