"""Reflex evaluation: does a rule hold on the latest runs, may it fire now. Pure.

Bodies are whatever a third-party server answered, so every step is bounded by the rule, never
by the body: a path walks at most its own segments (no recursion, no scan of an array) and the
hash behind `changed` reads at most DIGEST_BUDGET characters of the value's canonical JSON.

Semantics, chosen so that no information is never a match:
- A path does not resolve when the endpoint never ran (missing or None in `observed`), when a
  run field is unknown (None), when the run had no body (`body` None), or when a segment is
  absent: a missing key, an index past the end, a key on a non-object. A JSON null inside the
  body does resolve, to null.
- On a path that does not resolve every op is false except `exists` with value false.
- No coercion: `"5" > 3` and `true == 1` are false, `1 == 1.0` is true. Ordering compares real
  numbers only (bools are not numbers). An observed NaN makes ==, !=, in and ordering false.
- `!=` holds when the path resolves to anything other than the value (a list or an object
  included); it never holds on a path that does not resolve.
- `changed` compares with the hash recorded at the previous evaluation: the first observation
  is false but recorded. A path that does not resolve is false and keeps the previous hash, so
  A, missing, A is not a change. Every `changed` clause is hashed and recorded on every
  evaluation, even where `all`/`any` short-circuit past it, so a change is always relative to
  the previous evaluation, not to the last time that branch happened to be reached.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from chalicelib.domain.entities import Run
from chalicelib.domain.reflex_rules import (
    ORDERING_OPS,
    SELF,
    AllOf,
    AnyOf,
    Clause,
    ReflexSpec,
    clauses,
    path_segments,
)

# Canonical JSON read for a `changed` hash. Values whose canonical JSON is longer hash their
# first DIGEST_BUDGET characters only: a change beyond them goes unseen.
DIGEST_BUDGET = 64 * 1024
DIGEST_CHARS = 16
# Objects with more keys keep their document order instead of being sorted: sorting a hostile
# million-key object would cost more than the rest of the evaluation.
SORTED_KEYS_MAX = 1_000

_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")
_NOT_FOUND = object()


@dataclass(frozen=True)
class Observed:
    """What is known of one endpoint's latest finished run."""

    status: str
    status_code: int | None
    duration_ms: int | None
    failure_count: int
    body: Any

    @classmethod
    def of(cls, run: Run, failure_count: int) -> Observed:
        """From a finished run and its endpoint's failure count after it settled."""
        return cls(run.status, run.status_code, run.duration_ms, failure_count, run.response_body)


@dataclass(frozen=True)
class Evaluation:
    """Whether the reflex holds, and the `changed` hashes to store for the next evaluation."""

    holds: bool
    seen: dict[str, str]


Segment = tuple[str, int | None]


@lru_cache(maxsize=4096)
def _compiled(path: str) -> tuple[str, tuple[Segment, ...]]:
    # Longer digit runs index no list that fits in memory (and would pass int()'s digit limit).
    root, segments = path_segments(path)
    return root, tuple((s, int(s) if _INDEX.fullmatch(s) else None) for s in segments)


def resolve(observed: Observed | None, path: str) -> tuple[bool, Any]:
    """(True, value) when `path` resolves on the run, else (False, None)."""
    if observed is None:
        return False, None
    root, segments = _compiled(path)
    node: Any
    if root == "status":
        node = observed.status
    elif root == "statusCode":
        node = observed.status_code
    elif root == "durationMs":
        node = observed.duration_ms
    elif root == "failureCount":
        node = observed.failure_count
    else:
        node = observed.body
    if node is None:
        return False, None
    for key, index in segments:
        if isinstance(node, dict):
            # dict.get, not the node's own method or attributes: keys like __class__ are data.
            node = dict.get(node, key, _NOT_FOUND)
            if node is _NOT_FOUND:
                return False, None
        elif isinstance(node, list) and index is not None and index < len(node):
            node = node[index]
        else:
            return False, None
    return True, node


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def same(a: Any, b: Any) -> bool:
    """JSON equality without coercion: bools and numbers never match each other."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _compare(op: str, observed: Any, value: Any) -> bool:
    if not (_number(observed) and _number(value)):
        return False
    # NaN makes every Python ordering false already.
    if op == ">":
        return bool(observed > value)
    if op == ">=":
        return bool(observed >= value)
    if op == "<":
        return bool(observed < value)
    return bool(observed <= value)


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # past Python's int-to-text digit limit; hex has none
        return json.dumps(f"int:{value:x}")


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, int):
        return _int_text(key)
    if isinstance(key, float):
        return _float_text(key)
    return f"<{type(key).__name__}>"


def _float_text(value: float) -> str:
    # JSON has one number type: 1.0 is 1 (as == says, and as JavaScript writes it).
    if value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return json.dumps(value)


def _scalar_text(value: Any, budget: int) -> str | None:
    """The canonical JSON of a scalar (strings cut to the budget); None for containers."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, str):
        return json.dumps(value[:budget])
    if isinstance(value, dict | list | tuple):
        return None
    return json.dumps(f"<{type(value).__name__}>")


