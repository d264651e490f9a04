"""Large JSON attributes stored compressed.

An analysis session keeps every tool call with its result; a job's sibling states alone can be
a hundred response bodies. Stored as JSON text, the bench workload's sessions were about 188 KB
each, written twice (the table and the byTenant index): 376 write units a session. JSON of
responses compresses several times over, and DynamoDB prices the bytes stored.
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


def pack(value: Any) -> bytes | None:
    """zlib-compressed JSON of `value` when it is large enough to gain; None otherwise."""
    raw = encoded(value)
    if len(raw) < PACK_FROM_BYTES:
        return None
    return zlib.compress(raw, 6)


def unpack(data: bytes) -> Any:
    """The value `pack` stored."""
    return json.loads(zlib.decompress(data))
