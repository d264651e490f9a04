"""Cutting response bodies down to what a model should read. Pure."""

from __future__ import annotations

import json
from typing import Any

MARK = "...[truncated]"
LATEST_CHARS = 500
SIBLING_CHARS = 400
PREVIEW_CHARS = 200


def compact(value: Any) -> str:
    """Compact JSON text (non-JSON values through str)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def truncate(body: Any, limit: int) -> Any:
    """Strings and JSON values longer than `limit` become their first `limit` chars + a mark;
    shorter ones, numbers, booleans and null are returned as they are."""
    if body is None or isinstance(body, bool | int | float):
        return body
    if isinstance(body, str):
        return body if len(body) <= limit else body[:limit] + MARK
    text = compact(body)
    return body if len(text) <= limit else text[:limit] + MARK


def was_truncated(body: Any, limit: int) -> bool:
    """True when `truncate(body, limit)` cut something."""
    if body is None or isinstance(body, bool | int | float):
        return False
    return len(body if isinstance(body, str) else compact(body)) > limit


def preview(body: Any) -> str | None:
    """A one-line preview of at most PREVIEW_CHARS chars (plus the mark)."""
    if body is None:
        return None
    text = body if isinstance(body, str) else compact(body)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + MARK
