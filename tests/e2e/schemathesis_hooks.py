"""Schemathesis hooks for the API fuzz test (loaded through SCHEMATHESIS_HOOKS).

The document marks cron expressions with `format: cron`, a grammar JSON Schema cannot express;
this strategy writes valid ones so the fuzzer can create cron endpoints.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    ranged = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda pair: f"{min(pair)}-{max(pair)}"
    )
    stepped = st.integers(1, high - low).map(lambda step: f"*/{step}")
    return st.one_of(st.just("*"), value, ranged, stepped)


CRON = st.one_of(
    st.sampled_from(["@hourly", "@daily", "*/5 * * * *", "0 9 * * MON-FRI"]),
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(
        " ".join
    ),
)

schemathesis.openapi.format("cron", CRON)


@schemathesis.hook
def filter_body(ctx: schemathesis.HookContext, body: object) -> bool:
    """Skip endpoint bodies with minIntervalMs above maxIntervalMs: JSON Schema cannot relate
    two properties, so the document states this rule in words (and the server answers 400)."""
    if not isinstance(body, dict):
        return True
    low, high = body.get("minIntervalMs"), body.get("maxIntervalMs")
    numbers = (int, float)
    if isinstance(low, numbers) and isinstance(high, numbers) and not isinstance(low, bool):
        return bool(low <= high) or isinstance(high, bool)
    return True
