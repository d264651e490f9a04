"""What in a response body counts as a signal worth re-planning for. Pure.

Endpoints coordinate through categorical fields (`status`, `load_status`, `needs_recovery`,
`batch_id`, `ready_for_load`, lists of priorities). Numbers and timestamps drift on every run,
so they are left out: a change in them waits for the regular analysis cadence instead of
waking the planner each minute.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

MAX_SIGNAL_TEXT = 80
MAX_LIST_ITEMS = 20


def _timestamp(text: str) -> bool:
    """ISO-8601 instants change every run; plain dates (batch ids) do not."""
    if len(text) < 16 or ("T" not in text and " " not in text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _scalar_signal(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, str) and len(value) <= MAX_SIGNAL_TEXT and not _timestamp(value)


def _signal_value(value: Any) -> tuple[bool, Any]:
    if _scalar_signal(value):
        return True, value
    short_list = isinstance(value, list) and len(value) <= MAX_LIST_ITEMS
    if short_list and all(isinstance(v, str) and _scalar_signal(v) for v in value):
        return True, sorted(value)
    return False, None


def signal_fields(body: Any) -> dict[str, Any]:
    """The categorical fields of a JSON object body, one nesting level deep ("a.b")."""
    if not isinstance(body, dict):
        return {}
    fields: dict[str, Any] = {}
    for key, value in body.items():
        keep, normal = _signal_value(value)
        if keep:
            fields[str(key)] = normal
        elif isinstance(value, dict):
            for inner, inner_value in value.items():
                keep, normal = _signal_value(inner_value)
                if keep:
                    fields[f"{key}.{inner}"] = normal
    return fields


def fingerprint(body: Any) -> str | None:
    """A short stable hash of the body's signal fields; None when the body is not an object."""
    if not isinstance(body, dict):
        return None
    text = json.dumps(signal_fields(body), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
