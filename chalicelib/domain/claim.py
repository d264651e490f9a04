"""How long a claim on an endpoint holds. Pure."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.entities import Endpoint

DEFAULT_TIMEOUT_MS = 30_000
MIN_TIMEOUT_MS = 1000
# Time past the request timeout before a claim counts as abandoned (a zombie).
LOCK_MARGIN = timedelta(seconds=30)


def lock_duration(endpoint: Endpoint) -> timedelta:
    """The request timeout (or maxExecutionTimeMs when longer) plus a margin."""
    timeout_ms = max(endpoint.timeout_ms or DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS)
    longest = max(timeout_ms, endpoint.max_execution_time_ms or 0)
    return timedelta(milliseconds=longest) + LOCK_MARGIN