def canonical_prefix(value: Any, budget: int = DIGEST_BUDGET) -> tuple[str, bool]:
    """The first `budget` characters of the canonical JSON of `value` (sorted keys, no spaces,
    ASCII, integral floats as integers), and whether it was cut. Iterative: any depth, any
    size, O(budget) work."""
    parts: list[str] = []
    left = budget
    # Entries are (True, literal text) or (False, a value still to encode); popped from the end.
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack and left > 0:
        literal, item = stack.pop()
        if literal:
            text = item
        else:
            scalar = _scalar_text(item, left)
            if scalar is None:
                stack.extend(reversed(_expand(item, left)))
                continue
            text = scalar
        parts.append(text[:left])
        left -= len(text)
    return "".join(parts), bool(stack) or left < 0


def _expand(container: Any, left: int) -> list[tuple[bool, Any]]:
    """The tokens of one container level, stopping at the items that could still fit in
    `left` characters (an item and its comma take two at least, a key and value four)."""
    tokens: list[tuple[bool, Any]]
    if isinstance(container, dict):
        tokens = [(True, "{")]
        items: Any = container.items()
        if len(container) <= SORTED_KEYS_MAX:
            items = sorted(items, key=lambda pair: _key_text(pair[0]))
        for position, (key, item) in enumerate(items):
            if position * 4 > left:
                break
            prefix = "," if position else ""
            tokens.append((True, prefix + json.dumps(_key_text(key)[:left]) + ":"))
            tokens.append((False, item))
        tokens.append((True, "}"))
        return tokens
    tokens = [(True, "[")]
    for position, item in enumerate(container):
        if position * 2 > left:
            break
        if position:
            tokens.append((True, ","))
        tokens.append((False, item))
    tokens.append((True, "]"))
    return tokens


def digest(value: Any) -> str:
    """A short stable hash of a value: sha256 of its canonical JSON, bounded by DIGEST_BUDGET."""
    text, cut = canonical_prefix(value)
    data = text.encode() + (b"\x00cut" if cut else b"")
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def seen_key(endpoint_id: str, path: str) -> str:
    """Where a `changed` clause keeps its last hash (endpoint ids never contain `|`)."""
    return f"{endpoint_id}|{path}"


def _target(clause: Clause, owner_id: str) -> str:
    return owner_id if clause.endpoint == SELF else clause.endpoint


def watched(spec: ReflexSpec, owner_id: str) -> frozenset[str]:
    """The endpoint ids whose runs the reflex reads ("self" is the owner)."""
    return frozenset(_target(clause, owner_id) for clause in clauses(spec.when))


def _clause_holds(
    clause: Clause, owner_id: str, observed: Mapping[str, Observed | None], changed: set[str]
) -> bool:
    target = _target(clause, owner_id)
    if clause.op == "changed":
        return seen_key(target, clause.path) in changed
    found, value = resolve(observed.get(target), clause.path)
    op = clause.op
    if op == "exists":
        return found is clause.value
    if not found or _nan(value):
        return False
    if op == "==":
        return same(value, clause.value)
    if op == "!=":
        return not same(value, clause.value)
    if op == "in":
        return any(same(value, item) for item in clause.value)
    if op in ORDERING_OPS:
        return _compare(op, value, clause.value)
    return False


def _holds(
    condition: AllOf | AnyOf | Clause,
    owner_id: str,
    observed: Mapping[str, Observed | None],
    changed: set[str],
) -> bool:
    if isinstance(condition, AllOf):
        return all(_holds(item, owner_id, observed, changed) for item in condition.all)
    if isinstance(condition, AnyOf):
        return any(_holds(item, owner_id, observed, changed) for item in condition.any)
    return _clause_holds(condition, owner_id, observed, changed)


def evaluate(
    spec: ReflexSpec,
    owner_id: str,
    observed: Mapping[str, Observed | None],
    seen: Mapping[str, str],
) -> Evaluation:
    """Whether `spec.when` holds on the observed runs, with the merged `changed` hashes."""
    merged = dict(seen)
    changed: set[str] = set()
    for clause in clauses(spec.when):
        if clause.op != "changed":
            continue
        target = _target(clause, owner_id)
        key = seen_key(target, clause.path)
        found, value = resolve(observed.get(target), clause.path)
        if not found:
            continue
        now = digest(value)
        previous = seen.get(key)
        if previous is not None and previous != now:
            changed.add(key)
        merged[key] = now
    return Evaluation(_holds(spec.when, owner_id, observed, changed), merged)


def may_fire(
    last_fired_at: datetime | None, cooldown_ms: int, expires_at: datetime | None, now: datetime
) -> bool:
    """True when the reflex has not expired and its cooldown has passed since it last fired."""
    if expires_at is not None and expires_at <= now:
        return False
    if last_fired_at is None:
        return True
    return now - last_fired_at >= timedelta(milliseconds=cooldown_ms)
