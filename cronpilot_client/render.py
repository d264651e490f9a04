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
    grid.extend([cell_text(column.cell(row)) for column in columns] for row in rows)
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
    field("STARTED", "startedAt"),
    Column("DURATION", lambda run: format_ms(run.get("durationMs"))),
    field("HTTP", "statusCode"),
    field("ERROR", "errorMessage"),
)
SESSION_COLUMNS = (
    field("ID", "id"),
    field("STATUS", "status"),
    field("ANALYZED", "analyzedAt"),
    field("CONFIDENCE", "confidence"),
    Column("TOOLS", lambda s: ", ".join(s.get("toolsCalled") or [])),
    field("TOKENS", "tokenUsage"),
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
