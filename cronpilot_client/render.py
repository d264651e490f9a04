"""Readable tables and detail views for people; JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cronpilot_client.units import format_ms

MAX_CELL = 48


@dataclass(frozen=True)
class Column:
    """One table column: a header and how to read the cell from a row."""

    header: str
    cell: Callable[[Mapping[str, Any]], Any]
    limit: int = MAX_CELL  # longer cells are cut with an ellipsis


def field(header: str, key: str) -> Column:
    """A column showing one field as is."""
    return Column(header, lambda row: row.get(key))


def to_json(data: Any) -> str:
    """Indented JSON, non-ASCII kept readable."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def cell_text(value: Any, limit: int = MAX_CELL) -> str:
    """A cell: empty for None, compact JSON for structures, one line, cut at `limit`."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Aligned columns with a header line; `(none)` for no rows."""
    if not rows:
        return "(none)"
    grid = [[column.header for column in columns]]
    grid.extend([cell_text(column.cell(row), column.limit) for column in columns] for row in rows)
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in grid
    )


def details(item: Mapping[str, Any]) -> str:
    """Every field on its own line, in the API's order; nested values as indented JSON."""
    if not item:
        return "(empty)"
    width = max(len(key) for key in item)
    lines = []
    for key, value in item.items():
        if isinstance(value, dict | list) and value:
            nested = to_json(value).replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{key.ljust(width)}  {nested}")
        else:
            lines.append(f"{key.ljust(width)}  {cell_text(value, limit=10_000)}")
    return "\n".join(lines)


def schedule(endpoint: Mapping[str, Any]) -> str:
    """`every 1m` or `cron 0 2 * * * (Europe/Paris)`."""
    if endpoint.get("baselineCron"):
        zone = endpoint.get("timezone") or "UTC"
        suffix = "" if zone == "UTC" else f" ({zone})"
        return f"cron {endpoint['baselineCron']}{suffix}"
    return f"every {format_ms(endpoint.get('baselineIntervalMs'))}"


def endpoint_state(endpoint: Mapping[str, Any]) -> str:
    """archived, paused until …, or active."""
    if endpoint.get("archivedAt"):
        return "archived"
    if endpoint.get("pausedUntil"):
        return f"paused until {endpoint['pausedUntil']}"
    return "active"


def hint(endpoint: Mapping[str, Any]) -> str:
    """The AI hint in force, if any."""
    parts = []
    if endpoint.get("aiHintIntervalMs") is not None:
        parts.append(f"every {format_ms(endpoint['aiHintIntervalMs'])}")
    if endpoint.get("aiHintNextRunAt"):
        parts.append(f"once at {endpoint['aiHintNextRunAt']}")
    if parts and endpoint.get("aiHintExpiresAt"):
        parts.append(f"until {endpoint['aiHintExpiresAt']}")
    return " ".join(parts)


def short_id(value: Any, keep: int = 4) -> str:
    """`rfx_ab12…` for `rfx_ab12cd34ef56gh78`: the prefix and the start of the part that tells
    ids apart (for time-ordered ids such as `session_<ms>_<random>`, the random part)."""
    text = str(value or "")
    prefix, found, rest = text.partition("_")
    if not found:
        return text if len(text) <= keep + 2 else text[: keep + 2] + "…"
    distinct = rest.rsplit("_", 1)[-1]
    return text if len(distinct) <= keep else f"{prefix}_{distinct[:keep]}…"


def cause(value: Any) -> str:
    """Why a run happened, in a table cell: `reflex rfx_ab12…`, `oneshot-hint session_wx3c…`,
    `baseline`; empty for runs recorded before causes were."""
    if not isinstance(value, Mapping) or not value.get("kind"):
        return ""
    by = value.get("by")
    if isinstance(by, Mapping) and by.get("id"):
        return f"{value['kind']} {short_id(by['id'])}"
    return str(value["kind"])


def actor(value: Any) -> str:
    """`reflex rfx_…` / `session session_…` / `apiKey key_…` in full, or empty."""
    if not isinstance(value, Mapping) or not value.get("id"):
        return ""
    return f"{value.get('type', '?')} {value['id']}"


def cause_detail(value: Any) -> str:
    """A cause on one line for a detail view: kind, the governor's source, the reason, who."""
    if not isinstance(value, Mapping) or not value.get("kind"):
        return ""
    text = str(value["kind"])
    if value.get("source"):
        text += f" (source {value['source']})"
    if value.get("reason"):
        text += f": {value['reason']}"
    author = actor(value.get("by"))
    return f"{text}; set by {author}" if author else text


# Detail-view fields that read better as one line than as nested JSON (--json is unchanged).
_ONE_LINE: dict[str, Callable[[Any], str]] = {
    "cause": cause_detail,
    "nextRunCause": cause_detail,
    "aiHintSetBy": actor,
    "createdBy": actor,
}


