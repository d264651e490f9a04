"""Schemathesis hooks for the API fuzz test (loaded through SCHEMATHESIS_HOOKS).

The document marks cron expressions with `format: cron`, a grammar JSON Schema cannot express;
this strategy writes valid ones so the fuzzer can create cron endpoints. The body filter
skips bodies that break a rule the document can only state in words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st

from chalicelib.domain.reflex_rules import ORDERING_OPS, tree_fits, value_fits
from chalicelib.domain.timeutil import parse_instant


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
# Alert channel addresses: plain ones the server's email-validator accepts (hypothesis's own
# may use special-use domains such as .arpa, which it refuses on purpose).
schemathesis.openapi.format(
    "email", st.from_regex(r"[a-z][a-z0-9]{0,10}@(example|mail)\.com", fullmatch=True)
)


@schemathesis.hook
def filter_body(ctx: schemathesis.HookContext, body: object) -> bool:
    """Skip endpoint bodies with minIntervalMs above maxIntervalMs: JSON Schema cannot relate
    two properties, so the document states this rule in words (and the server answers 400)."""
    if not isinstance(body, dict):
        return True
    if "when" in body and "do" in body and not _reflex_in_words(body):
        return False
    low, high = body.get("minIntervalMs"), body.get("maxIntervalMs")
    numbers = (int, float)
    if isinstance(low, numbers) and isinstance(high, numbers) and not isinstance(low, bool):
        return bool(low <= high) or isinstance(high, bool)
    return True


def _clauses(node: Any) -> list[dict[str, Any]]:
    """Every clause of a reflex condition, as sent."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        group = item.get("all", item.get("any"))
        if isinstance(group, list):
            stack.extend(group)
        else:
            found.append(item)
    return found


def _reflex_in_words(body: dict[str, Any]) -> bool:
    """A reflex body keeps the rules the document states in words: each clause's value fits
    its operator (ordering operators compare numbers, and not `status`), and a person's
    `expiresAt` lies ahead (the server answers 400 otherwise)."""
    if not tree_fits(body.get("when")):
        return False
    for clause in _clauses(body.get("when")):
        op = clause.get("op")
        if isinstance(op, str) and not value_fits(op, clause.get("value"), "value" in clause):
            return False
        if op in ORDERING_OPS and clause.get("path") == "status":
            return False
    expires = body.get("expiresAt")
    if isinstance(expires, str):
        try:
            return parse_instant(expires) > datetime.now(UTC)
        except ValueError:
            return True
    return True
