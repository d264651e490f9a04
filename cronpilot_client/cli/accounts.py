"""Credentials: `keys` (API keys), `signing-key` (request signing), `admin tenants`."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.schemas import ApiKeyCreate, TenantCreate
from cronpilot_client import render
from cronpilot_client.api import api_path
from cronpilot_client.cli.common import (
    DURATION_METAVAR,
    DURATION_NOTE,
    Context,
    Parser,
    add_command,
    add_group,
    duration_ms,
    given,
)
from cronpilot_client.validation import checked_body

KEY_VERBS = frozenset({"list", "create", "revoke"})
SIGNING_VERBS = frozenset({"show", "create", "rotate"})


def register(subparsers: Any, common: Parser) -> None:
    """Add `keys`, `signing-key` and `admin`."""
    verbs = add_group(subparsers, "keys", "API keys of your tenant")
    add_command(verbs, "list", "List API keys (never the keys themselves)", list_keys, common)
    p = add_command(verbs, "create", "Create an API key (shown once)", create_key, common)
    p.add_argument("--name", help="label, e.g. ci")
    p.add_argument("--expires-in-days", type=int, help="lifetime in days (default: never)")
    p = add_command(verbs, "revoke", "Revoke an API key at once", revoke_key, common)
    p.add_argument("key_id", metavar="KEY_ID")

    verbs = add_group(subparsers, "signing-key", "The key Cronpilot signs its requests with")
    add_command(verbs, "show", "Show whether a key exists (the default)", show_signing, common)
    add_command(verbs, "create", "Create the signing key (shown once)", create_signing, common)
    p = add_command(
        verbs,
        "rotate",
        "Replace the signing key; the old one keeps signing alongside for a grace window",
        rotate_signing,
        common,
    )
    p.add_argument(
        "--grace-minutes",
        type=int,
        help="minutes the old key keeps signing alongside (default 1440 = 24 h; 0 = none)",
    )

    admin = add_group(subparsers, "admin", "Operator commands (admin token)")
    tenants = admin.add_parser("tenants", help="Tenants", description="Tenants (admin token)")
    verbs = tenants.add_subparsers(dest="tenants_verb", metavar="VERB", required=True)
    p = add_command(verbs, "create", "Create a tenant and its first API key", create_tenant, common)
    p.add_argument("name", help="tenant name")
    p.add_argument("--id", dest="tenant_id", help="tenant id: lower case, digits, - and _")
    p.add_argument("--tenant-api-key", help="use this first API key (>= 20 characters)")
    p.add_argument("--max-endpoints", type=int, help="endpoint limit")
    p.add_argument(
        "--min-interval",
        type=duration_ms,
        metavar=DURATION_METAVAR,
        help=f"shortest interval allowed {DURATION_NOTE}",
    )
    p.add_argument("--ai-monthly-tokens", type=int, help="AI token budget per month")
    p.add_argument("--mutations-per-minute", type=int, help="write request limit")
    p.add_argument("--reads-per-minute", type=int, help="read request limit")
    add_command(verbs, "list", "List tenants", list_tenants, common)


def list_keys(ctx: Context) -> int:
    """GET /api-keys."""
    answer = ctx.api.get("/api-keys")
    ctx.show_list(answer["apiKeys"], render.KEY_COLUMNS, answer)
    return 0


def create_key(ctx: Context) -> int:
    """POST /api-keys; the raw key is printed once."""
    body = checked_body(
        ApiKeyCreate, given(name=ctx.args.name, expiresInDays=ctx.args.expires_in_days)
    )
    created = ctx.api.post("/api-keys", body)
    ctx.show_item(created)
    if not ctx.as_json:
        ctx.note("Store the key now: it is not shown again.")
    return 0


def revoke_key(ctx: Context) -> int:
    """DELETE /api-keys/{id}."""
    ctx.api.delete(api_path("/api-keys/{id}", id=ctx.args.key_id))
    ctx.done(f"API key {ctx.args.key_id} revoked.", revoked=ctx.args.key_id)
    return 0


def show_signing(ctx: Context) -> int:
    """GET /signing-keys."""
    ctx.show_item(ctx.api.get("/signing-keys"))
    return 0


def create_signing(ctx: Context) -> int:
    """POST /signing-keys."""
    ctx.show_item(ctx.api.post("/signing-keys"))
    if not ctx.as_json:
        ctx.note("Store the raw key now: only create and rotate return it.")
    return 0


def rotate_signing(ctx: Context) -> int:
    """POST /signing-keys/rotate."""
    grace = ctx.args.grace_minutes
    body = None if grace is None else {"graceMinutes": grace}
    rotated = ctx.api.post("/signing-keys/rotate", body)
    ctx.show_item(rotated)
    if not ctx.as_json:
        until = rotated.get("previousKeyExpiresAt") if isinstance(rotated, dict) else None
        if until:
            ctx.note(f"Requests carry signatures from both keys until {until}.")
        else:
            ctx.note("Requests signed with the old key no longer verify.")
    return 0


def create_tenant(ctx: Context) -> int:
    """POST /admin/tenants with the admin token."""
    a = ctx.args
    limits = given(
        maxEndpoints=a.max_endpoints,
        minIntervalMs=a.min_interval,
        aiMonthlyTokens=a.ai_monthly_tokens,
        mutationsPerMinute=a.mutations_per_minute,
        readsPerMinute=a.reads_per_minute,
    )
    fields = given(name=a.name, id=a.tenant_id, apiKey=a.tenant_api_key)
    if limits:
        fields["limits"] = limits
    body = checked_body(TenantCreate, fields)
    created = ctx.api.post("/admin/tenants", body, admin=True)
    if ctx.as_json:
        ctx.show_item(created)
    else:
        ctx.print(render.details(created["tenant"]))
        ctx.print()
        ctx.print(f"API key: {created['apiKey']['key']}")
        ctx.note("Store the key now: it is not shown again.")
    return 0


def list_tenants(ctx: Context) -> int:
    """GET /admin/tenants with the admin token."""
    answer = ctx.api.get("/admin/tenants", admin=True)
    ctx.show_list(answer["tenants"], render.TENANT_COLUMNS, answer)
    return 0