def readable(item: Mapping[str, Any]) -> dict[str, Any]:
    """`item` for a detail view: why a run happened and who set a rule, each on one line."""
    return {
        key: _ONE_LINE[key](value) if key in _ONE_LINE and isinstance(value, Mapping) else value
        for key, value in item.items()
    }


def _scalar_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _clause(clause: Mapping[str, Any]) -> str:
    endpoint = str(clause.get("endpoint", "self"))
    subject = str(clause.get("path", "?"))
    if endpoint != "self":
        # Endpoint ids are 21 random characters with no prefix: the first few tell siblings
        # apart in a table (`reflexes show` has the whole id).
        subject = f"{endpoint[:6]}…:{subject}"
    op = clause.get("op", "?")
    if op == "changed":
        return f"{subject} changed"
    if op == "exists":
        return f"{subject} exists" if clause.get("value", True) else f"{subject} missing"
    return f"{subject} {op} {_scalar_text(clause.get('value'))}"


def condition(when: Any, nested: bool = False) -> str:
    """A reflex condition, compact: `body.ready == true and body.batch_id changed`; a sibling
    endpoint's fields are prefixed with the start of its id."""
    if not isinstance(when, Mapping):
        return cell_text(when)
    for key, joiner in (("all", " and "), ("any", " or ")):
        items = when.get(key)
        if isinstance(items, list):
            text = joiner.join(condition(item, nested=True) for item in items)
            return f"({text})" if nested and len(items) > 1 else text
    return _clause(when)


def action(do: Any) -> str:
    """A reflex action in words: `run now`, `every 10s for 30 min`, `pause until …`."""
    if not isinstance(do, Mapping):
        return cell_text(do)
    name = do.get("action")
    if name == "run_now":
        return "run now"
    if name == "set_interval":
        return f"every {format_ms(do.get('intervalMs'))} for {do.get('forMinutes')} min"
    if name == "pause":
        if do.get("until"):
            return f"pause until {do['until']}"
        return f"pause {do.get('forMinutes')} min"
    if name == "clear_hints":
        return "clear hints"
    return str(name)


JOB_COLUMNS = (
    field("ID", "id"),
    field("NAME", "name"),
    field("STATUS", "status"),
    field("ENDPOINTS", "endpointCount"),
    field("CREATED", "createdAt"),
)
ENDPOINT_COLUMNS = (
    field("ID", "id"),
    field("NAME", "name"),
    Column("SCHEDULE", schedule),
    field("NEXT RUN", "nextRunAt"),
    field("FAILURES", "failureCount"),
    Column("STATE", endpoint_state),
    Column("HINT", hint),
)
RUN_COLUMNS = (
    field("ID", "id"),
    field("STATUS", "status"),
    field("SOURCE", "source"),
    Column("CAUSE", lambda run: cause(run.get("cause"))),
    field("STARTED", "startedAt"),
    Column("DURATION", lambda run: format_ms(run.get("durationMs"))),
    field("HTTP", "statusCode"),
    field("ERROR", "errorMessage"),
)
SESSION_COLUMNS = (
    field("ID", "id"),
    field("STATUS", "status"),
    field("TRIGGER", "trigger"),
    field("ANALYZED", "analyzedAt"),
    field("CONFIDENCE", "confidence"),
    Column("TOOLS", lambda s: ", ".join(s.get("toolsCalled") or [])),
    field("TOKENS", "tokenUsage"),
)
REFLEX_COLUMNS = (
    field("ID", "id"),
    # A condition is the point of a reflex: wider than other cells (`show` has all of it).
    Column("WHEN", lambda r: condition(r.get("when")), limit=80),
    Column("DO", lambda r: action(r.get("do"))),
    Column("COOLDOWN", lambda r: format_ms(r.get("cooldownMs"))),
    Column("EXPIRES", lambda r: r.get("expiresAt") or "never"),
    field("FIRES", "fireCount"),
    field("LAST FIRED", "lastFiredAt"),
    field("ACTIVE", "active"),
)
KEY_COLUMNS = (
    field("ID", "id"),
    field("NAME", "name"),
    field("START", "start"),
    field("CREATED", "createdAt"),
    field("EXPIRES", "expiresAt"),
    field("REVOKED", "revokedAt"),
)
TENANT_COLUMNS = (
    field("ID", "id"),
    field("NAME", "name"),
    field("CREATED", "createdAt"),
    Column("MAX ENDPOINTS", lambda t: (t.get("limits") or {}).get("maxEndpoints")),
    Column("MIN INTERVAL", lambda t: format_ms((t.get("limits") or {}).get("minIntervalMs"))),
)
