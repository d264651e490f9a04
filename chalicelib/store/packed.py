"""Large JSON attributes stored compressed: analysis sessions' tool calls, runs' response bodies.

An analysis session keeps every tool call with its result; a job's sibling states alone can be
a hundred response bodies. Stored as JSON text, the bench workload's sessions were about 188 KB
each, written twice (the table and the byTenant index): 376 write units a session. JSON of
responses compresses several times over, and DynamoDB prices the bytes stored. A run's 1 KB
response body with the run's other attributes (about 0.35 KB) is just over the 1 KB of one
write unit; compressed (JSON usually shrinks two to four times), it fits in one.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

# Below this, compression saves less than a write unit and costs a decode on every read.
PACK_FROM_BYTES = 1024


def encoded(value: Any) -> bytes:
    """`value` as compact JSON bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def pack(value: Any, from_bytes: int = PACK_FROM_BYTES) -> bytes | None:
    """zlib-compressed JSON of `value` when it is at least `from_bytes` long and compresses;
    None otherwise (stored as JSON then)."""
    raw = encoded(value)
    if len(raw) < from_bytes:
        return None
    packed = zlib.compress(raw, 6)
    return packed if len(packed) < len(raw) else None


def unpack(data: bytes) -> Any:
    """The value `pack` stored."""
    return json.loads(zlib.decompress(data))
