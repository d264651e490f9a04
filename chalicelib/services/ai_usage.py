"""The tenant's planner budget, as health and the dashboard show it."""

from __future__ import annotations

from chalicelib.deps import Deps
from chalicelib.domain.analysis import budget_period
from chalicelib.domain.entities import Tenant
from chalicelib.domain.responses import AiUsage
from chalicelib.domain.timeutil import from_ms


def ai_usage(deps: Deps, tenant: Tenant) -> AiUsage:
    """Tokens used this month against the limit; over budget means analysis is skipped."""
    period = budget_period(deps.clock.now())
    used, skipped_ms = deps.tenants.ai_usage(tenant.id, period)
    limit = tenant.limits.ai_monthly_tokens
    return AiUsage(
        planner="configured" if deps.planner_model is not None else "not_configured",
        period=period,
        tokens_used=used,
        tokens_limit=limit,
        over_budget=used >= limit,
        last_skipped_at=from_ms(skipped_ms) if skipped_ms is not None else None,
    )
