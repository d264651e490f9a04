"""What of a response body can be stored on a run. Pure."""

from __future__ import annotations

import json
from typing import Any

# A DynamoDB item holds at most 400 KB; the rest of the run needs some of it.
MAX_STORED_BODY_BYTES = 300 * 1024


def storable(body: Any, already_truncated: bool = False) -> tuple[Any, bool]:
    """The body as stored and whether it was cut: JSON that fits is kept as is; otherwise the
    start of its text is kept."""
    if body is None:
        return None, already_truncated
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    encoded = text.encode()
    if len(encoded) <= MAX_STORED_BODY_BYTES:
        return body, already_truncated
    cut = encoded[:MAX_STORED_BODY_BYTES].decode(errors="ignore")
    return cut, True
