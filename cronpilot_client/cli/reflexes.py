"""`cronpilot reflexes ...`: rules the engine applies right after a run, with no model call
(when a condition on the latest answer holds, act on the endpoint)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.domain.reflex_rules import ReflexSpec
from chalicelib.domain.responses import ReflexResponse
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
    json_value,
)
from cronpilot_client.errors import InvalidInput, UsageError
from cronpilot_client.validation import checked_reflex

VERBS = frozenset({"list", "add", "show", "replace", "rm"})
LIST = "/endpoints/{endpoint_id}/reflexes"
ITEM = LIST + "/{reflex_id}"
RULE_FIELDS = tuple(field.alias or name for name, field in ReflexSpec.model_fields.items())
# What `reflexes show --json` adds to a rule: dropped from --rule, so a shown reflex can be
# edited and sent back as it is.
SHOWN_FIELDS = frozenset(
    field.alias or name for name, field in ReflexResponse.model_fields.items()
) - set(RULE_FIELDS)
# --flag dest -> how the flag is typed, for the rule built from flags.
RULE_FLAGS = {
    "when": "--when",
    "do": "--do",
    "reason": "--reason",
    "cooldown": "--cooldown",
    "expires": "--expires",
}
EXAMPLE = (
    "example: cronpilot reflexes add EP --when "
    '\'{"endpoint": "HEALTH_EP", "path": "body.needs_recovery", "op": "==", "value": true}\' '
    '--do \'{"action": "run_now"}\' --reason "Health asks for recovery" --cooldown 5m'
)


def register(subparsers: Any, common: Parser) -> None:
    """Add the `reflexes` group."""
    verbs = add_group(
        subparsers, "reflexes", "Reflexes: act on an endpoint as soon as an answer matches"
    )
    p = add_command(
        verbs, "list", "List an endpoint's reflexes (the default verb)", list_reflexes, common
    )
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p = add_command(verbs, "add", "Add a reflex to an endpoint", add_reflex, common)
    p.epilog = EXAMPLE
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    _rule_options(p)
    p = add_command(verbs, "show", "Show a reflex: rule, author, firings", show_reflex, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("reflex_id", metavar="REFLEX_ID")
    p = add_command(
        verbs,
        "replace",
        "Replace a reflex's rule whole (its firing count and cooldown carry on)",
        replace_reflex,
        common,
    )
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("reflex_id", metavar="REFLEX_ID")
    _rule_options(p)
    p = add_command(verbs, "rm", "Remove a reflex", remove_reflex, common)
    p.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    p.add_argument("reflex_id", metavar="REFLEX_ID")


def _rule_options(p: Parser) -> None:
    p.add_argument(
        "--when",
        type=json_value,
        metavar="JSON",
        help='condition: a clause {"endpoint": "self" or a sibling id, "path", "op", "value"} '
        'or {"all": [...]} / {"any": [...]} of them',
    )
    p.add_argument(
        "--do",
        type=json_value,
        metavar="JSON",
        help='action: {"action": "run_now"}, {"action": "set_interval", "intervalMs": N, '
        '"forMinutes": M}, {"action": "pause", "forMinutes": M} (or "until"), '
        '{"action": "resume"} or {"action": "clear_hints"}',
    )
    p.add_argument("--reason", help="why the rule exists (copied onto each run it causes)")
    p.add_argument(
        "--cooldown",
        type=duration_ms,
        metavar=DURATION_METAVAR,
        help=f"fire at most once per this long (default 1m) {DURATION_NOTE}",
    )
    p.add_argument(
        "--expires", metavar="ISO", help="ISO-8601 instant with a zone after which it stops"
    )
    p.add_argument(
        "--rule",
        metavar="FILE",
        help="the whole rule as a JSON file ('-' reads stdin), instead of the options above",
    )


def _read_rule(ctx: Context, source: str) -> dict[str, Any]:
    """The rule in `source` (a path, or `-` for stdin): a JSON object; UsageError otherwise."""
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else (ctx.cwd / Path(source)).read_text()
    except OSError as exc:
        raise UsageError(f"--rule: cannot read {where} ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--rule: {where} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--rule: {where} must hold a JSON object (the whole rule)")
    unknown = sorted(set(data) - set(RULE_FIELDS) - SHOWN_FIELDS)
    if unknown:
        # The API ignores unknown top-level keys, so a misspelt `cooldown` would silently
        # become the default: refuse it here instead.
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)} in {where}; a rule has "
            f"{', '.join(RULE_FIELDS)}",
            [{"field": name, "message": "unknown field"} for name in unknown],
        )
    return {name: value for name, value in data.items() if name in RULE_FIELDS}


def _rule(ctx: Context) -> dict[str, Any]:
    """The request body, from --rule or from the flags, checked with the API's parser."""
    a = ctx.args
    flags = [flag for dest, flag in RULE_FLAGS.items() if getattr(a, dest) is not None]
    if a.rule is not None:
        if flags:
            raise UsageError(f"--rule gives the whole rule: drop {', '.join(flags)}")
        return checked_reflex(_read_rule(ctx, a.rule))
    missing = [RULE_FLAGS[d] for d in ("when", "do", "reason") if getattr(a, d) is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or give the whole rule with --rule FILE)")
    return checked_reflex(
        given(when=a.when, do=a.do, reason=a.reason, cooldownMs=a.cooldown, expiresAt=a.expires)
    )


def list_reflexes(ctx: Context) -> int:
    """GET /endpoints/{id}/reflexes."""
    answer = ctx.api.get(api_path(LIST, endpoint_id=ctx.args.endpoint_id))
    ctx.show_list(answer["reflexes"], render.REFLEX_COLUMNS, answer)
    return 0


def add_reflex(ctx: Context) -> int:
    """POST /endpoints/{id}/reflexes."""
    body = _rule(ctx)
    ctx.show_item(ctx.api.post(api_path(LIST, endpoint_id=ctx.args.endpoint_id), body))
    return 0


def show_reflex(ctx: Context) -> int:
    """GET /endpoints/{id}/reflexes/{reflexId}."""
    path = api_path(ITEM, endpoint_id=ctx.args.endpoint_id, reflex_id=ctx.args.reflex_id)
    ctx.show_item(ctx.api.get(path))
    return 0


def replace_reflex(ctx: Context) -> int:
    """PUT /endpoints/{id}/reflexes/{reflexId}: the rule is replaced whole."""
    body = _rule(ctx)
    path = api_path(ITEM, endpoint_id=ctx.args.endpoint_id, reflex_id=ctx.args.reflex_id)
    ctx.show_item(ctx.api.put(path, body))
    return 0


def remove_reflex(ctx: Context) -> int:
    """DELETE /endpoints/{id}/reflexes/{reflexId}."""
    a = ctx.args
    ctx.api.delete(api_path(ITEM, endpoint_id=a.endpoint_id, reflex_id=a.reflex_id))
    ctx.done(
        f"Reflex {a.reflex_id} of {a.endpoint_id} removed.",
        deleted=a.reflex_id,
        endpointId=a.endpoint_id,
    )
    return 0
