"""Writing and clearing an endpoint's hint fields. Pure.

The four fields travel together (one expiry and reason for both hints), so the API routes,
the planner's tools and a finished run all set and clear them here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.domain.entities import Endpoint


def cleared(endpoint: Endpoint) -> Endpoint:
    """No hints at all: the baseline governs again."""
    return replace(
        endpoint,
        ai_hint_interval_ms=None,
        ai_hint_next_run_at=None,
        ai_hint_expires_at=None,
        ai_hint_reason=None,
    )


def with_interval(
    endpoint: Endpoint, interval_ms: int, expires_at: datetime, reason: str | None
) -> Endpoint:
    """Run every `interval_ms` until `expires_at` (a one-shot beside it stays)."""
    return replace(
        endpoint,
        ai_hint_interval_ms=interval_ms,
        ai_hint_expires_at=expires_at,
        ai_hint_reason=reason,
    )


def with_one_shot(
    endpoint: Endpoint, at: datetime, expires_at: datetime, reason: str | None
) -> Endpoint:
    """Run once at `at` (an interval hint beside it stays)."""
    return replace(
        endpoint, ai_hint_next_run_at=at, ai_hint_expires_at=expires_at, ai_hint_reason=reason
    )
