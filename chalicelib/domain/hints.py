"""Writing and clearing an endpoint's hint fields. Pure.

The fields travel together (one expiry, reason and author for both hints), so the API routes,
the planner's tools, reflexes and a finished run all set and clear them here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.domain.entities import Actor, Endpoint


def cleared(endpoint: Endpoint) -> Endpoint:
    """No hints at all: the baseline governs again."""
    return replace(
        endpoint,
        ai_hint_interval_ms=None,
        ai_hint_next_run_at=None,
        ai_hint_expires_at=None,
        ai_hint_reason=None,
        ai_hint_set_by=None,
    )


def with_interval(
    endpoint: Endpoint,
    interval_ms: int,
    expires_at: datetime,
    reason: str | None,
    by: Actor | None = None,
) -> Endpoint:
    """Run every `interval_ms` until `expires_at` (a one-shot beside it stays)."""
    return replace(
        endpoint,
        ai_hint_interval_ms=interval_ms,
        ai_hint_expires_at=expires_at,
        ai_hint_reason=reason,
        ai_hint_set_by=by,
    )


def with_one_shot(
    endpoint: Endpoint,
    at: datetime,
    expires_at: datetime,
    reason: str | None,
    by: Actor | None = None,
) -> Endpoint:
    """Run once at `at` (an interval hint beside it stays)."""
    return replace(
        endpoint,
        ai_hint_next_run_at=at,
        ai_hint_expires_at=expires_at,
        ai_hint_reason=reason,
        ai_hint_set_by=by,
    )
