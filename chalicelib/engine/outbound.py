"""The outbound side of a run: the request an endpoint makes, opened, signed and sent, and
the run as its call ended. Used by the executor and by the test route."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.domain.capture import storable
from chalicelib.domain.entities import Endpoint, Run
from chalicelib.domain.errors import Conflict
from chalicelib.domain.signing import SigningKey, new_key_hex, prefix_of
from chalicelib.domain.timeutil import ms_floor
from chalicelib.engine.caller import CallRequest, CallResult
from chalicelib.sealing.envelope import Context, SealingError

if TYPE_CHECKING:
    from chalicelib.deps import Deps


def context_of(endpoint: Endpoint) -> Context:
    """What a sealed value is bound to: its tenant and endpoint."""
    return {"tenantId": endpoint.tenant_id, "endpointId": endpoint.id}


def open_headers(deps: Deps, endpoint: Endpoint) -> dict[str, str] | None:
    """The headers to send, sealed values opened (SealingError when one cannot be)."""
    if endpoint.headers_json is None:
        return None
    return deps.sealer.open(endpoint.headers_json, context_of(endpoint))


def key_for_execution(deps: Deps, tenant_id: str) -> tuple[str, ...]:
    """The keys to sign an outbound request with (the current one, then the replaced one
    during its grace window), the key created when the tenant has none yet.

    Remembered per process for a minute so a run costs no extra read; a rotation reaches
    other processes within that time. The grace window is checked at every call.
    """
    now = deps.clock.now()
    cached = deps.signing_cache.get(tenant_id, now)
    if cached is not None:
        return cached.signing_keys(now)
    key = deps.signing_keys.get(tenant_id)
    if key is None:
        key_hex = new_key_hex()
        # A key created concurrently by another execution wins; use theirs.
        with contextlib.suppress(Conflict):
            deps.signing_keys.create(
                SigningKey(tenant_id, key_hex, prefix_of(key_hex), ms_floor(now))
            )
        key = deps.signing_keys.get(tenant_id)
        assert key is not None
    deps.signing_cache.put(tenant_id, key, now)
    return key.signing_keys(now)


def call_request(deps: Deps, endpoint: Endpoint) -> CallRequest:
    """The endpoint's execution configuration as the caller takes it, secret header values
    opened (SealingError when one cannot be)."""
    return CallRequest(
        url=endpoint.url,
        method=endpoint.method,
        headers=open_headers(deps, endpoint),
        body_json=endpoint.body_json,
        timeout_ms=endpoint.timeout_ms,
        max_response_kb=endpoint.max_response_size_kb,
    )


def call_endpoint(deps: Deps, endpoint: Endpoint) -> CallResult:
    """One call of the endpoint, signed; a secret header that cannot be opened fails the
    call unsent (sending it without its credentials would only hide the problem)."""
    try:
        request = call_request(deps, endpoint)
    except SealingError as exc:
        message = f"Request not sent: a secret header could not be decrypted ({exc})"
        return CallResult("failed", 0, error_message=message, error_kind="secret")
    return deps.caller.call(request, key_for_execution(deps, endpoint.tenant_id))


def with_result(run: Run, result: CallResult, finished_at: datetime) -> Run:
    """The run as its call ended: outcome, timing and the body as it is stored."""
    body, truncated = storable(result.response_body, result.truncated)
    return replace(
        run,
        status=result.status,
        finished_at=finished_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        error_message=result.error_message,
        error_kind=result.error_kind,
        response_body=body,
        response_truncated=truncated,
    )
